"""Constants and helpers shared by the end-to-end tests."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labgen.backends.base import ExecResult
from labgen.classroom.model import Seat

# LABGEN_SANDBOX=NAME runs the tests on a separate sandbox instance (see sandbox/engine.sh).
SANDBOX = os.environ.get("LABGEN_SANDBOX", "sbx")
SANDBOX_RUN = "/run/labgen-sandbox" if SANDBOX == "sbx" else f"/run/labgen-{SANDBOX}-sandbox"
SANDBOX_NETNS = f"labgen-{SANDBOX}"
SOCKET = f"unix://{SANDBOX_RUN}/docker.sock"
MIRROR = "http://192.168.56.1:5555"
RUNTIME = "labgen-runc"
LABGEN = str(Path(sys.executable).with_name("labgen"))


def labgen(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `labgen` command as a user would."""
    return subprocess.run(
        [LABGEN, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
    )


# What `labgen check --mode solve` reports for the default lab on real Docker 20.10, on
# either backend: the post's two failures seen, two documented deviations, the rest pass.
SOLVE_STATUSES = {
    ("pull-lan-before-config", "client"): "expected-failure",
    ("pull-lan-after-config", "client"): "deviation",
    ("push-lan-untagged", "registry"): "deviation",
}


def solve_statuses(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(step, host) → status, for every step of a JSON check report that did not pass."""
    return {(r["id"], r["host"]): r["status"] for r in report["results"] if r["status"] != "pass"}


# The same for part 2 (scenario: secure) on Docker 20.10 with registry:2 (distribution 2.8):
# the documentation's failures seen with their real words, one documented deviation.
SECURE_SOLVE_STATUSES = {
    ("htpasswd-registry-image", "registry"): "deviation",
    ("pull-cn-only", "client"): "expected-failure",
    ("pull-dns-only", "client"): "expected-failure",
    ("pull-untrusted", "client"): "expected-failure",
    ("pull-no-login", "client"): "expected-failure",
    ("push-no-login", "registry"): "expected-failure",
    ("login-wrong", "registry"): "expected-failure",
    ("login-wrong", "client"): "expected-failure",
}


SSH_OPTIONS = [
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no",
    "-o", "PreferredAuthentications=password",
]  # fmt: skip
# ssh sends the client's LANG and LC_* (Debian's SendEnv): none here, so the box's own
# locale is what is tested, whatever the machine running the tests has set.
CLIENT_ENV = {k: v for k, v in os.environ.items() if k != "LANG" and not k.startswith("LC_")}


class StudentShell:
    """What a student types: their own ssh command to their seat's port on 127.0.0.1 (in
    `netns` for the sandbox's boxes; VMs listen in the main namespace), then `lab HOST CMD`."""

    name = "ssh"

    def __init__(self, seat: Seat, password: str | None = None, netns: str | None = None):
        self.seat = seat
        self.password = password or seat.password
        self.netns = netns

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        return self.login(f"lab {host} {shlex.quote(command)}", timeout)

    def login(self, remote: str, timeout: float = 60) -> ExecResult:
        argv = ["ip", "netns", "exec", self.netns] if self.netns else []
        argv += ["sshpass", "-e", "ssh", "-p", str(self.seat.ssh_port), *SSH_OPTIONS]
        start = time.monotonic()
        done = subprocess.run(
            [*argv, f"{self.seat.student}@127.0.0.1", remote],
            env={**CLIENT_ENV, "SSHPASS": self.password},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return ExecResult(done.returncode, done.stdout, done.stderr, time.monotonic() - start)
