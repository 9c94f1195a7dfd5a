"""Layers only look down: spec → steps → render → backends → check; the class layer and
the matrix sit on top, and nothing below them may name them. kube (a class's Kubernetes
objects as plain data) sits below the pod backend that applies them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "generator" / "labgen"
# What each layer must never import (labgen.X prefixes).
FORBIDDEN = {
    "spec": ("steps", "render", "backends", "check", "classroom", "matrix"),
    "steps": ("render", "backends", "check", "classroom", "matrix"),
    "render": ("backends", "check", "classroom", "matrix"),
    "kube": ("steps", "render", "backends", "check", "classroom", "matrix"),
    "backends": ("render", "check", "classroom", "matrix"),
    "check": ("render", "classroom", "matrix"),
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    files = sorted((PACKAGE / layer).glob("*.py"))
    assert files, f"no layer {layer}"
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in sorted(imported(path))
        for above in FORBIDDEN[layer]
        if name == f"labgen.{above}" or name.startswith(f"labgen.{above}.")
    ]
    assert wrong == []
