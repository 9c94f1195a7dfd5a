"""One lab box's footprint, for sizing a cluster's nodes: CPU to come up, memory once worked through.

    sudo LABGEN_SANDBOX=bench .venv/bin/python bench/bench_box_footprint.py [--runs 3]

Starts a sandboxed engine instance, builds the images once (not timed), then per run:
brings one lab box up (the box a Kubernetes pod runs: same image, same boot), reads the
CPU time its cgroup used (the box's engine, the nodes and their engines), works through
the whole tutorial in it (the checker's solve mode: every step, as a student types them),
waits 10 s, and reads its memory cgroup: rss (anonymous memory: what a node cannot
reclaim), usage less inactive file cache (as `docker stats` counts it), and the CPU time
the tutorial took. CPU seconds, unlike wall time, hardly move with the machine's load.
It is a report: it exits 0 unless a phase fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_class import cpu_seconds, idle_memory_mib
from labgen.backends.box import Runtime
from labgen.backends.labbox import LabBox
from labgen.check import runner
from labgen.classroom.boxes import box_spec
from labgen.classroom.create import plan_class
from labgen.classroom.model import open_class
from labgen.classroom.spec import parse_class
from labgen.render.write import write_lab
from labgen.steps.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
INSTANCE = os.environ.get("LABGEN_SANDBOX", "sbx")
RUN_DIR = "/run/labgen-sandbox" if INSTANCE == "sbx" else f"/run/labgen-{INSTANCE}-sandbox"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: the sandboxed engine needs root; run it with sudo")
    sandbox = REPO / "sandbox"
    os.environ["DOCKER_HOST"] = f"unix://{RUN_DIR}/docker.sock"
    subprocess.run(["bash", str(sandbox / "engine.sh"), "up"], check=True, capture_output=True)
    rows: list[tuple[float, float, float, float, float]] = []
    try:
        for step in ("build", "labbox"):
            subprocess.run(["bash", str(sandbox / "images.sh"), step], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            raw = {
                "name": "bench",
                "delivery": "hosted",
                "students": [f"r{run}" for run in range(args.runs)],
                "lab": {"mirror": "http://192.168.56.1:5555"},
                "hosted": {"server": "127.0.0.1", "ssh_ports": "2301-2399"},
            }
            classroom, _ = parse_class(raw, Path(tmp))
            write_lab(plan_class(classroom, os.urandom(32).hex()), Path(tmp) / "class", force=False)
            cls = open_class(Path(tmp) / "class")
            scenario = load_scenario(cls.lab)
            runtime = Runtime("labgen-runc", sandbox / "labgen-runc")
            for seat in cls.seats:  # one box at a time
                box = LabBox(box_spec(cls, seat, runtime))
                try:
                    start = time.monotonic()
                    box.up(_none)
                    wall = time.monotonic() - start
                    up_cpu = cpu_seconds(box)
                    solved = runner.solve(box, scenario, seat.student, 180, _none, _none)
                    if not solved.ok:
                        sys.exit("bench: the tutorial did not go through in the box")
                    time.sleep(10)
                    working, rss = idle_memory_mib(box)
                    rows.append((wall, up_cpu, cpu_seconds(box) - up_cpu, rss, working))
                finally:
                    box.down(_none)
    finally:
        subprocess.run(["bash", str(sandbox / "engine.sh"), "down"], check=False)

    print(f"one lab box, {args.runs} runs (median, then min-max):")
    names = (
        "up (wall)",
        "CPU to come up",
        "CPU for the tutorial",
        "rss after it",
        "memory after it",
    )
    units = ("s", "CPU-s", "CPU-s", "MiB", "MiB")
    for index, (name, unit) in enumerate(zip(names, units, strict=True)):
        values = [row[index] for row in rows]
        print(
            f"  {name:<22} {statistics.median(values):7.1f} {unit:<5} "
            f"({min(values):.1f}-{max(values):.1f})"
        )


def _none(*_: object) -> None:
    return None


if __name__ == "__main__":
    main()
