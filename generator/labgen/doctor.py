"""`labgen doctor`: what this machine can run, with a one-line verdict per backend."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labgen.backends import qemu
from labgen.backends.base import run_process
from labgen.backends.vmssh import multiplexing_unsupported
from labgen.spec import rules

# VirtualBox releases and the oldest Vagrant that drives them.
VIRTUALBOX_NEEDS_VAGRANT: dict[tuple[int, ...], tuple[int, ...]] = {
    (7, 1): (2, 4, 2),
    (7, 0): (2, 3, 2),
}


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    backend: str
    ok: bool
    detail: str


def parse_version(text: str) -> tuple[int, ...] | None:
    """The first dotted version number in `text` ("Vagrant 2.3.4" → (2, 3, 4))."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def virtualbox_pairing(vagrant: tuple[int, ...], virtualbox: tuple[int, ...]) -> str | None:
    """Why this Vagrant cannot drive this VirtualBox, or None when it can."""
    needed = VIRTUALBOX_NEEDS_VAGRANT.get(virtualbox[:2])
    if needed and vagrant < needed:
        have = ".".join(map(str, vagrant))
        want = ".".join(map(str, needed))
        box = ".".join(map(str, virtualbox[:2]))
        return f"VirtualBox {box} needs Vagrant >= {want} (this is {have}); upgrade Vagrant"
    return None


def kvm_finding(dev: Path = Path("/dev/kvm"), modules: Path = Path("/sys/module")) -> Finding:
    if not dev.exists():
        return Finding(
            "kvm", False, "no /dev/kvm: use vagrant.libvirt_driver: qemu (software emulation, slow)"
        )
    if (modules / "kvm_pvm").exists():
        return Finding(
            "kvm",
            False,
            "/dev/kvm is the PVM flavour (kvm_pvm): normal guests fail; "
            "use vagrant.libvirt_driver: qemu and libvirt_cpu_model: qemu64",
        )
    if not os.access(dev, os.R_OK | os.W_OK):
        return Finding(
            "kvm", False, "/dev/kvm exists but this user cannot open it; join the kvm group"
        )
    return Finding("kvm", True, "/dev/kvm usable: keep vagrant.libvirt_driver: kvm")


def ssh_finding(exit_code: int, version: str) -> Finding:
    """How the vagrant backend will reach VMs with this ssh client (`ssh -V`)."""
    version = version.strip().splitlines()[0] if version.strip() else ""
    if exit_code != 0 or not version:
        return Finding(
            "ssh",
            False,
            "no ssh client: VM commands go through `vagrant ssh` (slow); install OpenSSH",
        )
    why_not = multiplexing_unsupported(version)
    if why_not:
        return Finding("ssh", True, f"{version}: VM commands use plain ssh ({why_not})")
    return Finding("ssh", True, f"{version}: VM commands use one multiplexed connection per host")


def os_findings(images: set[str], boxes: str) -> list[Finding]:
    """For each spec `os`: is its compose node image built, is its Vagrant box added?
    Informational: compose builds a missing image (with internet), Vagrant fetches a box."""
    findings = []
    for os_name, suite in rules.OS_SUITES.items():
        image = f"labgen/node:{suite}"
        findings.append(
            Finding(
                f"node {os_name}",
                image in images,
                f"{image} is built"
                if image in images
                else f"{image} is not built: `docker compose up --build` makes it (internet), "
                "or `sudo sandbox/images.sh build` offline",
            )
        )
        box = rules.OS_BOXES[os_name]
        added = any(line.split()[:1] == [box] for line in boxes.splitlines())
        findings.append(
            Finding(
                f"box {os_name}",
                added,
                f"{box} is added" if added else f"{box} is not added: `vagrant up` downloads it",
            )
        )
    return findings


def vm_findings(
    images: Path, probe: Callable[[qemu.BaseImage, qemu.Accel], qemu.AccelProbe]
) -> list[Finding]:
    """Can this server run hosted.isolation: vm, and how fast: a base image, then the
    image's kernel booted under KVM and under emulation (TCG). /dev/kvm can exist and
    still hang every guest (a nested, PVM-flavoured KVM), so only a boot tells."""
    bases = [qemu.BaseImage(images / suite) for suite in sorted(set(rules.OS_SUITES.values()))]
    built = [base for base in bases if base.missing() is None]
    image = Finding(
        "vm image",
        bool(built),
        ", ".join(f"{base.folder.name} built" for base in built)
        if built
        else f"no VM base image in {images}: `sudo sandbox/vm/labvm.sh trixie` builds one",
    )
    if not built:
        return [image]
    findings = [image]
    blocker = qemu.kvm_blocker()
    if blocker and not Path("/dev/kvm").exists():
        findings.append(Finding("vm kvm", False, blocker))
    else:
        kvm = probe(built[0], "kvm")
        why = f" ({blocker})" if blocker else ""
        findings.append(
            Finding(
                "vm kvm",
                kvm.ok,
                f"KVM boots a guest: {kvm.detail}"
                if kvm.ok
                else f"KVM does not boot a guest here: {kvm.detail}{why}",
            )
        )
    tcg = probe(built[0], "tcg")
    findings.append(Finding("vm emulation", tcg.ok, f"TCG: {tcg.detail}"))
    return findings


