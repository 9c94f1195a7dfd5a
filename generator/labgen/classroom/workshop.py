"""The class commands' work for one class folder: glue between `ClassInfo` and the plain
functions of grading.py and report.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from labgen.classroom.grading import BackendFor, grade_class
from labgen.classroom.info import ClassInfo, hosted_backends
from labgen.classroom.report import ClassReport, report_class
from labgen.errors import UsageError
from labgen.steps.scenario import load_scenario


def select_students(info: ClassInfo, wanted: str | None) -> list[str]:
    """The roster's ids, or those of `--students a,b` (each must be on the roster)."""
    roster = [student.id for student in info.students]
    if wanted is None:
        return roster
    chosen = [item.strip() for item in wanted.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in roster]
    if unknown or not chosen:
        raise UsageError(
            f"--students: {', '.join(unknown) or 'no id given'} not on the roster of "
            f"{info.name}; give ids from class.yaml, comma-separated"
        )
    return [student for student in roster if student in chosen]


def check_class(
    info: ClassInfo,
    jobs: int,
    students: str | None,
    timeout: float,
    backend_for: BackendFor | None = None,
) -> bool:
    """`class check`: grade the chosen hosted labs; False when a lab could not be reached."""
    if info.delivery != "hosted":
        raise UsageError(
            f"{info.folder}: a byod class; students grade their own labs with `labgen submit`, "
            "then run `labgen class report CLASS --submissions DIR`"
        )
    selected = select_students(info, students)
    backends = backend_for or hosted_backends(info)
    scenario = load_scenario(info.lab)
    graded = grade_class(
        info.folder, info.lab.name, scenario, selected, backends, jobs=jobs, timeout=timeout
    )
    return all(item.report is not None for item in graded)


def report_class_folder(
    info: ClassInfo, submissions: Path | None, refresh: int | None
) -> ClassReport:
    """`class report`: write the report; each unused file is a one-line warning, never a stop."""
    report = report_class(
        info.folder,
        info.name,
        info.lab.name,
        load_scenario(info.lab),
        [(student.id, student.name) for student in info.students],
        submissions,
        refresh,
    )
    for problem in report.problems:
        click.echo(f"labgen: warning: {problem}", err=True)
    graded = sum(1 for row in report.rows if row.state == "graded")
    finished = sum(1 for row in report.rows if row.state == "graded" and not row.stuck_at)
    unused = f", files not used: {len(report.problems)} (see above)" if report.problems else ""
    click.echo(
        f"wrote {info.folder / 'report.html'} (+ .csv, .json): {len(report.rows)} students, "
        f"{graded} graded, {finished} finished{unused}"
    )
    return report


def watch_class(
    info: ClassInfo,
    every: int,
    jobs: int,
    submissions: Path | None,
    timeout: float,
    backend_for: BackendFor | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """`class watch`: regrade (hosted) and rewrite the self-reloading report every `every`
    seconds until Ctrl-C; then write it once more without the reload."""
    backends = None
    if info.delivery == "hosted":
        backends = backend_for or hosted_backends(info)
    scenario = load_scenario(info.lab)
    ids = [student.id for student in info.students]
    try:
        while True:
            if backends is not None:
                grade_class(
                    info.folder, info.lab.name, scenario, ids, backends, jobs=jobs, timeout=timeout
                )
            report_class_folder(info, submissions, every)
            sleep(every)
    except KeyboardInterrupt:
        click.echo("stopped; the report no longer reloads itself", err=True)
    report_class_folder(info, submissions, None)
