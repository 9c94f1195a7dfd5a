"""How long `labgen class report` takes for a class of 100 students x 6 goals.

    .venv/bin/python bench/bench_class_report.py [--runs N] [--students N]

Builds a class folder with hand-made result files (three runs per student, so the latest
must be found among a history; a quarter finished, the rest spread over the goals, a few
unreachable), then times, as medians over N runs (default 9) after one warm-up:

  (a) floor:   python -c "import click, yaml, jinja2, msgspec"
  (b) report:  labgen class report CLASS     (the venv's console script, whole process)
  (c) build:   report_class() in this process (read results, build, write the 3 files)

Target: (b) <= 1.0 s, so that `class watch` can rewrite the page every few seconds.
Prints PASS/MISS; always exits 0: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

TARGET_S = 1.0


def script(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        sys.exit(f"bench: `{name}` is not installed; run `make` (pip install -e '.[dev]') first")
    return found


def make_class(folder: Path, students: int) -> None:
    """class.yaml and three result files per student, in `class check`'s format."""
    from labgen.check import report as check_report
    from labgen.check.results import CheckReport, CheckResult
    from labgen.spec.parse import parse_spec
    from labgen.steps.scenario import load_scenario

    spec = parse_spec({})[0]
    scenario = load_scenario(spec)
    ids = [f"student-{n:03d}" for n in range(students)]
    (folder / "class.yaml").write_text(
        json.dumps({"name": "bench", "delivery": "byod", "students": ids}), encoding="utf-8"
    )
    start = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    for n, student in enumerate(ids):
        for run in range(3):
            moment = start + timedelta(minutes=10 * run, seconds=n)
            reached = n % 17 != 5 or run < 2
            held = len(scenario.goals) if n % 4 == 0 else (n + run) % (len(scenario.goals) + 1)
            results = [
                CheckResult(
                    goal.id,
                    host.name,
                    goal.title.en,
                    goal.run,
                    "pass" if number < held else "fail",
                    0.05,
                    "holds",
                    "" if number < held else f"not yet: {goal.hint.en}",
                    0 if number < held else 1,
                    "" if number < held else "Error response from daemon: <something> went wrong",
                )
                for number, goal in enumerate(scenario.goals)
                for host in goal.hosts
            ]
            report = CheckReport(spec.name, "grade", "labbox", results, 1.5)
            record = {
                "format": 2,
                "class": "bench",
                "student": student,
                "lab": spec.name,
                "scenario": scenario.name,
                "goals": [goal.id for goal in scenario.goals],
                "labgen_version": "0.1.0",
                "checked_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "state": "graded" if reached else "unreachable",
                "error": ""
                if reached
                else "host client stopped, its Docker engine does not answer",
                "report": check_report.to_dict(report) if reached else None,
            }
            path = folder / "results" / student / f"{moment.strftime('%Y%m%dT%H%M%S.%fZ')}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2), encoding="utf-8")


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--students", type=int, default=100)
    args = parser.parse_args()

    from labgen.classroom.model import open_class
    from labgen.classroom.report import report_class
    from labgen.steps.scenario import load_scenario

    with tempfile.TemporaryDirectory(prefix="labgen-bench-class-") as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        make_class(folder, args.students)
        floor = [sys.executable, "-c", "import click, yaml, jinja2, msgspec"]
        command = [script("labgen"), "class", "report", str(folder)]
        info = open_class(folder)
        scenario = load_scenario(info.lab)
        roster = [(s.id, s.name) for s in info.students]

        def build() -> float:
            start = time.perf_counter()
            report_class(folder, info.name, info.lab.name, scenario, roster, None)
            return time.perf_counter() - start

        for warm_up in (lambda: timed(floor), lambda: timed(command), build):
            warm_up()
        times: dict[str, list[float]] = {"floor": [], "report": [], "build": []}
        for _ in range(args.runs):
            times["floor"].append(timed(floor))
            times["report"].append(timed(command))
            times["build"].append(build())
        html_kib = (folder / "report.html").stat().st_size / 1024

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"class report, {args.students} students x {len(scenario.goals)} goals, "
          f"3 result files each, {args.runs} runs (medians):")  # fmt: skip
    print(f"  floor (imports)          {medians['floor'] * 1000:7.1f} ms")
    print(f"  labgen class report      {medians['report'] * 1000:7.1f} ms")
    print(f"  report_class() in-proc   {medians['build'] * 1000:7.1f} ms")
    print(f"  report.html              {html_kib:7.1f} KiB")
    verdict = "PASS" if medians["report"] <= TARGET_S else "MISS"
    print(f"  whole command <= {TARGET_S:.1f} s   {verdict}")


if __name__ == "__main__":
    main()
