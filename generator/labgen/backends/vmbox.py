"""The lab box in a VM of its own (hosted.isolation: vm): one QEMU process per student.

Inside, the VM runs what the container lab box runs (the student's Docker Engine, the
lab's nodes from the lab's docker-compose.yml, sshd, the hub for the lab's mirror), so
the student is root there and only there: the server's disk, its other ports, the other
students' VMs and the class folder are out of reach (`qemu` says how). The VM's files
live in one folder per student: a copy-on-write overlay of the lab os's base image, the
config disk, labgen's SSH key for the VM, QEMU's PID and console. `down` kills QEMU by
that PID and removes the folder; the forward ends with the process.

labgen reaches the lab's hosts as root in the VM over SSH (one multiplexed connection,
as the vagrant backend does), and from there as `docker exec -i NODE sh`, the command
on stdin.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from labgen.backends import qemu
from labgen.backends.base import (
    ExecResult,
    HostStatus,
    Progress,
    host_statuses,
    last_line,
    run_process,
    unwrap,
    wrap,
)
from labgen.backends.box import BoxSpec
from labgen.backends.labbox import (
    BOX_READY,
    COMPOSE_UP,
    HUB_PORT,
    LabWait,
    node_states,
    repair_nodes,
    wait_for_lab,
)
from labgen.backends.vmssh import (
    CONTROL_PERSIST,
    SSH_OPTIONS,
    control_dir,
    private_dir,
    start_detached,
)
from labgen.errors import LabgenError
from labgen.lab import Lab, open_lab
from labgen.spec import rules


class Run(Protocol):
    """How a VM box runs local programs (ssh, qemu-img, QEMU): `run_process`, or a stand-in."""

    def __call__(
        self, argv: Sequence[str], timeout: float, *, stdin: str | None = None
    ) -> ExecResult: ...


NODE_LISTING = "docker ps --all --format '{{json .}}'"
# The unprivileged user QEMU runs as once it has opened its files (when started as root).
QEMU_USER = "nobody"


def sshd_answers(address: tuple[str, int], timeout: float = 5.0) -> bool:
    """Whether an SSH server's banner comes back from `address` within `timeout`."""
    try:
        with socket.create_connection(address, timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(4) == b"SSH-"
    except OSError:
        return False


def vm_students(state_root: Path) -> set[str]:
    """The students of a class whose VM folder exists (on the roster or not; a folder
    being made, `.STUDENT.tmp`, is not one yet)."""
    if not state_root.is_dir():
        return set()
    return {p.name for p in state_root.iterdir() if p.is_dir() and not p.name.startswith(".")}


class VmBox:
    name = "vmbox"

    def __init__(
        self,
        spec: BoxSpec,
        state_root: Path,
        *,
        images: Path = qemu.DEFAULT_IMAGES,
        ready_timeout: float = 900.0,
        run: Run = run_process,
        choose_accel: Callable[[qemu.BaseImage], tuple[qemu.Accel, str]] = qemu.choose_accel,
    ) -> None:
        self.spec = spec
        self.lab: Lab = open_lab(spec.lab)
        self.base = qemu.BaseImage(images / rules.OS_SUITES[self.lab.spec.os])
        self.folder = state_root / spec.student
        self.ready_timeout = ready_timeout
        self.run = run
        self.choose_accel = choose_accel
        self.key = self.folder / "id_ed25519"
        self.known_hosts = self.folder / "known_hosts"
        self.socket = control_dir(self.folder) / "vm"

    def machine(self, base: qemu.BaseImage, accel: qemu.Accel) -> qemu.Machine:
        limits = self.spec.limits
        return qemu.Machine(
            name=self.spec.prefix,
            base=base,
            overlay=self.folder / "disk.qcow2",
            config_disk=self.folder / "config.img",
            ssh_port=self.spec.ssh_port,
            cpus=qemu.vcpus(limits.cpus),
            # The lab's memory is the VM's: its kernel and engine live in that share too.
            memory_mib=qemu.memory_mib(limits.memory),
            pidfile=self.folder / "qemu.pid",
            console=self.folder / "console.log",
            accel=accel,
            run_as=QEMU_USER if os.geteuid() == 0 else None,
        )

    def pid(self) -> int | None:
        return qemu.read_pid(self.folder / "qemu.pid", self.folder / "disk.qcow2")

    def state(self) -> str:
        if self.pid() is not None:
            return "running"
        return "stopped" if (self.folder / "disk.qcow2").exists() else "not created"

    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.spec.ssh_port

    # ------------------------------------------------------------------ up
    def up(self, progress: Progress) -> None:
        """Make the VM's folder if missing, start QEMU unless it runs, wait for the lab."""
        if not self.lab.spec.mirror:
            raise LabgenError(
                f"{self.spec.student}: a lab VM reaches nothing outside it, so its nodes can "
                "pull only from the hub inside it; write "
                f"`mirror: http://{self.lab.spec.gateway}:{HUB_PORT}` under `lab:` in the class "
                "spec, then run `labgen class create --force` and `labgen class up`"
            )
        state = self.state()
        if state == "not created":
            progress(f"creating VM {self.spec.prefix} (ssh port {self.spec.ssh_port})")
            self._create()
        started = None
        if state != "running":
            base = qemu.BaseImage(self._base_of_overlay())
            accel, why = self.choose_accel(base)
            progress(f"starting the VM: {why}")
            started = time.monotonic()
            self._start(base, accel)
        self._wait_ready(progress, started)

    def _create(self) -> None:
        missing = self.base.missing()
        if missing:
            suite = rules.OS_SUITES[self.lab.spec.os]
            raise LabgenError(
                f"{self.spec.student}: no VM base image for {self.lab.spec.os} ({missing}); "
                f"build it with `sudo sandbox/vm/labvm.sh {suite}`"
            )
        base = qemu.BaseImage(self.base.folder.resolve())
        # Made whole in a temporary folder, then renamed: a folder that exists is complete.
        temp = self.folder.with_name(f".{self.folder.name}.tmp")
        shutil.rmtree(temp, ignore_errors=True)
        self.folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp.mkdir(mode=0o700)
        try:
            key = temp / self.key.name
            made = self.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                             f"labgen {self.spec.prefix}", "-f", str(key)], 60)  # fmt: skip
            if made.exit_code != 0:
                raise LabgenError(f"{self.spec.student}: ssh-keygen failed: {made.output}")
            overlay = qemu.overlay_argv(base, temp / "disk.qcow2")
            made = self.run(overlay, 120)
            if made.exit_code != 0:
                raise LabgenError(f"{self.spec.student}: qemu-img failed: {made.output}")
            with _staged_lab(self.lab) as lab:
                qemu.write_config_disk(temp / "config.img", self._config_files(key), lab)
            temp.rename(self.folder)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def _config_files(self, key: Path) -> dict[str, str]:
        env = qemu.config_env(
            {
                "LABBOX_USER": self.spec.student,
                "LABBOX_LAB_GATEWAY": str(self.lab.spec.gateway),
                "LABVM_HOSTNAME": f"{self.spec.student}-lab",
                "LABVM_PIDS": str(self.spec.limits.pids),
            }
        )
        public = key.with_name(key.name + ".pub").read_text(encoding="utf-8")
        return {"env": env, "student": self.spec.account, "authorized_keys": public}

    def _base_of_overlay(self) -> Path:
        """The base folder the overlay was made on (a newer base image may exist now)."""
        done = self.run(["qemu-img", "info", "--output=json", str(self.folder / "disk.qcow2")], 60)
        for line in done.stdout.splitlines():
            key, _, value = line.strip().partition(":")
            if key.strip('"') == "backing-filename":
                return Path(value.strip().strip(",").strip('"')).parent
        raise LabgenError(
            f"{self.spec.student}: {self.folder / 'disk.qcow2'} has no base image; "
            f"`labgen class down --students {self.spec.student}` and `up` make it again"
        )

    def _start(self, base: qemu.BaseImage, accel: qemu.Accel) -> None:
        machine = self.machine(base, accel)
        machine.console.unlink(missing_ok=True)
        self.known_hosts.unlink(missing_ok=True)
        done = self.run(qemu.qemu_argv(machine), 120)
        if done.exit_code != 0 or self.pid() is None:
            raise LabgenError(f"{self.spec.student}: QEMU did not start: {last_line(done.output)}")

    def _wait_ready(self, progress: Progress, started: float | None) -> None:
        """Wait for sshd, the box's boot script, then each node's engine (`started`: when
        QEMU was started here, to say how long the boot to SSH took)."""
        start = time.monotonic()
        console = self.folder / "console.log"

        def gone() -> str | None:
            if self.pid() is not None:
                return None
            return f"the VM stopped (console: {last_line(_tail(console))}); see {console}"

        if started is not None:
            # No ssh (and no master connection) before sshd's banner: QEMU's forward
            # takes the connection at once and holds it until the guest listens.
            while not sshd_answers(self.address()):
                elapsed = time.monotonic() - start
                stopped = gone()
                if stopped:
                    raise LabgenError(f"{self.spec.student}: {stopped}")
                if elapsed > self.ready_timeout:
                    raise LabgenError(
                        f"{self.spec.student}: the VM's sshd did not answer in "
                        f"{elapsed:.0f} s; see {console}"
                    )
                time.sleep(1)
            progress(f"sshd answers {time.monotonic() - started:.1f} s after QEMU started")
        wait_for_lab(
            LabWait(
                student=self.spec.student,
                engine="the VM's engine",
                log_hint="see /run/labbox/compose.log in the VM",
                gone=gone,
                shell=self._vm,
                node=self.exec,
            ),
            self.lab.spec.hosts,
            start,
            self.ready_timeout,
            progress,
            pause=2.0,
        )

    def repair(self, progress: Progress) -> list[str]:
        """Start again, with `docker compose up -d` in the VM, every node that stopped or
        went missing since the VM started its lab. Returns what was repaired."""
        if self._vm(BOX_READY, 30).exit_code != 0:
            return []  # still starting (or failed): the wait in `up` says which
        listed = self._vm(NODE_LISTING, 60)
        if listed.exit_code != 0 and not listed.error:
            # The VM's own engine is gone: its boot (engine, then the lab) runs anew when
            # QEMU starts again on the kept overlay, which `up` does next.
            progress("the VM's engine does not answer: restarting the VM")
            self._stop()
            return ["the VM's engine (VM restarted)"]
        return repair_nodes(
            self.spec.student,
            self.lab.spec.hosts,
            node_states(listed.stdout, self.lab.spec.name),
            "the VM",
            progress,
            lambda: self._vm(COMPOSE_UP, 600),
        )

    # ------------------------------------------------------------------ use
    def node(self, host: str) -> str:
        """The container of `host` in the VM (compose's name: PROJECT-SERVICE-1)."""
        return f"{self.lab.spec.name}-{host}-1"

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        if self.pid() is None:
            return ExecResult(1, "", "", 0.0, error=f"the VM {self.spec.prefix} is not running")
        remote = f"docker exec -i {shlex.quote(self.node(host))} sh"
        ran = self.run([*self._ssh(), remote], timeout, stdin=wrap(command))
        return unwrap(ran, host, f"ssh (VM {self.spec.prefix})")

    def _vm(self, script: str, timeout: float) -> ExecResult:
        """`script` run by root's shell in the VM itself (not in a node)."""
        ran = self.run([*self._ssh(), "sh"], timeout, stdin=wrap(script))
        return unwrap(ran, "the VM", f"ssh (VM {self.spec.prefix})")

    def _ssh(self) -> list[str]:
        """ssh to root in the VM, over the master connection when one runs (started here
        when it does not; plain ssh when it cannot start, e.g. sshd not up yet)."""
        argv = [
            "ssh", "-F", "none", "-p", str(self.spec.ssh_port), "-i", str(self.key),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            # The VM makes its host key at first boot; every later connection must meet it.
            "-o", "StrictHostKeyChecking=accept-new",
            *SSH_OPTIONS,
        ]  # fmt: skip
        target = "root@127.0.0.1"
        if self._master(argv, target):
            return [*argv, "-o", "ControlMaster=no", "-o", f"ControlPath={self.socket}", target]
        return [*argv, "-o", "ControlMaster=no", "-o", "ControlPath=none", target]

    def _master(self, argv: list[str], target: str) -> bool:
        check = [*argv, "-o", f"ControlPath={self.socket}", "-O", "check", target]
        if self.socket.exists() and self.run(check, 15).exit_code == 0:
            return True
        if private_dir(self.socket.parent) is not None:
            return False
        self.socket.unlink(missing_ok=True)
        master = [
            *argv, "-o", "ControlMaster=yes", "-o", f"ControlPath={self.socket}",
            "-o", f"ControlPersist={CONTROL_PERSIST}",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6",
            "-N", "-f", target,
        ]  # fmt: skip
        log = self.socket.parent / "vm.log"
        return start_detached(master, log, 60) and self.run(check, 15).exit_code == 0

    def _node_states(self) -> dict[str, str]:
        listed = self._vm(NODE_LISTING, 60)
        return node_states(listed.stdout, self.lab.spec.name) if listed.exit_code == 0 else {}

    def status(self) -> list[HostStatus]:
        states = self._node_states() if self.state() == "running" else {}
        return host_statuses(self, self.lab.spec.hosts, states)

    # ------------------------------------------------------------------ down
    def _stop(self) -> None:
        """End the master connection, then QEMU, by its recorded PID."""
        if self.socket.exists():
            self.run(["ssh", "-F", "none", "-o", f"ControlPath={self.socket}", "-O", "exit",
                      "root@127.0.0.1"], 15)  # fmt: skip
        pid = self.pid()
        if pid is not None:
            qemu.stop(pid)
        if self.pid() is not None:
            raise LabgenError(f"{self.spec.student}: QEMU (PID {pid}) did not stop")

    def down(self, progress: Progress) -> None:
        """Kill the VM's QEMU by its PID and remove its folder (overlay, config disk, key)."""
        progress(f"removing VM {self.spec.prefix} and its disks")
        self._stop()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.folder.exists():
            raise LabgenError(f"{self.spec.student}: could not remove {self.folder}")
        with contextlib.suppress(OSError):
            shutil.rmtree(self.socket.parent)


