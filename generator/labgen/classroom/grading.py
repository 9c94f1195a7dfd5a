"""`class check`: grade every student's lab at once, grade mode only, and keep every result.

Each run writes CLASS_DIR/results/<student>/<UTC time>.json per student (history kept):
the grade report (the shape of `labgen check --json`) plus who, which lab and scenario, and
when. A lab that cannot be reached gets a result too, saying why; the others go on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import msgspec

from labgen import __version__
from labgen.atomic import write_text_atomic
from labgen.backends.base import Backend
from labgen.check import report as render
from labgen.check import runner
from labgen.check.results import GOOD, CheckReport
from labgen.errors import LabgenError
from labgen.steps.scenario import Scenario
from labgen.submit import utc_text

RESULTS_DIR = "results"
RESULT_FORMAT = 1
BackendFor = Callable[[str], Backend]
Echo = Callable[[str], None]


class ResultRecord(msgspec.Struct, forbid_unknown_fields=True):
    """One student's lab graded once: a result file's shape."""

    format: int
    student: str
    lab: str
    scenario: str
    labgen_version: str
    checked_at: Annotated[datetime, msgspec.Meta(tz=True)]
    reachable: bool
    error: str  # why the lab could not be graded ("" when it was)
    report: dict[str, Any] | None  # `labgen check --json`'s shape; None when unreachable


@dataclass(frozen=True)
class Graded:
    """What `class check` did for one student."""

    student: str
    path: Path
    report: CheckReport | None
    error: str
    duration: float


def precise_now() -> datetime:
    return datetime.now(UTC)


def grade_class(
    class_dir: Path,
    lab: str,
    scenario: Scenario,
    students: Sequence[str],
    backend_for: BackendFor,
    *,
    jobs: int = 4,
    timeout: float = 60,
    now: Callable[[], datetime] = precise_now,
    echo: Echo = lambda line: click.echo(line, err=True),
) -> list[Graded]:
    """Grade each student's lab, up to `jobs` at a time, writing one result file per student.
    Returns what happened, in roster order; a progress table goes to `echo` as labs finish."""
    start = time.monotonic()
    echo(f"grading {len(students)} labs of {lab}, {jobs} at a time (grade mode: nothing changes)")
    echo(f"{'':>8}  {'student':<20} {'result':<12} {'goals':>7} {'time':>7}")
    done: dict[str, Graded] = {}
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [
            pool.submit(_grade_one, class_dir, lab, scenario, student, backend_for, timeout, now)
            for student in students
        ]
        for count, future in enumerate(as_completed(futures), start=1):
            graded = future.result()
            done[graded.student] = graded
            echo(
                f"[{time.monotonic() - start:5.1f}s]  {graded.student:<20} "
                f"{_verdict(graded):<12} {_goals_text(graded, scenario):>7} "
                f"{graded.duration:6.1f}s  ({count}/{len(students)})"
            )
            if graded.error:
                echo(f"{'':>10}{graded.error}")
    finally:
        # On Ctrl-C the labs not started yet are left alone; those running finish their file.
        pool.shutdown(wait=True, cancel_futures=True)
    reached = sum(1 for g in done.values() if g.report is not None)
    echo(f"graded {reached} of {len(students)} labs in {time.monotonic() - start:.1f} s")
    return [done[student] for student in students]


def _grade_one(
    class_dir: Path,
    lab: str,
    scenario: Scenario,
    student: str,
    backend_for: BackendFor,
    timeout: float,
    now: Callable[[], datetime],
) -> Graded:
    start = time.monotonic()
    report, error = grade_student(backend_for, student, scenario, lab, timeout)
    moment = now()
    record = {
        "format": RESULT_FORMAT,
        "student": student,
        "lab": lab,
        "scenario": scenario.name,
        "labgen_version": __version__,
        "checked_at": utc_text(moment),
        "reachable": report is not None,
        "error": error,
        "report": render.to_dict(report) if report is not None else None,
    }
    # Microseconds in the name: two runs in one second never overwrite each other.
    name = f"{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}.json"
    path = class_dir / RESULTS_DIR / student / name
    try:
        write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    except OSError as failure:  # a result that cannot be kept stops the run: none is lost silently
        raise LabgenError(
            f"{path}: cannot write the result ({failure.strerror}); free space or fix the "
            "class folder's permissions, then run `labgen class check` again"
        ) from None
    return Graded(student, path, report, error, time.monotonic() - start)


def grade_student(
    backend_for: BackendFor, student: str, scenario: Scenario, lab: str, timeout: float
) -> tuple[CheckReport | None, str]:
    """The lab's grade report, or None and why it could not be graded."""
    try:
        backend = backend_for(student)
        down = unreachable_hosts(backend, scenario)
        if down:
            return None, "; ".join(down)
        report = runner.grade(backend, scenario, lab, timeout, lambda *_: None, lambda _: None)
    except Exception as error:  # one student's broken lab must not stop the class's grading
        first_line = (str(error).strip().splitlines() or [""])[0]
        return None, f"could not grade: {type(error).__name__}: {first_line}"
    return report, ""


def unreachable_hosts(backend: Backend, scenario: Scenario) -> list[str]:
    """Each host the goals need whose engine does not answer, with its state."""
    statuses = {item.host: item for item in backend.status()}
    needed = sorted({host.name for goal in scenario.goals for host in goal.hosts})
    problems = []
    for host in needed:
        status = statuses.get(host)
        if status is None:
            problems.append(f"host {host} not created")
        elif not status.engine:
            problems.append(f"host {host} {status.state}, its Docker engine does not answer")
    return problems


def _verdict(graded: Graded) -> str:
    return "graded" if graded.report is not None else "UNREACHABLE"


def _goals_text(graded: Graded, scenario: Scenario) -> str:
    if graded.report is None:
        return "-"
    held = sum(
        1
        for goal in scenario.goals
        if not failing_hosts(graded.report, goal.id, [h.name for h in goal.hosts])
    )
    return f"{held}/{len(scenario.goals)}"


def failing_hosts(report: CheckReport, goal: str, hosts: Sequence[str]) -> list[str]:
    """The hosts where `goal` does not hold (or has no result): a goal is done on all or none."""
    held = {r.host for r in report.results if r.id == goal and r.status in GOOD}
    return [host for host in hosts if host not in held]


def result_files(class_dir: Path, student: str) -> list[Path]:
    """A student's result files, oldest first (their names sort in time order)."""
    folder = class_dir / RESULTS_DIR / student
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def read_result(path: Path) -> ResultRecord:
    """A result file; raises ValueError, one line, when it is not one."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=ResultRecord)
    except (OSError, msgspec.DecodeError) as error:
        raise ValueError(
            f"{path}: not a result file ({error}); run `labgen class check` again"
        ) from None
