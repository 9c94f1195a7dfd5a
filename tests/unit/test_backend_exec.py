"""How a command reaches a host: on stdin (never in argv), and told apart from the way to
the host failing, in a real sh."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from labgen.backends import compose
from labgen.backends.base import ExecResult, run_process, unwrap, wrap
from labgen.lab import Lab
from labgen.spec.parse import parse_spec


def in_sh(script: str, timeout: float = 10) -> ExecResult:
    """The wrapped script read by a real sh on stdin, as a host's shell reads it."""
    return unwrap(run_process(["sh"], timeout, stdin=wrap(script)), "node", "test")


def test_a_command_that_ran_keeps_its_exit_code_and_output() -> None:
    done = in_sh("echo out; echo err >&2; exit 3")
    assert (done.exit_code, done.stdout, done.stderr, done.error) == (3, "out\n", "err\n", "")
    assert in_sh("false").exit_code == 1 and in_sh("false").error == ""
    assert in_sh("exit 255").error == ""  # a command's 255 is not ssh's


def test_a_command_reading_stdin_cannot_swallow_the_script() -> None:
    done = in_sh("cat; read line || echo nothing-to-read")
    assert (done.exit_code, done.stdout, done.error) == (0, "nothing-to-read\n", "")


def test_the_host_shell_dying_mid_command_is_an_error() -> None:
    # As ssh answers when the VM dies under a command: the remote shell is gone, exit 255.
    ran = run_process(["sh", "-c", "sh; exit 255"], 10, stdin=wrap("echo started; kill -KILL $$"))
    done = unwrap(ran, "node", "ssh")
    assert done.stdout == "started\n"
    assert done.error.startswith("ssh to node ended before the command did (exit 255")


def test_never_entering_the_host_is_an_error() -> None:
    # What `docker compose exec` does for a stopped node: it says so and runs nothing.
    refused = run_process(
        ["sh", "-c", "cat >/dev/null; echo 'service \"node\" is not running' >&2; exit 1"],
        10,
        stdin=wrap("true"),
    )
    done = unwrap(refused, "node", "docker compose exec")
    assert done.error == (
        'docker compose exec could not run the command on node (exit 1: service "node" is not running)'
    )


def test_timeout_and_signals_are_errors() -> None:
    assert in_sh("sleep 5", timeout=0.5).error == "no answer within 0.5 s"
    killed = run_process(["sh", "-c", "kill -INT $$"], 10)
    assert killed.error == "stopped by signal 2"


def test_compose_sends_the_command_on_stdin_never_in_argv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[list[str], str | None]] = []

    def fake(
        argv: Sequence[str], timeout: float, cwd: Path | None = None, stdin: str | None = None
    ) -> ExecResult:
        calls.append((list(argv), stdin))
        return run_process(["sh"], timeout, stdin=stdin)  # the node's sh, here

    monkeypatch.setattr(compose, "run_process", fake)
    backend = compose.ComposeBackend(Lab(tmp_path, parse_spec({})[0]), [])
    done = backend.exec("client", "echo s3cret-pass | wc -c", 5)
    assert (done.exit_code, done.stdout.strip(), done.error) == (0, "12", "")
    ((argv, stdin),) = calls
    assert argv[-4:] == ["exec", "-T", "client", "sh"]
    assert not any("s3cret" in arg for arg in argv) and stdin and "s3cret-pass" in stdin