# A node's own containerd, started before its Docker Engine: dockerd then uses it
# instead of starting one itself with a fixed 15 s deadline, which a cold containerd misses
# under emulation ("failed to start containerd: timeout waiting for containerd to start").
# Debian runs containerd as a service of its own anyway. `$$` is compose's escaped `$`.
NODE_ENTRYPOINT = (
    "containerd >/var/log/containerd.log 2>&1 & i=0; "
    "until [ -S /run/containerd/containerd.sock ] || [ $$i -ge 1500 ]; "
    "do sleep 0.2; i=$$((i + 1)); done; exec /usr/local/sbin/labgen-boot"
)


def vm_override(lab: Lab) -> str:
    """The compose override for the nodes in a lab VM (JSON, which YAML reads): /run on
    tmpfs as in the lab box (`labbox.box_override` says why), and for a Docker host its
    containerd started first (NODE_ENTRYPOINT)."""
    services: dict[str, dict[str, object]] = {}
    for host in lab.spec.hosts:
        service: dict[str, object] = {"tmpfs": ["/run"]}
        if host.engine == "docker":
            service["entrypoint"] = ["/bin/sh", "-c", NODE_ENTRYPOINT]
        services[host.name] = service
    head = "# Written by labgen's lab VM: each node starts with a clean /run and its containerd.\n"
    return head + json.dumps({"services": services}, indent=2) + "\n"


@contextlib.contextmanager
def _staged_lab(lab: Lab) -> Iterator[Path]:
    """The lab folder as the VM gets it: the lab plus labgen's compose override."""
    with tempfile.TemporaryDirectory(prefix="labgen-vmlab-") as staging:
        folder = Path(staging) / "lab"
        shutil.copytree(lab.path, folder, symlinks=True)
        state = folder / ".labgen"
        state.mkdir(exist_ok=True)
        (state / "compose.labbox.yml").write_text(vm_override(lab), encoding="utf-8")
        yield folder


def _tail(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-2000:]
    except OSError:
        return ""
