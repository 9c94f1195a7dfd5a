"""Golden class folders: everything `plan_class` makes from a fixed class spec and seed, file
by file (content, and whether it is private or executable), as the labs' golden tests do.

After an intended change: `make golden` (pytest --update-golden), then review the diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labgen.classroom.create import plan_class
from labgen.classroom.spec import load_class

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "class.yaml").is_file())
SEED = "5eed" * 16
MODES = "modes.txt"  # git keeps no 0600: the private and executable files are listed here
FIX = "if the change is intended, run `make golden` and review the diff"


def planned(case: str) -> tuple[dict[str, str], str]:
    """Each file's content by path, and the listing of their modes."""
    classroom, _ = load_class(GOLDEN / case / "class.yaml")
    files = plan_class(classroom, SEED)
    modes = "".join(
        f"{file.path.as_posix()} {'private' if file.private else 'executable'}\n"
        for file in files
        if file.private or file.executable
    )
    return {file.path.as_posix(): file.content for file in files}, modes


def test_golden_class_cases_exist() -> None:
    assert CASES == ["class-byod", "class-hosted"]


@pytest.mark.parametrize("case", CASES)
def test_class_folder_matches_golden(case: str, update_golden: bool) -> None:
    files, modes = planned(case)
    expected_dir = GOLDEN / case / "expected"
    if update_golden:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for name, content in files.items():
            (expected_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / name).write_text(content, encoding="utf-8")
        (GOLDEN / case / MODES).write_text(modes, encoding="utf-8")
        return
    assert expected_dir.is_dir(), f"{expected_dir} is missing; run `make golden`"
    expected = {
        path.relative_to(expected_dir).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(expected_dir.rglob("*"))
        if path.is_file()
    }
    assert sorted(files) == sorted(expected), f"the files differ; {FIX}"
    for name, content in expected.items():
        assert files[name] == content, f"{name} differs; {FIX}"
    assert modes == (GOLDEN / case / MODES).read_text(encoding="utf-8"), f"{MODES}: {FIX}"
