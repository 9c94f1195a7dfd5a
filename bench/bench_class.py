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

from labgen.check import runner
from labgen.classroom.hosted import make_boxes, render_lab, run_class
from labgen.classroom.labbox import LabBox, Limits, Runtime, Seat
from labgen.spec.parse import parse_spec
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
    boxes: list[LabBox] = []
    try:
        for step in ("build", "labbox"):
            subprocess.run(["bash", str(sandbox / "images.sh"), step], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            spec, _ = parse_spec({"mirror": "http://192.168.56.1:5555"})
            lab = render_lab(spec, Path(tmp) / "lab")
            seats = [
                Seat("bench", f"s{i:02d}", 2300 + i, f"pw{i}") for i in range(1, args.students + 1)
            ]
            runtime = Runtime("labgen-runc", sandbox / "labgen-runc")
            boxes = make_boxes(lab, seats, Limits(), runtime)
            start = time.monotonic()
            ups = run_class(boxes, "up", args.jobs, out=io.StringIO())
            up = time.monotonic() - start
            if not all(o.ok for o in ups):
                sys.exit(f"bench: up failed: {[o for o in ups if not o.ok]}")
            up_cpu = [cpu_seconds(box) for box in boxes]

            scenario = load_scenario(spec)

            def grade(box: LabBox) -> float:
                report = runner.grade(box, scenario, box.seat.student, 60, _none, _none)
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
            downs = run_class(boxes, "down", args.jobs, out=io.StringIO())
            down = time.monotonic() - start
            boxes = [] if all(o.ok for o in downs) else boxes
    finally:
        if boxes:
            run_class(boxes, "down", args.jobs, out=io.StringIO())
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
