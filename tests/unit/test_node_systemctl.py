"""The compose nodes' `systemctl` stand-in returns from `restart docker` only once the
engine answers, as systemd does for docker.service (Type=notify): the tutorial's next
command must not meet "Cannot connect to the Docker daemon" on compose when it does not
on a VM."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest


@pytest.fixture
def systemctl(tmp_path: Path, require_tool: Callable[[str], str]) -> Callable[..., list[str]]:
    """systemctl(*args, answers_after=N) runs the stand-in with a `service` that logs and a
    `docker info` that answers from its Nth call on → the calls, in order."""
    shim = resources.files("labgen.templates").joinpath("node", "systemctl").read_text()
    script = tmp_path / "systemctl"
    script.write_text(shim)
    calls = tmp_path / "calls"
    count = tmp_path / "count"
    (tmp_path / "service").write_text(f'#!/bin/sh\necho "service $*" >>{calls}\n')
    (tmp_path / "docker").write_text(
        f'#!/bin/sh\necho "docker $*" >>{calls}\necho x >>{count}\n'
        f'[ "$(wc -l <{count})" -ge "$ANSWERS_AFTER" ]\n'
    )
    for name in ("service", "docker"):
        (tmp_path / name).chmod(0o755)

    def run(*args: str, answers_after: int = 1) -> list[str]:
        calls.unlink(missing_ok=True)
        count.unlink(missing_ok=True)
        done = subprocess.run(
            [require_tool("sh"), str(script), *args],
            env={"PATH": f"{tmp_path}:/usr/bin:/bin", "ANSWERS_AFTER": str(answers_after)},
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return calls.read_text().splitlines()

    return run


@pytest.mark.parametrize("action", ["restart", "start"])
def test_docker_restart_returns_once_the_engine_answers(
    systemctl: Callable[..., list[str]], action: str
) -> None:
    calls = systemctl(action, "docker.service", answers_after=3)
    assert calls == [f"service docker {action}", "docker info", "docker info", "docker info"]


def test_other_services_and_actions_do_not_wait(systemctl: Callable[..., list[str]]) -> None:
    assert systemctl("restart", "ssh") == ["service ssh restart"]
    assert systemctl("stop", "docker") == ["service docker stop"]
