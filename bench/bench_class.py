"""A hosted class of 8 lab boxes on a real engine: up, grade, idle memory per lab, down.

    sudo LABGEN_SANDBOX=bench .venv/bin/python bench/bench_class.py [--students 8] [--jobs 8]

Starts a sandboxed engine instance (LABGEN_SANDBOX, as the end-to-end tests do), builds
the images once (not timed), then times: `up` of every box (--jobs at a time), grading
every lab with the checker's grade mode (all labs at once), and `down`. Idle memory is
read from each box's memory cgroup ten seconds after grading (usage less inactive file
cache, as `docker stats` counts it; the box that first reads the shared node image
data is also charged its page cache), with rss (anonymous memory) beside it.
CPU time per box (its cgroup's cpuacct) is printed beside up: wall times depend on what
else the machine runs. Targets: up <= 60 s, grade <= 20 s, idle memory <= 250 MiB per
lab. It is a report: it exits 0 unless a phase fails.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from labgen.backends.box import Runtime
from labgen.backends.labbox import LabBox
from labgen.check import runner
from labgen.classroom.boxes import box_spec
from labgen.classroom.create import plan_class
from labgen.classroom.hosted import run_hosted
from labgen.classroom.model import open_class
from labgen.classroom.spec import parse_class
from labgen.render.write import write_lab
from labgen.steps.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
INSTANCE = os.environ.get("LABGEN_SANDBOX", "sbx")
RUN_DIR = "/run/labgen-sandbox" if INSTANCE == "sbx" else f"/run/labgen-{INSTANCE}-sandbox"
TARGETS = {"up": 60.0, "grade": 20.0, "memory": 250.0}


def box_cgroup(box: LabBox, hierarchy: str) -> Path:
    """The box container's cgroup folder in a cgroup v1 hierarchy (memory, cpuacct)."""
    box_id = subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", box.container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    found = subprocess.run(
        ["find", f"/sys/fs/cgroup/{hierarchy}/", "-maxdepth", "6", "-type", "d", "-name", box_id],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not found:
        sys.exit(f"bench: no {hierarchy} cgroup for {box.container}")
    return Path(found[0])


def cpu_seconds(box: LabBox) -> float:
    """CPU time the box (its engine, nodes and their engines) has used: robust to a busy machine."""
    return int((box_cgroup(box, "cpuacct") / "cpuacct.usage").read_text()) / 1e9


def idle_memory_mib(box: LabBox) -> tuple[float, float]:
    """The box's memory cgroup (v1): usage less inactive file cache, and anonymous memory (rss)."""
    folder = box_cgroup(box, "memory")
    usage = int((folder / "memory.usage_in_bytes").read_text())
    stats = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    working = usage - int(stats["total_inactive_file"])
    return working / 2**20, int(stats["total_rss"]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: the sandboxed engine needs root; run it with sudo")
    sandbox = REPO / "sandbox"
    os.environ["DOCKER_HOST"] = f"unix://{RUN_DIR}/docker.sock"
    subprocess.run(["bash", str(sandbox / "engine.sh"), "up"], check=True, capture_output=True)
    runtime = Runtime("labgen-runc", sandbox / "labgen-runc")
    boxes: list[LabBox] = []
    try:
        for step in ("build", "labbox"):
            subprocess.run(["bash", str(sandbox / "images.sh"), step], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            raw = {
                "name": "bench",
                "delivery": "hosted",
                "students": args.students,
                "lab": {"mirror": "http://192.168.56.1:5555"},
                "hosted": {"server": "127.0.0.1", "ssh_ports": "2301-2399"},
            }
            classroom, _ = parse_class(raw, Path(tmp))
            write_lab(plan_class(classroom, os.urandom(32).hex()), Path(tmp) / "class", force=False)
            cls = open_class(Path(tmp) / "class")
            boxes = [LabBox(box_spec(cls, seat, runtime)) for seat in cls.seats]
            start = time.monotonic()
            ups = run_hosted(cls, "up", args.jobs, None, runtime, out=io.StringIO())
            up = time.monotonic() - start
            if not all(o.ok for o in ups):
                sys.exit(f"bench: up failed: {[o for o in ups if not o.ok]}")
            up_cpu = [cpu_seconds(box) for box in boxes]

            scenario = load_scenario(cls.lab)

            def grade(box: LabBox) -> float:
                report = runner.grade(box, scenario, box.spec.student, 60, _none, _none)
                return report.duration

            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=len(boxes)) as pool:
                grades = list(pool.map(grade, boxes))
            graded = time.monotonic() - start

            time.sleep(10)
            measured = [idle_memory_mib(box) for box in boxes]
            memory = [working for working, _ in measured]
            rss = [anonymous for _, anonymous in measured]

            start = time.monotonic()
            downs = run_hosted(cls, "down", args.jobs, None, out=io.StringIO())
            down = time.monotonic() - start
            boxes = [] if all(o.ok for o in downs) else boxes
    finally:
        for box in boxes:
            box.down(lambda _: None)
        subprocess.run(["bash", str(sandbox / "engine.sh"), "down"], check=False)

    print(f"hosted class of {args.students} lab boxes (jobs {args.jobs}), images cached:")
    print(
        f"  up      {up:6.1f} s   per box median {statistics.median(o.seconds for o in ups):.1f} s, "
        f"CPU {statistics.median(up_cpu):.1f} s per box (median)"
    )
    print(f"  grade   {graded:6.1f} s   per lab median {statistics.median(grades):.1f} s")
    print(
        f"  memory  {statistics.median(memory):6.0f} MiB per lab (median; max {max(memory):.0f}, "
        f"min {min(memory):.0f}); rss median {statistics.median(rss):.0f} MiB"
    )
    print(
        f"  down    {down:6.1f} s   per box median {statistics.median(o.seconds for o in downs):.1f} s"
    )
    for name, value in (("up", up), ("grade", graded), ("memory", statistics.median(memory))):
        ratio = value / TARGETS[name]
        print(
            f"  {name:<7} {ratio:5.2f} of target {TARGETS[name]:g}: {'PASS' if ratio <= 1 else 'MISS'}"
        )


def _none(*_: object) -> None:
    return None


if __name__ == "__main__":
    main()
