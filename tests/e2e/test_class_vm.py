"""A VM-isolated hosted class of two (hosted.isolation: vm) under QEMU's emulation (TCG).

alice does the tutorial through her own SSH command (`ssh -p PORT alice@SERVER`, then
`lab HOST CMD`), bob nothing; `class check` and `class report` must give exactly that.
Then, as root in alice's VM, the ways out are tried and must fail: the server's disk,
bob's VM, the server's ports, the sandbox's addresses, the class folder. A node removed
inside a running VM and a VM whose QEMU died are both brought back by `class up`, and
`down` leaves no QEMU process, overlay or forward. SSH goes to 127.0.0.1 only; the VMs'
network is QEMU's user mode with restrict=on: nothing leaves them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import MIRROR, SANDBOX_NETNS, SOLVE_STATUSES, StudentShell

from helpers import REPO_ROOT, missing, tool_or_skip
from labgen.backends import qemu
from labgen.backends.base import ExecResult
from labgen.backends.vmbox import VmBox
from labgen.check import runner
from labgen.classroom.boxes import box_for
from labgen.classroom.create import plan_class
from labgen.classroom.hosted import run_hosted
from labgen.classroom.model import Class, open_class
from labgen.classroom.spec import parse_class
from labgen.classroom.workshop import check_class, report_class_folder
from labgen.render.write import write_lab
from labgen.steps.scenario import load_scenario

pytestmark = pytest.mark.vm

CLASS = "vmc"
# Ports on the server's own loopback and interfaces (QEMU listens in the main namespace).
PORTS = "2281-2289"
SUITE = "trixie"


@pytest.fixture(scope="module")
def base_image(request: pytest.FixtureRequest) -> qemu.BaseImage:
    """The trixie VM base image of this checkout's lab box image: both scripts rebuild only
    what their recipe changed, so a base image left by older code is never what is tested."""
    for tool in ("qemu-system-x86_64", "qemu-img", "mkfs.ext4", "sshpass", "ssh"):
        tool_or_skip(tool)
    if os.geteuid() != 0:
        missing("building the VM base image needs root")
    env = request.getfixturevalue("engine")
    for script in (["images.sh", "labbox", SUITE], ["vm/labvm.sh", SUITE]):
        subprocess.run(["bash", str(REPO_ROOT / "sandbox" / script[0]), *script[1:]],
                       check=True, env=env)  # fmt: skip
    base = qemu.BaseImage(qemu.DEFAULT_IMAGES / SUITE)
    assert base.missing() is None, base.missing()
    return base


@pytest.fixture
def vm_class(base_image: qemu.BaseImage, tmp_path: Path) -> Iterator[Class]:
    """A class of two in VMs, up; taken down at the end whatever happens."""
    raw = {
        "name": CLASS,
        "delivery": "hosted",
        "students": ["alice", "bob"],
        "lab": {"mirror": MIRROR},
        "hosted": {"server": "127.0.0.1", "ssh_ports": PORTS, "isolation": "vm"},
    }
    classroom, _ = parse_class(raw, tmp_path)
    folder = tmp_path / "class"
    write_lab(plan_class(classroom, os.urandom(32).hex()), folder, force=False)
    cls = open_class(folder)
    try:
        outcomes = run_hosted(cls, "up", jobs=2, students=None, out=io.StringIO())
        assert [o.ok for o in outcomes] == [True, True], outcomes
        yield cls
    finally:
        run_hosted(cls, "down", jobs=2, students=None, out=io.StringIO())


def as_root(box: VmBox, script: str, timeout: float = 60) -> ExecResult:
    """A script run as root in the VM itself (labgen's key), not in a node."""
    done = box._vm(script, timeout)
    assert not done.error, done.error
    return done


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Listener:
    """A TCP port on the server that answers anyone who connects (the server's other
    services, as far as a VM could tell)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("0.0.0.0", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted += 1
            conn.sendall(b"server\n")
            conn.close()


def reach(box: VmBox, address: str, port: int) -> ExecResult:
    """A TCP connection from the VM (as root) to address:port, 4 s at most."""
    return as_root(box, f"timeout 4 bash -c 'exec 3<>/dev/tcp/{address}/{port}' && echo open")


def server_addresses() -> list[str]:
    """The server's own IPv4 addresses outside loopback (its interfaces' addresses)."""
    listed = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True)
    found = [line.split()[3].split("/")[0] for line in listed.stdout.splitlines()]
    return [a for a in found if not a.startswith("127.")]


def sandbox_addresses() -> list[str]:
    """The sandbox engine's addresses (its network namespace's), when it runs."""
    listed = subprocess.run(
        ["ip", "netns", "exec", SANDBOX_NETNS, "ip", "-4", "-o", "addr", "show"],
        capture_output=True,
        text=True,
    )
    found = [line.split()[3].split("/")[0] for line in listed.stdout.splitlines()]
    return [a for a in found if not a.startswith("127.")]


def test_vm_class_of_two(vm_class: Class, base_image: qemu.BaseImage) -> None:
    cls = vm_class
    alice_seat, bob_seat = cls.seats
    alice, bob = (box_for(cls, seat) for seat in cls.seats)
    assert isinstance(alice, VmBox) and isinstance(bob, VmBox)
    scenario = load_scenario(cls.lab)
    every_goal = {g.id for g in scenario.goals}

    # Each student's own password opens their VM; bob's does not open alice's.
    assert StudentShell(alice_seat).login("true").exit_code == 0
    assert StudentShell(bob_seat).login("true").exit_code == 0
    assert StudentShell(alice_seat, bob_seat.password).login("true").exit_code != 0
    # Login and node shells in the VM are UTF-8, as in a container box.
    assert StudentShell(alice_seat).login("locale charmap").stdout.strip() == "UTF-8"
    assert StudentShell(alice_seat).exec("registry", "locale charmap", 60).stdout.strip() == "UTF-8"

    # alice: the whole tutorial, each step typed in her own SSH session.
    solved = runner.solve(
        StudentShell(alice_seat), scenario, "alice", 240, lambda *_: None, lambda _: None
    )
    assert solved.ok, [(r.id, r.host, r.status, r.excerpt) for r in solved.results]
    assert {(r.id, r.host): r.status for r in solved.results if r.status != "pass"} == (
        SOLVE_STATUSES
    )

    # Grading through each VM (ssh as root, docker exec in the node) gives exactly that.
    assert check_class(cls, jobs=2, students=None, timeout=90)
    report_class_folder(cls, None, None)
    matrix = json.loads((cls.folder / "report.json").read_text(encoding="utf-8"))
    not_done = {
        row["id"]: {goal for goal, cell in row["goals"].items() if cell["state"] != "done"}
        for row in matrix["students"]
    }
    assert not_done == {"alice": set(), "bob": every_goal}

    # ---- From inside alice's VM, as root: the ways out.
    kept = fingerprint(cls.folder / "secrets") | fingerprint(cls.folder / "results")
    # The server's disk is not there: the VM's block devices are its overlay (the base
    # image's size) and its config disk, and no file system from the server is mounted.
    devices = as_root(alice, "cat /proc/partitions").stdout.split()
    blocks = [name for name in devices if name.startswith(("vd", "sd", "hd", "nvme", "xvd"))]
    assert sorted(blocks) == ["vda", "vdb"], devices
    size = int(as_root(alice, "blockdev --getsize64 /dev/vda").stdout)
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(base_image.disk)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert size == json.loads(info.stdout)["virtual-size"]
    mounts = as_root(alice, "cat /proc/mounts").stdout
    assert not any(kind in mounts for kind in (" 9p ", "virtiofs", " nfs", "fuse.sshfs"))
    # The config disk holds alice's own account and nothing of the class's secrets.
    seed = (cls.folder / "secrets" / "seed").read_text(encoding="utf-8").strip()
    for secret in (seed, bob_seat.password):
        found = as_root(alice, f"grep -c -a -F {shlex.quote(secret)} /dev/vdb || true")
        assert found.stdout.strip() == "0"
    assert as_root(alice, f"grep -c -a -F {alice_seat.password} /dev/vdb").stdout.strip() == "1"

    # Nothing outside answers: bob's SSH port, a listening port of the server, the
    # server's addresses, the sandbox's, QEMU's host and DNS addresses.
    listener = Listener()
    try:
        with socket.create_connection(("127.0.0.1", listener.port), 5) as probe:
            # Its greeting comes after the count: read, the count includes this connection.
            assert probe.recv(16) == b"server\n"
        with socket.create_connection(("127.0.0.1", bob_seat.ssh_port), 5):
            pass  # bob's forward is there, from the server
        accepted = listener.accepted
        targets = [("10.0.2.2", bob_seat.ssh_port), ("10.0.2.2", listener.port),
                   ("10.0.2.2", 22), ("10.0.2.3", 53)]  # fmt: skip
        targets += [(a, p) for a in server_addresses() for p in (listener.port, bob_seat.ssh_port)]
        # The sandbox engine's addresses (its docker0, 172.17.0.1) are the VM's own too: the
        # VM runs a Docker Engine with the same defaults, so those would answer from inside.
        own = set(
            as_root(alice, "ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1").stdout.split()
        )
        targets += [(a, 5555) for a in sandbox_addresses() if a not in own]
        # The VM has no route out; root adds one through QEMU's gateway, as an attacker would.
        routes = as_root(alice, "ip -4 route").stdout
        assert "default" not in routes, routes
        as_root(alice, "ip route add default via 10.0.2.2")
        tried = {f"{a}:{p}": reach(alice, a, p) for a, p in targets}
        as_root(alice, "ip route del default")
        for target, result in tried.items():  # shown with -s: what each attempt met
            print(f"escape {target}: {result.output.splitlines()[-1:]}")
        opened = {target: r.output for target, r in tried.items() if "open" in r.stdout}
        assert opened == {}
        assert listener.accepted == accepted
    finally:
        listener.socket.close()
    # Nothing in the class folder changed while alice's root tried.
    assert fingerprint(cls.folder / "secrets") | fingerprint(cls.folder / "results") == kept

    # ---- Repair: a node removed in alice's VM, bob's VM gone (its QEMU killed).
    node = alice.node("registry")
    assert as_root(alice, f"docker rm -f {node}").exit_code == 0
    bob_pid = bob.pid()
    assert bob_pid is not None
    qemu.stop(bob_pid)
    assert bob.state() == "stopped"
    outcomes = run_hosted(cls, "up", jobs=2, students=None, out=io.StringIO())
    assert [o.ok for o in outcomes] == [True, True], outcomes
    assert "registry" in outcomes[0].detail and "repaired" in outcomes[0].detail
    assert as_root(alice, f"docker inspect -f '{{{{.State.Running}}}}' {node}").stdout.strip() == (
        "true"
    )
    assert bob.state() == "running" and bob.pid() != bob_pid
    assert all(o.ok for o in run_hosted(cls, "status", jobs=2, students=None, out=io.StringIO()))

    # ---- down: no QEMU, no overlay, no forward.
    pids = [alice.pid(), bob.pid()]
    outcomes = run_hosted(cls, "down", jobs=2, students=None, out=io.StringIO())
    assert all(o.ok for o in outcomes), outcomes
    for pid in pids:
        assert pid is not None and ended(pid)
    assert [p for p in processes() if str(cls.folder) in p] == []
    assert not list((cls.folder / "vms").glob("*/*.qcow2"))
    for seat in cls.seats:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", seat.ssh_port), 2).close()


def ended(pid: int) -> bool:
    """The process is gone, or has exited and waits for this machine's init to reap it
    (QEMU daemonized: it is not labgen's child)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def processes() -> list[str]:
    """Every process's command line (those that end while being read are skipped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return found
