"""Helpers shared by the test folders (imported as `helpers`; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import shutil
import subprocess
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


def open_in_chromium(
    page: Path, out: Path, width: int = 1000, height: int = 1400
) -> tuple[str, Path]:
    """Open `page` in headless Chromium as a person would: the DOM it built, and a screenshot.

    Fails when the browser logs a console error (the pages labgen writes need no script)."""
    browser = tool_or_skip("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    flags += ["--enable-logging=stderr", "--v=0", f"--window-size={width},{height}"]
    shot = out / f"{page.stem}.png"
    taken = subprocess.run(
        [browser, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dumped = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for done in (taken, dumped):
        assert done.returncode == 0, done.stderr[-2000:]
        console = [
            line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
        ]
        assert not console, console
    assert shot.stat().st_size > 10_000, "the screenshot is blank"
    return dumped.stdout, shot
