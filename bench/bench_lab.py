"""How long a whole lab takes on a real engine: `labgen up`, `check` (solve) and `down`.

    sudo .venv/bin/python bench/bench_lab.py [--runs N]     (or: sudo make bench-lab)

Starts labgen's sandboxed engine (as the end-to-end tests do), builds the images once
(not timed: "images cached" is the case measured), then N times (default 3) creates the
default lab with the sandbox's mirror and times each phase as a whole process. Prints
the median of each and of up + check + down; target: <= 25 s on 2 cores. Always exits
0 unless a phase fails: it is a report.
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

REPO = Path(__file__).resolve().parent.parent
LABGEN = str(Path(sys.executable).with_name("labgen"))
TARGET_S = 25.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    if os.geteuid() != 0:
        sys.exit("bench: the sandboxed engine needs root; run it with sudo")
    sandbox = REPO / "sandbox"
    subprocess.run(["bash", str(sandbox / "engine.sh"), "up"], check=True, capture_output=True)
    env = {**os.environ, "DOCKER_HOST": "unix:///run/labgen-sandbox/docker.sock"}
    phases: dict[str, list[float]] = {"up": [], "check": [], "down": [], "total": []}
    try:
        subprocess.run(
            ["bash", str(sandbox / "images.sh"), "build"], check=True, env=env, capture_output=True
        )
        with tempfile.TemporaryDirectory() as tmp:
            lab = str(Path(tmp) / "registry-lab")
            create = [
                LABGEN,
                "create",
                "--mirror",
                "http://192.168.56.1:5555",
                "--out",
                lab,
                "--force",
            ]
            subprocess.run(create, check=True, env=env, capture_output=True)
            for _ in range(runs):
                up = timed([LABGEN, "up", lab, "--runtime", "labgen-runc"], env)
                check = timed([LABGEN, "check", lab, "--mode", "solve"], env)
                down = timed([LABGEN, "down", lab], env)
                for name, value in (
                    ("up", up),
                    ("check", check),
                    ("down", down),
                    ("total", up + check + down),
                ):
                    phases[name].append(value)
    finally:
        subprocess.run(
            ["bash", str(sandbox / "engine.sh"), "down"], check=False, capture_output=True
        )
    print(f"labgen lab on the sandboxed engine, {runs} runs, medians (images cached):")
    for name, values in phases.items():
        print(
            f"  {name:<6} {statistics.median(values):6.1f} s   (runs: {', '.join(f'{v:.1f}' for v in values)})"
        )
    total = statistics.median(phases["total"])
    verdict = "PASS" if total <= TARGET_S else "MISS"
    print(f"  up + check + down: {total:.1f} s, target <= {TARGET_S:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
