"""`labgen doctor`'s judgements: version pairing and KVM detection (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from labgen.cli import cli
from labgen.doctor import kvm_finding, os_findings, parse_version, virtualbox_pairing


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
    assert backends == ["compose", "vagrant + libvirt", "vagrant + virtualbox"]
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
