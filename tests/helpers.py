"""Helpers shared by the test folders (imported as `helpers`; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The whole tutorial lives beside the repository (shared/seed); the lines the tests need are
# kept in the repository, so those tests run on any checkout.
SEED_POST = REPO_ROOT.parent / "shared" / "seed" / "private-registry-tutorial-part1.zh.md"
SEED_EXCERPT = REPO_ROOT / "tests" / "data" / "seed-excerpt.zh.md"


def tool_or_skip(name: str) -> str:
    """The path of an external tool. Missing: skip locally, fail under CI (CI installs all)."""
    path = shutil.which(name)
    if path is None:
        missing(f"`{name}` is not installed")
    return str(path)


def missing(reason: str) -> None:
    """Skip locally, but fail when the CI env var is set: CI must run every tool check."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI is set: CI must install it")
    pytest.skip(reason)
