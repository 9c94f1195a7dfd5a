"""The small interface every backend implements, and what it returns."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from labgen.spec.model import Engine, Host

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExecResult:
    """One command run on a lab host."""

    exit_code: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


@dataclass(frozen=True)
class HostStatus:
    host: str
    state: str  # running, stopped, not created, ...
    engine: bool  # the host's engine (Docker or podman) answers


# A command that succeeds when the host's engine works (podman has no daemon to ask).
ENGINE_ANSWERS: dict[Engine, str] = {
    "docker": "docker info >/dev/null 2>&1",
    "podman": "podman info >/dev/null 2>&1",
}
ENGINE_NAMES: dict[Engine, str] = {"docker": "Docker", "podman": "podman"}


def ready_command(host: Host) -> str:
    """Succeeds once the host's provisioning has finished and its engine answers."""
    return f"test -f /run/labgen/provisioned && {ENGINE_ANSWERS[host.engine]}"


class Backend(Protocol):
    name: str

    def up(self, progress: Progress) -> None:
        """Create and start every host, and wait until each one's engine answers."""

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        """Run a shell command on `host` as the lab's user; never raises on failure."""

    def status(self) -> list[HostStatus]: ...

    def down(self, progress: Progress) -> None:
        """Stop and remove every host and what the backend created for them."""


def host_statuses(
    backend: Backend, hosts: Sequence[Host], states: dict[str, str]
) -> list[HostStatus]:
    """Each host's state as its backend names it, and whether its engine answers."""
    return [
        HostStatus(
            host=host.name,
            state=states.get(host.name, "not created"),
            engine=states.get(host.name) == "running"
            and backend.exec(host.name, ENGINE_ANSWERS[host.engine], 60).exit_code == 0,
        )
        for host in hosts
    ]


def run_process(argv: Sequence[str], timeout: float, cwd: Path | None = None) -> ExecResult:
    """Run a local process with a timeout, keeping exit code, stdout and stderr."""
    start = time.monotonic()
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",  # a tool's stray non-UTF-8 byte must not crash labgen
            timeout=timeout,
            cwd=cwd,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as expired:
        return ExecResult(
            exit_code=124,
            stdout=_text(expired.stdout),
            stderr=_text(expired.stderr) + f"\nlabgen: timed out after {timeout:g} s",
            duration=time.monotonic() - start,
            timed_out=True,
        )
    except FileNotFoundError:
        return ExecResult(127, "", f"{argv[0]}: command not found", time.monotonic() - start)
    return ExecResult(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
