"""A student's lab VM as one QEMU process: its command line, its disks, its life.

The command line is built in one place (`qemu_argv`, a pure function). The VM boots the
base image's kernel directly from a copy-on-write overlay of the base disk; a second,
read-only disk carries what is the student's own (lab folder, account, labgen's key for
grading), so no secret is on a command line or in the image. Its only network is QEMU's
user-mode stack with `restrict=on`: the guest can send nothing out (not to the server,
not to other VMs, not beyond), and the one way in is the forward from the student's SSH
port on the server to the VM's sshd.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from labgen.backends.base import run_process
from labgen.errors import LabgenError

Accel = Literal["kvm", "tcg"]

QEMU = "qemu-system-x86_64"
# Where `sandbox/vm/labvm.sh` puts the base images: one folder (a link) per node suite.
DEFAULT_IMAGES = Path("/var/cache/labgen/labvm")
# The guest's fixed address on QEMU's user-mode network (QEMU's default for the first guest).
GUEST_ADDRESS = "10.0.2.15"
KERNEL_ARGS = (
    "root=/dev/vda rw console=ttyS0,115200 quiet net.ifnames=0 "
    # The VM is the boundary the server relies on; AppArmor inside it would only cost
    # boot time (its profiles compiled under emulation).
    "apparmor=0 init=/usr/local/sbin/labvm-init panic=-1"
)
# QEMU's own seccomp filter: no obsolete system calls, no changing resource limits. QEMU
# 7.2 needs fork (-daemonize) and setuid (-runas) after the filter is in place, so those
# stay allowed (measured: spawn=deny or elevateprivileges=deny kill it with "Bad system
# call"); what a guest that broke into QEMU could do is bounded by -runas instead.
SANDBOX = "on,obsolete=deny,resourcecontrol=deny"
# Printed by the kernel when it hands over to the initrd: how far `probe_accel` waits for.
KERNEL_REACHED_INIT = "Run /init as init process"
MEMORY_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024}


@dataclass(frozen=True)
class BaseImage:
    """One lab os's VM base image (`sandbox/vm/labvm.sh` builds it)."""

    folder: Path

    @property
    def disk(self) -> Path:
        return self.folder / "disk.qcow2"

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"

    def missing(self) -> str | None:
        """Why this image cannot be used, or None."""
        for part in (self.disk, self.kernel, self.initrd):
            if not part.is_file():
                return f"{part} is missing"
        return None


@dataclass(frozen=True)
class Machine:
    """Everything QEMU is told about one student's VM."""

    name: str
    base: BaseImage
    overlay: Path
    config_disk: Path
    ssh_port: int
    cpus: int
    memory_mib: int
    pidfile: Path
    console: Path
    accel: Accel = "tcg"
    listen: str = "0.0.0.0"
    run_as: str | None = None


def qemu_argv(machine: Machine) -> list[str]:
    """QEMU's command line for `machine`: the one place it is written."""
    if machine.accel == "kvm":
        cpu = ["-accel", "kvm", "-cpu", "host"]
    else:
        # qemu64 ran the lab's commands faster under TCG than `max` (sandbox/vm/README.md).
        cpu = ["-accel", "tcg", "-cpu", "qemu64"]
    forward = f"hostfwd=tcp:{machine.listen}:{machine.ssh_port}-{GUEST_ADDRESS}:22"
    argv = [
        QEMU,
        "-name", f"{machine.name},process={machine.name}",
        "-machine", "pc",
        *cpu,
        "-smp", str(machine.cpus),
        "-m", f"{machine.memory_mib}M",
        "-nodefaults", "-no-user-config", "-display", "none",
        "-kernel", str(machine.base.kernel),
        "-initrd", str(machine.base.initrd),
        "-append", KERNEL_ARGS,
        "-drive", f"file={machine.overlay},if=virtio,format=qcow2,discard=unmap",
        "-drive", f"file={machine.config_disk},if=virtio,format=raw,readonly=on",
        "-netdev", f"user,id=net0,restrict=on,{forward}",
        "-device", "virtio-net-pci,netdev=net0",
        "-serial", f"file:{machine.console}",
        "-monitor", "none",
        "-sandbox", SANDBOX,
        "-pidfile", str(machine.pidfile),
        "-daemonize",
    ]  # fmt: skip
    if machine.run_as:
        argv += ["-runas", machine.run_as]
    return argv


def overlay_argv(base: BaseImage, overlay: Path) -> list[str]:
    """qemu-img's command line for a copy-on-write overlay of the base disk."""
    return ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
            "-b", str(base.disk.resolve()), str(overlay)]  # fmt: skip


