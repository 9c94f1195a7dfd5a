"""The vagrant backend: each lab host is a VM of the lab's Vagrantfile.

Lifecycle (up, status, destroy) goes through python-vagrant; `vagrant up` brings the
machines up in parallel where the provider allows it (libvirt does, VirtualBox
serialises). Commands on a host go through labgen.backends.vmssh: OpenSSH over one
multiplexed connection per host, falling back to plain ssh, then to
`vagrant ssh HOST -c CMD` (not python-vagrant's ssh(), which returns stdout only and,
on some versions, swallows a non-zero exit).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shlex
import subprocess
from collections.abc import Iterator
from typing import Any

from labgen.backends.base import (
    ENGINE_NAMES,
    ExecResult,
    HostStatus,
    Progress,
    host_statuses,
    ready_command,
    run_process,
)
from labgen.backends.vmssh import Note, VmShell
from labgen.errors import LabgenError
from labgen.lab import Lab
from labgen.spec.rules import vm_provision_args

# `vagrant up` prints "==> registry: Booting VM..."; these lines name machine and stage
# (its indented detail lines, "==> registry:  -- Graphics Port: ...", are left out).
STAGE_LINE = re.compile(r"^==> (?P<host>[\w.-]+): (?P<stage>\S.*)$")
# Where provisioning installs provision/node.sh on each VM (and runs it from again).
INSTALLED_NODE = "/usr/local/sbin/labgen-node"


class VagrantBackend:
    name = "vagrant"

    def __init__(
        self,
        lab: Lab,
        provider: str | None,
        *,
        note: Note | None = None,
        exec_route: str | None = None,
    ) -> None:
        self.lab = lab
        self.provider = provider
        hosts = [h.name for h in lab.spec.hosts]
        self.shell = VmShell(lab.path, hosts, note=note, force=exec_route)

    def _vagrant(self) -> Any:
        import vagrant  # python-vagrant; imported here so that other commands start without it

        # stderr joins stdout, so that a failure's message shows in the streamed tail.
        return vagrant.Vagrant(root=str(self.lab.path), err_cm=_stderr_to_stdout)  # type: ignore[no-untyped-call]

    def preflight(self) -> None:
        if not (self.lab.path / "Vagrantfile").exists():
            raise LabgenError(
                f"{self.lab.path}: no Vagrantfile; re-create the lab with --backend vagrant or all"
            )
        if run_process(["vagrant", "--version"], 60).exit_code != 0:
            raise LabgenError(
                "vagrant is missing; install Vagrant and a provider (see `labgen doctor`)"
            )

    def up(self, progress: Progress) -> None:
        self.preflight()
        # Masters and ssh-config left by an earlier run may name VMs that `vagrant up`
        # is about to replace.
        self.shell.forget()
        names = ", ".join(h.name for h in self.lab.spec.hosts)
        progress(f"vagrant up ({names}); VMs take minutes")
        tail: list[str] = []
        try:
            for raw in self._vagrant().up(provider=self.provider, stream_output=True):
                line = raw.rstrip()
                tail = [*tail[-14:], line]
                match = STAGE_LINE.match(line)
                if match:
                    progress(f"{match['host']}: {match['stage']}")
        except subprocess.CalledProcessError as failed:
            shown = "\n".join(f"    | {line}" for line in tail)
            raise LabgenError(
                f"vagrant up failed (exit {failed.returncode}); its last lines:\n{shown}\n"
                "fix the cause, then `vagrant provision` (or `labgen down` and up again)"
            ) from None
        for host in self.lab.spec.hosts:
            if self.exec(host.name, ready_command(host), 120).exit_code != 0:
                raise LabgenError(
                    f"{host.name}: {ENGINE_NAMES[host.engine]} does not answer after "
                    f"provisioning; run `vagrant provision {host.name}` and read its output"
                )
        progress("every VM's engine answers")

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        return self.shell.exec(host, command, timeout)

    def reprovision(self, host: str, timeout: float) -> tuple[ExecResult, bool]:
        """Provision a running VM again over its connection, with the arguments Vagrant's
        shell provisioner passes (`vm_provision_args`), but without starting Vagrant and
        sending the script only when the VM's copy differs. Returns the result and
        whether the script was sent."""
        script = (self.lab.path / "provision" / "node.sh").read_bytes()
        digest = hashlib.sha256(script).hexdigest()
        same = f"echo {digest}' *{INSTALLED_NODE}' | sha256sum --check --status 2>/dev/null"
        args = shlex.join(vm_provision_args(host))
        run_installed = f"sudo {INSTALLED_NODE} {args}"
        result = self.exec(host, f"{same} || exit 100; {run_installed}", timeout)
        if result.exit_code != 100:
            return result, False
        encoded = base64.b64encode(script).decode()
        send_and_run = (
            "tmp=$(mktemp) && trap 'rm -f \"$tmp\"' EXIT && "
            f'echo {encoded} | base64 -d >"$tmp" && sudo bash "$tmp" {args}'
        )
        return self.exec(host, send_and_run, timeout), True

    def status(self) -> list[HostStatus]:
        try:
            states = {s.name: s.state for s in self._vagrant().status()}
        except subprocess.CalledProcessError as failed:
            raise LabgenError(
                f"vagrant status failed (exit {failed.returncode}); run `vagrant status` "
                f"in {self.lab.path} to see why"
            ) from None
        except (ValueError, IndexError):  # python-vagrant splits each line into 4 fields
            raise LabgenError(
                f"`vagrant status --machine-readable` in {self.lab.path} printed lines labgen "
                "cannot read; run it there to see why, and use Vagrant 2 or later"
            ) from None
        return host_statuses(self, self.lab.spec.hosts, states)

    def down(self, progress: Progress) -> None:
        # The master connections must not outlive their VMs.
        self.shell.forget()
        progress("vagrant destroy -f")
        try:
            self._vagrant().destroy()
        except subprocess.CalledProcessError as failed:
            raise LabgenError(
                f"vagrant destroy failed (exit {failed.returncode}); run `vagrant destroy -f` in {self.lab.path}"
            ) from None


@contextlib.contextmanager
def _stderr_to_stdout() -> Iterator[int]:
    yield subprocess.STDOUT
