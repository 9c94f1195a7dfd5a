"""The lab box in a VM (hosted.isolation: vm) with a stand-in for ssh and QEMU: what it
makes, the commands it runs, how it reads its state, and what `down` leaves."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from labgen.backends import qemu
from labgen.backends.base import ExecResult, wrap
from labgen.backends.box import BoxSpec, Limits
from labgen.backends.vmbox import NODE_ENTRYPOINT, VmBox, vm_override, vm_students
from labgen.errors import LabgenError
from labgen.lab import open_lab
from labgen.render.plan import plan_lab
from labgen.render.write import write_lab
from labgen.spec.parse import parse_spec


def make_lab(folder: Path, **raw: object) -> Path:
    spec, _ = parse_spec({"mirror": "http://192.168.56.1:5555", **raw})
    write_lab(plan_lab(spec, "compose"), folder, force=False)
    return folder


def base_image(root: Path) -> Path:
    folder = root / "images" / "trixie-k1"
    folder.mkdir(parents=True)
    for name in ("disk.qcow2", "vmlinuz", "initrd.img"):
        (folder / name).write_text("")
    (root / "images" / "trixie").symlink_to("trixie-k1")
    return root / "images"


class FakeServer:
    """Stands in for ssh-keygen, qemu-img and QEMU (a sleeping process whose command line
    names the overlay, as QEMU's does), and for ssh into the VM (answers `answer`)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.stdin: list[str | None] = []
        self.children: list[subprocess.Popen[bytes]] = []
        self.answer = ExecResult(0, "", "", 0.0)

    def __call__(
        self, argv: Sequence[str], timeout: float, *, stdin: str | None = None
    ) -> ExecResult:
        argv = list(argv)
        self.calls.append(argv)
        self.stdin.append(stdin)
        if argv[0] == "ssh-keygen":
            key = Path(argv[argv.index("-f") + 1])
            key.write_text("private\n")
            key.with_name(key.name + ".pub").write_text("ssh-ed25519 AAAA labgen\n")
        elif argv[:2] == ["qemu-img", "create"]:
            Path(argv[-1]).write_text("overlay")
        elif argv[:2] == ["qemu-img", "info"]:
            folder = Path(argv[-1]).parent.parent.parent / "images" / "trixie-k1"
            text = json.dumps({"backing-filename": str(folder / "disk.qcow2")}, indent=4)
            return ExecResult(0, text, "", 0.0)
        elif argv[0] == qemu.QEMU:
            drive = next(a for a in argv if a.startswith("file=") and "qcow2" in a)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", drive])
            self.children.append(child)
            # As QEMU's -daemonize does: return once the process runs as itself.
            while drive.encode() not in Path(f"/proc/{child.pid}/cmdline").read_bytes():
                time.sleep(0.01)
            Path(argv[argv.index("-pidfile") + 1]).write_text(f"{child.pid}\n")
        elif argv[0] == "ssh":
            if stdin is not None and self.answer.exit_code != 255:
                # The VM's shell ran the whole script: the wrapper's end marker is there.
                done = subprocess.run(["sh"], input=stdin, capture_output=True, text=True)
                # (END stands on a line of its own, as the wrapper prints it.)
                marks = "".join(
                    ("\n" if "@labgen-end" in line else "") + line + "\n"
                    for line in done.stderr.splitlines()
                    if "@labgen" in line
                )
                return ExecResult(
                    self.answer.exit_code, self.answer.stdout, marks + self.answer.stderr, 0.0
                )
            return self.answer
        return ExecResult(0, "", "", 0.0)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    for child in fake.children:
        child.kill()
        child.wait()


def make_box(tmp_path: Path, server: FakeServer, **lab: object) -> VmBox:
    spec = BoxSpec(
        class_name="ws",
        student="alice",
        ssh_port=2201,
        account="alice:s3cret\n",
        lab=make_lab(tmp_path / "lab", **lab),
        limits=Limits(cpus=1.5, memory="1G", pids=512),
    )
    return VmBox(
        spec,
        tmp_path / "class" / "vms",
        images=base_image(tmp_path),
        ready_timeout=0,
        run=server,
        choose_accel=lambda base: ("tcg", "emulation (TCG, slow): test"),
    )


def test_the_override_starts_containerd_first_on_docker_hosts_only(tmp_path: Path) -> None:
    lab = open_lab(
        make_lab(
            tmp_path / "lab",
            hosts=[
                {"name": "registry", "role": "registry", "ip": "192.168.56.101"},
                {"name": "client", "role": "client", "ip": "192.168.56.102", "engine": "podman"},
            ],
        )
    )
    services = yaml.safe_load(vm_override(lab))["services"]
    assert services["registry"] == {
        "tmpfs": ["/run"],
        "entrypoint": ["/bin/sh", "-c", NODE_ENTRYPOINT],
    }
    assert services["client"] == {"tmpfs": ["/run"]}
    # compose reads `$$` as `$`: the shell sees its own variables.
    assert "$$i" in NODE_ENTRYPOINT and "$i" not in NODE_ENTRYPOINT.replace("$$", "")


def test_a_lab_without_mirror_is_refused_before_anything_is_made(
    tmp_path: Path, server: FakeServer
) -> None:
    spec, _ = parse_spec({})
    write_lab(plan_lab(spec, "compose"), tmp_path / "bare", force=False)
    box = make_box(tmp_path, server)
    box.lab = open_lab(tmp_path / "bare")
    with pytest.raises(LabgenError, match=r"mirror: http://192\.168\.56\.1:5555"):
        box.up(lambda _: None)
    assert server.calls == [] and not box.folder.exists()


def test_a_missing_base_image_names_the_script_that_builds_it(
    tmp_path: Path, server: FakeServer
) -> None:
    box = make_box(tmp_path, server)
    (tmp_path / "images" / "trixie-k1" / "vmlinuz").unlink()
    with pytest.raises(LabgenError, match=r"sandbox/vm/labvm.sh trixie"):
        box.up(lambda _: None)
    assert not box.folder.exists()


def test_up_makes_the_folder_starts_qemu_and_down_leaves_nothing(
    tmp_path: Path, server: FakeServer
) -> None:
    box = make_box(tmp_path, server)
    assert box.state() == "not created"
    said: list[str] = []
    # The stand-in VM has no sshd: up gives up (ready_timeout 0) once QEMU runs.
    server.answer = ExecResult(1, "", "", 0.0)
    with pytest.raises(LabgenError, match="sshd did not answer"):
        box.up(said.append)
    assert box.state() == "running"
    assert said[0] == "creating VM labgen-ws-alice (ssh port 2201)"
    assert said[1] == "starting the VM: emulation (TCG, slow): test"
    assert sorted(p.name for p in box.folder.iterdir()) == [
        "config.img", "disk.qcow2", "id_ed25519", "id_ed25519.pub", "qemu.pid",
    ]  # fmt: skip
    assert box.folder.stat().st_mode & 0o777 == 0o700
    qemu_argv = next(c for c in server.calls if c[0] == qemu.QEMU)
    assert qemu_argv[qemu_argv.index("-smp") + 1] == "2"  # 1.5 CPUs: two whole vCPUs
    assert qemu_argv[qemu_argv.index("-m") + 1] == "1024M"
    assert not any("s3cret" in arg for call in server.calls for arg in call)
    overlay = next(c for c in server.calls if c[:2] == ["qemu-img", "create"])
    assert overlay[overlay.index("-b") + 1] == str(tmp_path / "images" / "trixie-k1" / "disk.qcow2")

    pid = box.pid()
    assert pid is not None
    box.down(lambda _: None)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert box.state() == "not created" and not box.folder.exists()
    assert vm_students(tmp_path / "class" / "vms") == set()


def test_the_config_disk_carries_the_account_the_key_and_the_env(
    tmp_path: Path, server: FakeServer
) -> None:
    box = make_box(tmp_path, server)
    files = box._config_files(_keypair(tmp_path))
    assert files["student"] == "alice:s3cret\n"
    assert files["authorized_keys"] == "ssh-ed25519 AAAA labgen\n"
    assert files["env"] == (
        "LABBOX_USER=alice\nLABBOX_LAB_GATEWAY=192.168.56.1\n"
        "LABVM_HOSTNAME=alice-lab\nLABVM_PIDS=512\n"
    )


def _keypair(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    key.write_text("private\n")
    key.with_name("id_ed25519.pub").write_text("ssh-ed25519 AAAA labgen\n")
    return key


def test_exec_goes_over_ssh_to_the_node_with_the_command_on_stdin(
    tmp_path: Path, server: FakeServer
) -> None:
    box = make_box(tmp_path, server)
    assert box.exec("registry", "docker ps", 30).error == "the VM labgen-ws-alice is not running"
    server.answer = ExecResult(1, "", "", 0.0)
    with pytest.raises(LabgenError):
        box.up(lambda _: None)
    server.calls.clear()
    server.stdin.clear()
    server.answer = ExecResult(0, "CONTAINER ID\n", "", 0.0)
    done = box.exec("registry", "docker ps", 30)
    assert done.error == "" and done.stdout == "CONTAINER ID\n"
    call = server.calls[-1]
    assert call[0] == "ssh" and call[-2:] == [
        "root@127.0.0.1",
        "docker exec -i registry-lab-registry-1 sh",
    ]
    assert call[call.index("-p") : call.index("-p") + 2] == ["-p", "2201"]
    assert server.stdin[-1] == wrap("docker ps")
    # ssh itself failing (exit 255, the script never ran) is an error, not a failed check.
    server.answer = ExecResult(255, "", "Connection refused\n", 0.0)
    assert "Connection refused" in box.exec("registry", "true", 30).error


def test_students_with_a_vm_folder(tmp_path: Path) -> None:
    root = tmp_path / "vms"
    assert vm_students(root) == set()
    (root / "alice").mkdir(parents=True)
    (root / ".bob.tmp").mkdir()
    (root / "carol").write_text("")
    assert vm_students(root) == {"alice"}
