"""The committed reference labs under labs/ are exactly what their lab.yaml renders to."""

from __future__ import annotations

from pathlib import Path

import pytest

from labgen.render.plan import plan_lab
from labgen.render.write import STATE_DIRS, with_manifest
from labgen.spec.parse import load_spec

LABS = Path(__file__).resolve().parent.parent.parent / "labs"
LAB_DIRS = sorted(p.parent for p in LABS.glob("*/lab.yaml"))
FIX = "the reference labs are out of date: run `make labs` and commit the result"


def test_reference_labs_exist() -> None:
    names = {lab.name for lab in LAB_DIRS}
    assert {"registry-lab", "registry-lab-solved", "registry-lab-secure"} <= names, (
        f"labs/ holds only {names}"
    )


def test_reference_labs_specs() -> None:
    student, _ = load_spec(LABS / "registry-lab" / "lab.yaml")
    solved, _ = load_spec(LABS / "registry-lab-solved" / "lab.yaml")
    default, _ = load_spec(None)
    assert student == default
    assert solved.mode == "solved"
    assert solved.name == "registry-lab-solved"
    assert solved.hosts == default.hosts


def _files_on_disk(lab: Path) -> dict[str, Path]:
    return {
        path.relative_to(lab).as_posix(): path
        for path in lab.rglob("*")
        if path.is_file() and path.relative_to(lab).parts[0] not in STATE_DIRS
    }


@pytest.mark.parametrize("lab", LAB_DIRS, ids=[lab.name for lab in LAB_DIRS])
def test_lab_folder_is_what_its_spec_renders(lab: Path) -> None:
    spec, _ = load_spec(lab / "lab.yaml")
    assert spec.name == lab.name, f"{lab}/lab.yaml names {spec.name!r}; {FIX}"
    planned = {file.path.as_posix(): file for file in with_manifest(plan_lab(spec))}
    on_disk = _files_on_disk(lab)
    assert sorted(on_disk) == sorted(planned), f"{lab.name}: the file lists differ; {FIX}"
    for name, file in planned.items():
        path = on_disk[name]
        assert path.read_text(encoding="utf-8") == file.content, f"{lab.name}/{name}: {FIX}"
        executable = bool(path.stat().st_mode & 0o111)
        assert executable == file.executable, f"{lab.name}/{name}: executable bit; {FIX}"
