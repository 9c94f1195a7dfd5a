"""The small interface every backend implements, and what it returns."""

from __future__ import annotations

import dataclasses
import re
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
    # Why the command could not be run on the host to its end (the way to the host failed,
    # it timed out, it was interrupted), in one line; "" when it ran, whatever its exit code.
    error: str = ""

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


def run_process(
    argv: Sequence[str], timeout: float, cwd: Path | None = None, stdin: str | None = None
) -> ExecResult:
    """Run a local process with a timeout, keeping exit code, stdout and stderr. `stdin`
    is fed to it (else it reads nothing): a script sent this way never shows in `ps`."""
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
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as expired:
        return ExecResult(
            exit_code=124,
            stdout=_text(expired.stdout),
            stderr=_text(expired.stderr) + f"\nlabgen: timed out after {timeout:g} s",
            duration=time.monotonic() - start,
            timed_out=True,
            error=f"no answer within {timeout:g} s",
        )
    except FileNotFoundError:
        return ExecResult(
            127,
            "",
            f"{argv[0]}: command not found",
            time.monotonic() - start,
            error=f"{argv[0]} is not installed here",
        )
    error = f"stopped by signal {-done.returncode}" if done.returncode < 0 else ""
    return ExecResult(
        done.returncode, done.stdout, done.stderr, time.monotonic() - start, error=error
    )


# A script sent on stdin is wrapped so that its end can be told from the way to the host
# failing: the host's shell writes START before and END with the exit code after it (on
# stderr, END on a line of its own even after output without a final newline; `unwrap`
# removes both). The script runs in a subshell (its own `exit` ends only that) with stdin
# from /dev/null, as `sh -c` would give it nothing to read: a command in it that reads
# stdin must not swallow the rest of the script.
START = "@labgen-start"
END = "@labgen-end"
_END_LINE = re.compile(rf"\n{END} [0-9]+\n")


def wrap(script: str) -> str:
    """`script` as the text a host's shell reads on stdin (see START)."""
    return (
        f"printf '%s\\n' {START} >&2\n(\n{script}\n) </dev/null\n"
        f'set -- $?\nprintf \'\\n%s %s\\n\' {END} "$1" >&2\nexit "$1"\n'
    )


def unwrap(result: ExecResult, host: str, way: str) -> ExecResult:
    """`result` of a wrapped script without the markers, with `error` saying why when the
    script did not run to its end on `host` (`way`: how labgen reaches it, for the text)."""
    stderr = result.stderr
    before, marker, after = stderr.partition(START + "\n")
    started = bool(marker) and (not before or before.endswith("\n"))
    if started:  # what came before is the tool's own (a compose warning)
        stderr = before + after
    ends = list(_END_LINE.finditer(stderr))
    if ends:
        stderr = stderr[: ends[-1].start()] + stderr[ends[-1].end() :]
    error = result.error
    if not error and not ends:
        last = [line.strip() for line in stderr.splitlines() if line.strip()][-1:] or ["no output"]
        reason = f"exit {result.exit_code}: {last[0][:200]}"
        if started:
            error = f"{way} to {host} ended before the command did ({reason})"
        else:
            error = f"{way} could not run the command on {host} ({reason})"
    return dataclasses.replace(result, stderr=stderr, error=error)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def last_line(text: str) -> str:
    """The last non-blank line of a command's output, for one-line errors."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
