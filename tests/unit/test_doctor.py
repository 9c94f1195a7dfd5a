"""`labgen doctor`'s judgements: version pairing and KVM detection (pure parts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from labgen.backends import qemu
from labgen.cli import cli
from labgen.doctor import (
    kvm_finding,
    os_findings,
    parse_version,
    virtualbox_pairing,
    vm_findings,
    vm_verdict,
)


@pytest.mark.parametrize(
    ("text", "version"),
    [("Vagrant 2.3.4", (2, 3, 4)), ("7.1.4r165100", (7, 1, 4)), ("v2.40", (2, 40)), ("none", None)],
)
def test_parse_version(text: str, version: tuple[int, ...] | None) -> None:
    assert parse_version(text) == version


def test_virtualbox_71_needs_vagrant_242() -> None:
    why = virtualbox_pairing((2, 3, 4), (7, 1, 4))
    assert why == "VirtualBox 7.1 needs Vagrant >= 2.4.2 (this is 2.3.4); upgrade Vagrant"
    assert virtualbox_pairing((2, 4, 2), (7, 1, 4)) is None
    assert virtualbox_pairing((2, 3, 1), (7, 0, 20)) is not None
    assert virtualbox_pairing((2, 2, 0), (6, 1, 50)) is None


def test_kvm_missing_pvm_and_usable(tmp_path: Path) -> None:
    dev, modules = tmp_path / "kvm", tmp_path / "module"
    modules.mkdir()
    assert "no /dev/kvm" in kvm_finding(dev, modules).detail
    dev.write_text("")
    assert kvm_finding(dev, modules).ok
    (modules / "kvm_pvm").mkdir()
    pvm = kvm_finding(dev, modules)
    assert not pvm.ok and "libvirt_driver: qemu" in pvm.detail


def test_doctor_prints_a_verdict_per_backend() -> None:
    result = CliRunner().invoke(cli, ["doctor"])
    backends = [
        line.split("  ")[0] for line in result.stdout.splitlines() if not line.startswith(" ")
    ]
    assert backends == [
        "compose",
        "vagrant + libvirt",
        "vagrant + virtualbox",
        "hosted vm isolation",
    ]
    assert result.exit_code in (0, 1)


def test_each_os_says_whether_its_node_image_and_box_are_there() -> None:
    found = {
        f.name: f
        for f in os_findings(
            {"labgen/node:trixie", "registry:2"},
            "debian/bookworm64 (libvirt, 0)\ndebian/trixie64-old (libvirt, 0)\n",
        )
    }
    assert found["node debian-13"].ok and not found["node debian-12"].ok
    assert "sandbox/images.sh build" in found["node debian-12"].detail
    assert found["box debian-12"].ok and not found["box debian-13"].ok
    assert (
        found["box debian-13"].detail == "debian/trixie64 is not added: `vagrant up` downloads it"
    )


def fake_probe(kvm_ok: bool) -> Callable[[qemu.BaseImage, qemu.Accel], qemu.AccelProbe]:
    def probe(base: qemu.BaseImage, accel: qemu.Accel) -> qemu.AccelProbe:
        if accel == "kvm":
            detail = (
                "kernel reached its init in 0.6 s"
                if kvm_ok
                else "kernel did not reach its init in 15 s"
            )
            return qemu.AccelProbe("kvm", kvm_ok, 0.6 if kvm_ok else 15.0, detail)
        return qemu.AccelProbe("tcg", True, 6.5, "kernel reached its init in 6.5 s")

    return probe


def built_image(root: Path, suite: str) -> None:
    folder = root / suite
    folder.mkdir(parents=True)
    for name in ("disk.qcow2", "vmlinuz", "initrd.img"):
        (folder / name).write_text("")


def test_vm_isolation_needs_a_base_image(tmp_path: Path) -> None:
    found = {f.name: f for f in vm_findings(tmp_path, fake_probe(True))}
    assert list(found) == ["vm image"]
    verdict = vm_verdict(found)
    assert not verdict.ok and "sandbox/vm/labvm.sh" in verdict.detail


@pytest.mark.skipif(not Path("/dev/kvm").exists(), reason="the KVM probe runs only with /dev/kvm")
@pytest.mark.parametrize(("kvm_ok", "says"), [(True, "with KVM"), (False, "emulation only")])
def test_vm_isolation_speed_is_what_the_boot_showed(
    tmp_path: Path, kvm_ok: bool, says: str
) -> None:
    built_image(tmp_path, "trixie")
    found = {f.name: f for f in vm_findings(tmp_path, fake_probe(kvm_ok))}
    assert found["vm image"].detail == "trixie built"
    assert found["vm kvm"].ok is kvm_ok
    assert ("does not boot" in found["vm kvm"].detail) is not kvm_ok
    verdict = vm_verdict(found)
    assert verdict.ok and says in verdict.detail
