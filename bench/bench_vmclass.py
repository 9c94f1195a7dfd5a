"""A hosted class of 2 with `isolation: vm` against the same class with `isolation: container`.

    sudo LABGEN_SANDBOX=bench .venv/bin/python bench/bench_vmclass.py [--runs 3]

For each isolation, in the same run, each round makes a class of two (alice, bob) and
times: `class up` (both at once), each VM's boot to SSH (from QEMU's start to sshd's first
answer), `class check` of the two, memory per student after the check (the QEMU process's
RSS for a VM; the box's memory cgroup less inactive file cache for a container), and
`class down`. Prints the medians and VM/container ratios. The VMs run under whatever
`qemu.choose_accel` picks (here: TCG, software emulation). The sandbox engine (started
here) is needed for the container class and to build the VM base image once (not timed).
It is a report: it exits 0 unless a phase fails.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labgen.backends import qemu
from labgen.backends.box import Runtime
from labgen.backends.vmbox import VmBox
from labgen.classroom.boxes import box_for
from labgen.classroom.create import plan_class
from labgen.classroom.hosted import run_hosted
from labgen.classroom.model import Class, open_class
from labgen.classroom.spec import parse_class
from labgen.classroom.workshop import check_class
from labgen.render.write import write_lab

REPO = Path(__file__).resolve().parent.parent
INSTANCE = os.environ.get("LABGEN_SANDBOX", "sbx")
RUN_DIR = "/run/labgen-sandbox" if INSTANCE == "sbx" else f"/run/labgen-{INSTANCE}-sandbox"
BOOTED = re.compile(r"sshd answers (\d+(?:\.\d+)?) s after QEMU started")


def make_class(folder: Path, isolation: str) -> Class:
    raw = {
        "name": f"bench{isolation[:2]}",
        "delivery": "hosted",
        "students": ["alice", "bob"],
        "lab": {"mirror": "http://192.168.56.1:5555"},
        "hosted": {"server": "127.0.0.1", "ssh_ports": "2291-2299", "isolation": isolation},
    }
    classroom, _ = parse_class(raw, folder)
    write_lab(plan_class(classroom, os.urandom(32).hex()), folder / "class", force=False)
    return open_class(folder / "class")


def container_memory_mib(prefix: str) -> float:
    """A box's memory cgroup (v1): usage less inactive file cache, as `docker stats` counts."""
    box_id = subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", prefix], capture_output=True, text=True, check=True
    ).stdout.strip()
    found = subprocess.run(
        ["find", "/sys/fs/cgroup/memory/", "-maxdepth", "6", "-type", "d", "-name", box_id],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    folder = Path(found[0])
    usage = int((folder / "memory.usage_in_bytes").read_text())
    stats = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    return (usage - int(stats["total_inactive_file"])) / 2**20


def qemu_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (QEMU: everything its VM did)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(isolation: str, runtime: Runtime | None) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="labgen-bench-") as tmp:
        cls = make_class(Path(tmp), isolation)
        board = io.StringIO()
        try:
            start = time.monotonic()
            ups = run_hosted(cls, "up", 2, None, runtime=runtime, out=board)
            figures["up"] = [time.monotonic() - start]
            if not all(o.ok for o in ups):
                sys.exit(f"bench: {isolation} up failed: {[o for o in ups if not o.ok]}")
            figures["boot to ssh"] = [float(m) for m in BOOTED.findall(board.getvalue())]
            start = time.monotonic()
            if not check_class(cls, jobs=2, students=None, timeout=120):
                sys.exit(f"bench: {isolation} check could not reach a lab")
            figures["check"] = [time.monotonic() - start]
            time.sleep(10)
            boxes = [box_for(cls, seat, runtime) for seat in cls.seats]
            if isolation == "vm":
                pids = [box.pid() for box in boxes if isinstance(box, VmBox)]
                figures["memory"] = [qemu_rss_mib(pid) for pid in pids if pid]
                figures["cpu"] = [cpu_seconds(pid) for pid in pids if pid]
            else:
                figures["memory"] = [container_memory_mib(box.spec.prefix) for box in boxes]
        finally:
            start = time.monotonic()
            downs = run_hosted(cls, "down", 2, None, runtime=runtime, out=io.StringIO())
            figures["down"] = [time.monotonic() - start]
            if not all(o.ok for o in downs):
                sys.exit(f"bench: {isolation} down failed: {downs}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: the sandboxed engine and QEMU's user switch need root; run with sudo")
    sandbox = REPO / "sandbox"
    os.environ["DOCKER_HOST"] = f"unix://{RUN_DIR}/docker.sock"
    subprocess.run(["bash", str(sandbox / "engine.sh"), "up"], check=True, capture_output=True)
    for step in (["images.sh", "build"], ["images.sh", "labbox", "trixie"], ["vm/labvm.sh"]):
        subprocess.run(["bash", str(sandbox / step[0]), *step[1:]], check=True)
    runtime = Runtime("labgen-runc", sandbox / "labgen-runc")
    accel, why = qemu.choose_accel(qemu.BaseImage(qemu.DEFAULT_IMAGES / "trixie"))
    results: dict[str, dict[str, list[float]]] = {"vm": {}, "container": {}}
    for _ in range(args.runs):
        # One class at a time: the machine's two cores are shared.
        for isolation in ("vm", "container"):
            got = one_round(isolation, runtime if isolation == "container" else None)
            for name, values in got.items():
                results[isolation].setdefault(name, []).extend(values)

    print(f"hosted class of 2, {args.runs} round(s); VMs: {why}")
    print(f"  {'':<12} {'vm':>9} {'container':>10} {'vm/container':>13}")
    units = {"memory": "MiB", "cpu": "s"}
    for name in ("up", "boot to ssh", "check", "memory", "cpu", "down"):
        vm = results["vm"].get(name)
        box = results["container"].get(name)
        vm_text = f"{statistics.median(vm):8.1f}" if vm else f"{'-':>8}"
        box_text = f"{statistics.median(box):9.1f}" if box else f"{'-':>9}"
        ratio = (
            f"{statistics.median(vm) / statistics.median(box):12.2f}x"
            if vm and box
            else f"{'':>13}"
        )
        print(f"  {name:<12} {vm_text} {box_text} {ratio}  {units.get(name, 's')} (median)")
    print(f"  accel: {accel}")


if __name__ == "__main__":
    main()
