"""A lab VM's QEMU command line, config disk and process handling (hosted.isolation: vm)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labgen.backends import qemu
from labgen.errors import LabgenError


def machine(tmp_path: Path, **changes: object) -> qemu.Machine:
    values: dict[str, object] = {
        "name": "labgen-ws-alice",
        "base": qemu.BaseImage(Path("/images/trixie-k1")),
        "overlay": tmp_path / "disk.qcow2",
        "config_disk": tmp_path / "config.img",
        "ssh_port": 2201,
        "cpus": 1,
        "memory_mib": 768,
        "pidfile": tmp_path / "qemu.pid",
        "console": tmp_path / "console.log",
    }
    values.update(changes)
    return qemu.Machine(**values)  # type: ignore[arg-type]


def test_the_command_line_under_emulation(tmp_path: Path) -> None:
    assert qemu.qemu_argv(machine(tmp_path)) == [
        "qemu-system-x86_64",
        "-name", "labgen-ws-alice,process=labgen-ws-alice",
        "-machine", "pc",
        "-accel", "tcg", "-cpu", "qemu64",
        "-smp", "1",
        "-m", "768M",
        "-nodefaults", "-no-user-config", "-display", "none",
        "-kernel", "/images/trixie-k1/vmlinuz",
        "-initrd", "/images/trixie-k1/initrd.img",
        "-append", qemu.KERNEL_ARGS,
        "-drive", f"file={tmp_path}/disk.qcow2,if=virtio,format=qcow2,discard=unmap",
        "-drive", f"file={tmp_path}/config.img,if=virtio,format=raw,readonly=on",
        "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:0.0.0.0:2201-10.0.2.15:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-serial", f"file:{tmp_path}/console.log",
        "-monitor", "none",
        "-sandbox", "on,obsolete=deny,resourcecontrol=deny",
        "-pidfile", f"{tmp_path}/qemu.pid",
        "-daemonize",
    ]  # fmt: skip


def test_kvm_cpus_memory_and_a_user_to_run_as(tmp_path: Path) -> None:
    argv = qemu.qemu_argv(
        machine(tmp_path, accel="kvm", cpus=2, memory_mib=2048, listen="127.0.0.1", run_as="nobody")
    )
    assert argv[argv.index("-accel") : argv.index("-accel") + 4] == [
        "-accel",
        "kvm",
        "-cpu",
        "host",
    ]
    assert argv[argv.index("-smp") + 1] == "2"
    assert argv[argv.index("-m") + 1] == "2048M"
    assert "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2201-10.0.2.15:22" in argv
    assert argv[-2:] == ["-runas", "nobody"]


def test_the_only_network_is_restricted_with_one_forward(tmp_path: Path) -> None:
    argv = qemu.qemu_argv(machine(tmp_path))
    netdevs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-netdev"]
    assert len(netdevs) == 1
    options = netdevs[0].split(",")
    assert "restrict=on" in options
    assert [o for o in options if "fwd" in o] == ["hostfwd=tcp:0.0.0.0:2201-10.0.2.15:22"]
    # No shared folders, no other devices that reach the server's files.
    assert not any(word in " ".join(argv) for word in ("virtfs", "9p", "vhost-user", "guestfwd"))


@pytest.mark.parametrize(
    ("text", "mib"), [("768M", 768), ("2G", 2048), ("1.5G", 1536), ("524288K", 512), ("1gib", 1024)]
)
def test_memory_sizes(text: str, mib: int) -> None:
    assert qemu.memory_mib(text) == mib


def test_a_memory_size_without_unit_is_an_error() -> None:
    with pytest.raises(LabgenError, match="768M or 2G"):
        qemu.memory_mib("768")


@pytest.mark.parametrize(("cpus", "whole"), [(0.5, 1), (1.0, 1), (1.5, 2), (4.0, 4)])
def test_vcpus(cpus: float, whole: int) -> None:
    assert qemu.vcpus(cpus) == whole


def test_config_env_is_quoted_for_the_guest_shell() -> None:
    text = qemu.config_env({"LABBOX_USER": "alice", "LABVM_HOSTNAME": "a'; reboot; '"})
    assert text == "LABBOX_USER=alice\nLABVM_HOSTNAME='a'\"'\"'; reboot; '\"'\"''\n"
    out = subprocess.run(
        ["sh", "-c", text + 'printf %s "$LABVM_HOSTNAME"'], capture_output=True, text=True
    )
    assert out.stdout == "a'; reboot; '"
    with pytest.raises(ValueError):
        qemu.config_env({"x; rm": "1"})


@pytest.mark.skipif(not shutil.which("debugfs"), reason="needs e2fsprogs")
def test_the_config_disk_holds_the_files_and_the_lab(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    (lab / "provision").mkdir(parents=True)
    (lab / "docker-compose.yml").write_text("services: {}\n")
    (lab / "provision" / "registry.sh").write_text("#!/bin/sh\n")
    disk = tmp_path / "config.img"
    qemu.write_config_disk(disk, {"student": "alice:s3cret\n", "env": "A=1\n"}, lab)
    assert disk.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "config.img.tmp").exists()

    def debugfs(request: str) -> str:
        done = subprocess.run(
            ["debugfs", "-R", request, str(disk)], capture_output=True, text=True, check=True
        )
        return done.stdout

    assert debugfs("cat /student") == "alice:s3cret\n"
    assert debugfs("cat /lab/provision/registry.sh") == "#!/bin/sh\n"
    assert "Mode:  0600" in debugfs("stat /student")


def test_a_pid_counts_only_while_it_is_this_vms_qemu(tmp_path: Path) -> None:
    overlay = tmp_path / "disk.qcow2"
    pidfile = tmp_path / "qemu.pid"
    # A process whose command line names the overlay as QEMU's -drive does. Its first line
    # says it runs: just after exec the kernel may still show an empty /proc/PID/cmdline.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; print(1, flush=True); time.sleep(60)",
            f"file={overlay},if=virtio",
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    try:
        pidfile.write_text(f"{proc.pid}\n")
        assert qemu.read_pid(pidfile, overlay) == proc.pid
        assert qemu.read_pid(pidfile, tmp_path / "other.qcow2") is None
        qemu.stop(proc.pid, grace=5)
        assert proc.wait(5) is not None
        assert qemu.read_pid(pidfile, overlay) is None
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    pidfile.write_text("not a pid")
    assert qemu.read_pid(pidfile, overlay) is None


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    qemu.stop(proc.pid, grace=0.3)
    assert proc.wait(5) == -9


def test_kvm_blockers(tmp_path: Path) -> None:
    dev = tmp_path / "kvm"
    assert qemu.kvm_blocker(dev, tmp_path) == "no /dev/kvm"
    dev.write_text("")
    dev.chmod(0o600)
    assert qemu.kvm_blocker(dev, tmp_path) is None
    (tmp_path / "kvm_pvm").mkdir()
    assert "PVM" in (qemu.kvm_blocker(dev, tmp_path) or "")