def vm_verdict(found: dict[str, Finding]) -> Verdict:
    backend = "hosted vm isolation"
    image = found["vm image"]
    if not image.ok:
        return Verdict(backend, False, f"cannot run: {image.detail}")
    if found["vm kvm"].ok:
        return Verdict(backend, True, "ready, with KVM (fast)")
    if found["vm emulation"].ok:
        return Verdict(
            backend,
            True,
            f"ready, emulation only (slow: {found['vm emulation'].detail.removeprefix('TCG: ')}; "
            "a VM booted to SSH in 30-60 s here)",
        )
    return Verdict(backend, False, f"cannot run: {found['vm emulation'].detail}")


def examine(vm_images: Path = qemu.DEFAULT_IMAGES) -> tuple[list[Finding], list[Verdict]]:
    """Probe the tools, then judge each backend from what was found."""
    found: dict[str, Finding] = {}

    def probe(name: str, argv: list[str], fix: str, pick: str = "") -> tuple[int, ...] | None:
        """Run `argv`; its first output line containing `pick` names the version."""
        result = run_process(argv, 60)
        lines = [line.strip() for line in result.stdout.splitlines() if pick in line]
        version = parse_version(lines[0]) if result.exit_code == 0 and lines else None
        found[name] = Finding(name, version is not None, lines[0] if version else fix)
        return version

    probe(
        "docker engine",
        ["docker", "version", "--format", "Docker Engine {{.Server.Version}}"],
        "no Docker engine answers: start Docker (or `sudo make demo` uses labgen's sandbox)",
    )
    probe(
        "docker compose",
        ["docker", "compose", "version"],
        "no `docker compose` (v2): install the docker-compose-plugin package",
    )
    vagrant = probe("vagrant", ["vagrant", "--version"], "no vagrant: install Vagrant")
    virtualbox = probe("virtualbox", ["VBoxManage", "--version"], "no VirtualBox (VBoxManage)")
    plugins = run_process(["vagrant", "plugin", "list"], 60).stdout if vagrant else ""
    found["vagrant-libvirt"] = Finding(
        "vagrant-libvirt",
        "vagrant-libvirt" in plugins,
        "installed"
        if "vagrant-libvirt" in plugins
        else "not installed: `vagrant plugin install vagrant-libvirt` or Debian's vagrant-libvirt",
    )
    probe(
        "libvirt",
        ["virsh", "-c", "qemu:///system", "version", "--daemon"],
        "libvirtd does not answer at qemu:///system: install and start libvirt-daemon-system",
        pick="daemon",
    )
    found["kvm"] = kvm_finding()
    ssh = run_process(["ssh", "-V"], 15)
    found["ssh"] = ssh_finding(ssh.exit_code, ssh.stderr + ssh.stdout)

    images = run_process(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], 60)
    boxes = run_process(["vagrant", "box", "list"], 60).stdout if vagrant else ""
    for finding in os_findings(
        set(images.stdout.split()) if images.exit_code == 0 else set(), boxes
    ):
        found[finding.name] = finding

    pairing = virtualbox_pairing(vagrant, virtualbox) if vagrant and virtualbox else None
    if pairing:
        found["virtualbox"] = Finding("virtualbox", False, pairing)
    for finding in vm_findings(
        vm_images, lambda base, accel: qemu.probe_accel(base, accel, timeout=15)
    ):
        found[finding.name] = finding
    verdicts = [
        _verdict("compose", found, ["docker engine", "docker compose"]),
        _verdict("vagrant + libvirt", found, ["vagrant", "vagrant-libvirt", "libvirt"]),
        _verdict("vagrant + virtualbox", found, ["vagrant", "virtualbox"]),
        vm_verdict(found),
    ]
    return list(found.values()), verdicts


def _verdict(backend: str, found: dict[str, Finding], needs: list[str]) -> Verdict:
    missing = [found[name] for name in needs if not found[name].ok]
    if missing:
        return Verdict(backend, False, f"cannot run: {missing[0].detail}")
    detail = "ready"
    if backend == "vagrant + libvirt" and not found["kvm"].ok:
        detail = f"ready, without KVM: {found['kvm'].detail}"
    return Verdict(backend, True, detail)
