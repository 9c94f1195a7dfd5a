"""Helpers shared by the test folders (imported as `helpers`; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
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


OFFLINE = [
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-pings",
    "--proxy-server=127.0.0.1:9",  # should anything still try: loopback, refused
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


@cache
def own_network_namespace() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    return (
        subprocess.run([unshare, "--net", "true"], capture_output=True, check=False).returncode == 0
    )


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        tool_or_skip("chromium"),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *OFFLINE,
        *args,
        page.resolve().as_uri(),
    ]
    if own_network_namespace():
        argv = ["unshare", "--net", *argv]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console, as chromium logs it (`...:CONSOLE(1)] "..."`).

    Chromium's own notes are about the browser, not the page, and are left out: its
    "[Intervention]"s (e.g. "Slow network is detected" when a loaded machine is slow to
    read a local font), and whatever its own chrome:// pages log."""
    return [
        line
        for line in stderr.splitlines()
        if ("CONSOLE" in line or "Uncaught" in line)
        and "[Intervention]" not in line
        and "source: chrome://" not in line
    ]


def open_in_chromium(
    page: Path, out: Path, width: int = 1000, height: int = 1400
) -> tuple[str, Path]:
    """Open `page` in headless Chromium as a person would: the DOM it built, and a screenshot.

    Fails when the browser logs a console message (the pages labgen writes need no script)."""
    shot = out / f"{page.stem}.png"
    size = f"--window-size={width},{height}"
    taken = chromium(page, out, "--hide-scrollbars", size, f"--screenshot={shot}")
    dumped = chromium(page, out, "--hide-scrollbars", size, "--dump-dom")
    for done in (taken, dumped):
        console = console_messages(done.stderr)
        assert not console, console
    assert shot.stat().st_size > 10_000, "the screenshot is blank"
    return dumped.stdout, shot


def run_with_stub_docker(
    tmp_path: Path, sh: str, docker_body: str, command: str
) -> subprocess.CompletedProcess[str]:
    """Run `command` in a real sh whose PATH finds a stand-in `docker` (a sh script body)."""
    stub = tmp_path / "docker"
    stub.write_text(f"#!/bin/sh\n{docker_body}\n")
    stub.chmod(0o755)
    return subprocess.run(
        [sh, "-c", command],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