def memory_mib(text: str) -> int:
    """A class spec's memory ("768M", "2G") in MiB."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG])i?B?", text.strip(), re.IGNORECASE)
    if not match:
        raise LabgenError(f"memory: {text!r} is not a size; use a size such as 768M or 2G")
    return max(1, int(float(match.group(1)) * MEMORY_UNITS[match.group(2).upper()]))


def vcpus(cpus: float) -> int:
    """Whole virtual CPUs for a share of CPUs (a VM has no fractional CPU)."""
    return max(1, math.ceil(cpus))


def config_env(values: Mapping[str, str]) -> str:
    """The config disk's `env` file: shell assignments the VM's init sources, quoted."""
    for key in values:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            raise ValueError(f"not a variable name: {key!r}")
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def write_config_disk(target: Path, files: Mapping[str, str], lab: Path) -> None:
    """A small read-only ext4 disk image holding `files` (name → text, mode 0600) and
    the lab folder as lab/, made by mke2fs from a private folder (no mount, no root)."""
    with tempfile.TemporaryDirectory(prefix="labgen-vmconfig-") as staging_name:
        staging = Path(staging_name)
        for name, text in files.items():
            path = staging / name
            path.touch(mode=0o600)
            path.write_text(text, encoding="utf-8")
        shutil.copytree(lab, staging / "lab", symlinks=True)
        used = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        size_mib = max(16, used // (1024 * 1024) * 2 + 8)
        temp = target.with_name(target.name + ".tmp")
        temp.unlink(missing_ok=True)
        done = run_process(
            ["mkfs.ext4", "-q", "-F", "-L", "labvm-config", "-d", str(staging), str(temp),
             f"{size_mib}M"],
            120,
        )  # fmt: skip
        if done.exit_code != 0:
            temp.unlink(missing_ok=True)
            raise LabgenError(f"{target}: mkfs.ext4 failed: {done.output}; install e2fsprogs")
        temp.chmod(0o600)
        temp.replace(target)


# ---------------------------------------------------------------------- the process
def read_pid(pidfile: Path, overlay: Path) -> int | None:
    """The PID in `pidfile` if that process is still this VM's QEMU (a reused PID is not)."""
    try:
        pid = int(pidfile.read_text(encoding="ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if f"file={overlay},".encode() in cmdline else None


def stop(pid: int, grace: float = 5.0) -> None:
    """End the QEMU process `pid` (its guest is thrown away: no clean shutdown needed)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while Path(f"/proc/{pid}").exists() and not _zombie(pid):
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


# ---------------------------------------------------------------------- acceleration
@dataclass(frozen=True)
class AccelProbe:
    accel: Accel
    ok: bool
    seconds: float
    detail: str


def probe_argv(base: BaseImage, accel: Accel) -> list[str]:
    """A throwaway VM with no disk: the base image's kernel, booted until its initrd."""
    cpu = (
        ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg", "-cpu", "qemu64"]
    )
    return [QEMU, *cpu, "-m", "256M", "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", str(base.kernel), "-initrd", str(base.initrd),
            "-append", "console=ttyS0 panic=-1", "-serial", "stdio", "-monitor", "none",
            "-no-reboot"]  # fmt: skip


def probe_accel(base: BaseImage, accel: Accel, timeout: float = 30.0) -> AccelProbe:
    """Boot the kernel under `accel` and time it to its init. /dev/kvm can exist and still
    not run a guest (a nested, PVM-flavoured KVM hangs right after the BIOS): only a boot
    says whether it works."""
    start = time.monotonic()
    try:
        process = subprocess.Popen(
            probe_argv(base, accel),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as error:
        return AccelProbe(accel, False, 0.0, f"{QEMU}: {error.strerror}")
    reached = threading.Event()
    lines: list[str] = []

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.strip())
            if KERNEL_REACHED_INIT in line:
                reached.set()
                return

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    reader.join(timeout)
    seconds = time.monotonic() - start
    exited = process.poll()
    process.kill()
    process.wait()
    if reached.is_set():
        return AccelProbe(accel, True, seconds, f"kernel reached its init in {seconds:.1f} s")
    last = next((line for line in reversed(lines) if line), "no output")
    if exited is not None:
        return AccelProbe(accel, False, seconds, f"QEMU stopped: {last}")
    return AccelProbe(accel, False, seconds, f"kernel did not reach its init in {timeout:g} s")


def kvm_blocker(dev: Path = Path("/dev/kvm"), modules: Path = Path("/sys/module")) -> str | None:
    """Why KVM surely cannot run the VMs (no device, no access, a known failing flavour),
    without booting anything; None means only a probe can tell."""
    if not dev.exists():
        return "no /dev/kvm"
    if not os.access(dev, os.R_OK | os.W_OK):
        return "/dev/kvm is not open to this user"
    if (modules / "kvm_pvm").exists():
        return "/dev/kvm is the PVM flavour (kvm_pvm), which hangs a normal guest's kernel"
    return None


def choose_accel(base: BaseImage) -> tuple[Accel, str]:
    """KVM when it boots the kernel, else emulation; with the reason."""
    blocker = kvm_blocker()
    if blocker:
        return "tcg", f"emulation (TCG, slow): {blocker}"
    probe = probe_accel(base, "kvm", timeout=20)
    if probe.ok:
        return "kvm", f"KVM ({probe.detail})"
    return "tcg", f"emulation (TCG, slow): KVM does not boot a guest here ({probe.detail})"
