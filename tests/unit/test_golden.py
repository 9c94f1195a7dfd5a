"""Golden files: the whole rendered lab folder of a few specs, byte for byte.

The default spec's golden copy is the reference lab labs/registry-lab (test_labs.py).

After an intended template change: `make golden` (pytest --update-golden), then review the diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labgen.render.plan import plan_lab
from labgen.render.write import MANIFEST, STATE_DIRS, write_lab
from labgen.spec.parse import load_spec

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "spec.yaml").is_file())
FIX = "if the change is intended, run `make golden` and review the diff"


def tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Relative path → (content, executable) of every file under root, but for the run-time
    state a live lab keeps there (`vagrant up` in labs/registry-lab writes .vagrant/)."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), bool(path.stat().st_mode & 0o111))
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] not in STATE_DIRS
    }


def render(case: str, out: Path) -> Path:
    spec, _ = load_spec(GOLDEN / case / "spec.yaml")
    write_lab(plan_lab(spec), out, force=False)
    return out


def test_golden_cases_exist() -> None:
    assert set(CASES) >= {"solved-mirror-qemu", "three-hosts-5050"}


@pytest.mark.parametrize("case", CASES)
def test_rendered_folder_matches_golden(case: str, tmp_path: Path, update_golden: bool) -> None:
    rendered = render(case, tmp_path / "lab")
    expected_dir = GOLDEN / case / "expected"
    if update_golden:
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(rendered, expected_dir)  # copies the modes (executable bit) too
        return
    assert expected_dir.is_dir(), f"{expected_dir} is missing; run `make golden`"
    actual, expected = tree(rendered), tree(expected_dir)
    assert sorted(actual) == sorted(expected), f"the files differ; {FIX}"
    for name, (content, executable) in expected.items():
        assert actual[name][0].decode() == content.decode(), f"{name} differs; {FIX}"
        assert actual[name][1] == executable, f"{name}: executable bit differs; {FIX}"


def test_reference_lab_is_the_tutorials_lab() -> None:
    """The default spec renders the tutorial's lab: 12 files and the list of them, scripts
    executable."""
    files = tree(GOLDEN.parent.parent / "labs" / "registry-lab")
    assert len(files) == 13
    listed = files[MANIFEST][0].decode().splitlines()
    assert [line for line in listed if not line.startswith("#")] == sorted(set(files) - {MANIFEST})
    executable = {name for name, (_, x) in files.items() if x}
    assert executable == {
        "provision/node.sh",
        "provision/registry.sh",
        "provision/client.sh",
        "node/boot.sh",
        "node/systemctl",
    }


def test_tree_ignores_a_live_labs_state(tmp_path: Path) -> None:
    lab = render("three-hosts-5050", tmp_path / "lab")
    before = tree(lab)
    for state in (".vagrant/machines/registry/libvirt/id", ".labgen/state.json"):
        (lab / state).parent.mkdir(parents=True)
        (lab / state).write_text("x", encoding="utf-8")
    assert tree(lab) == before
