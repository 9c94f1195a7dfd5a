"""Layers only look down: spec → steps → render → backends → check; the class layer and
the matrix sit on top, and nothing below them may name them.

The top-level modules have their places too:
- errors, atomic: the floor; they import nothing of labgen.
- lab: a rendered lab folder (its spec and state); backends may use it.
- commands: `labgen create`'s work: spec and render, never a live lab.
- live: the live-lab commands (up, check, status, down): backends and check, never render.
- submit: grade a live lab and write a submission (live's pieces), never the class layer.
- doctor: what this machine can run: backends' probes, never a lab.
- cli: the top; it may import anything, and only it names the command modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "generator" / "labgen"
LAYERS = ("spec", "steps", "render", "backends", "check", "classroom", "matrix")
MODULES = ("errors", "atomic", "lab", "commands", "live", "submit", "doctor", "cli")
# What each package or top-level module must never import (labgen.X prefixes).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "spec": ("steps", "render", "backends", "check", "classroom", "matrix", "lab", "live"),
    "steps": ("render", "backends", "check", "classroom", "matrix", "lab", "live"),
    "render": ("backends", "check", "classroom", "matrix", "lab", "live"),
    "backends": ("render", "check", "classroom", "matrix", "live", "commands", "submit"),
    "check": ("render", "classroom", "matrix", "live", "commands", "submit"),
    "classroom": ("matrix", "cli", "doctor"),
    "matrix": ("classroom", "cli", "commands", "doctor"),
    "errors": LAYERS + MODULES,
    "atomic": LAYERS + MODULES,
    "lab": ("steps", "render", "backends", "check", "classroom", "matrix", "live", "cli"),
    "commands": ("backends", "check", "classroom", "matrix", "live", "submit", "doctor", "cli"),
    "live": ("render", "classroom", "matrix", "commands", "submit", "doctor", "cli"),
    "submit": ("render", "classroom", "matrix", "commands", "doctor", "cli"),
    "doctor": ("render", "check", "classroom", "matrix", "lab", "live", "commands", "cli"),
    "cli": (),
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # `from labgen import x` names the module labgen.x
            if node.module == "labgen":
                names.update(f"labgen.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def files_of(part: str) -> list[Path]:
    if part in MODULES:
        return [PACKAGE / f"{part}.py"]
    return sorted((PACKAGE / part).glob("*.py"))


def test_every_module_has_a_place() -> None:
    assert set(FORBIDDEN) == {*LAYERS, *MODULES}
    top = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top == set(MODULES), "a new top-level module: give it a place in FORBIDDEN"
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages - {"scenarios"} == set(LAYERS)


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_a_part_imports_nothing_above_it(part: str) -> None:
    files = files_of(part)
    assert files and all(path.is_file() for path in files), f"no {part}"
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in sorted(imported(path))
        for above in FORBIDDEN[part]
        if name == f"labgen.{above}" or name.startswith(f"labgen.{above}.")
    ]
    assert wrong == []


def test_no_module_is_imported_under_another_modules_name() -> None:
    # `from labgen.check import report as check_report` shadowed the render package for a reader.
    names = set(LAYERS) | set(MODULES)
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom | ast.Import):
                for alias in node.names:
                    if alias.asname in names and alias.asname != alias.name:
                        wrong.append(f"{path.relative_to(PACKAGE)}: {alias.name} as {alias.asname}")
    assert wrong == []
