"""`class check`, `class report` and `class watch` for one class folder: the students'
labs graded through the per-student runner, and the report written from what is kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from labgen.classroom.boxes import BoxFor, box_for
from labgen.classroom.grading import check_work
from labgen.classroom.model import Class
from labgen.classroom.report import ClassReport, report_class, write_reports
from labgen.classroom.runner import for_each_student
from labgen.errors import LabgenError, UsageError
from labgen.steps.scenario import load_scenario


def check_class(
    cls: Class, jobs: int, students: str | None, timeout: float, boxes: BoxFor | None = None
) -> bool:
    """`class check`: grade the chosen hosted labs, keep a result for each; False when a
    lab could not be graded (its result says why)."""
    if cls.delivery != "hosted":
        raise UsageError(
            f"{cls.folder}: a byod class; students grade their own labs with `labgen submit`, "
            "then run `labgen class report CLASS --submissions DIR`"
        )
    seats = cls.select(students)
    work = check_work(cls, boxes or (lambda seat: box_for(cls, seat)), timeout)
    return all(outcome.ok for outcome in for_each_student(seats, work, jobs))


def report_class_folder(cls: Class, submissions: Path | None, refresh: int | None) -> ClassReport:
    """`class report`: write the report; each unused file is a one-line warning, never a stop."""
    report = report_class(
        cls.folder,
        cls.name,
        cls.lab.name,
        load_scenario(cls.lab),
        [(student.id, student.name) for student in cls.students],
        submissions,
        refresh,
    )
    for problem in report.problems:
        click.echo(f"labgen: warning: {problem}", err=True)
    graded = sum(1 for row in report.rows if row.state == "graded")
    finished = sum(1 for row in report.rows if row.state == "graded" and not row.stuck_at)
    unused = f", files not used: {len(report.problems)} (see above)" if report.problems else ""
    click.echo(
        f"wrote {cls.folder / 'report.html'} (+ .csv, .json): {len(report.rows)} students, "
        f"{graded} graded, {finished} finished{unused}"
    )
    return report


def watch_class(
    cls: Class,
    every: int,
    jobs: int,
    submissions: Path | None,
    timeout: float,
    boxes: BoxFor | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """`class watch`: regrade (hosted) and rewrite the self-reloading report every `every`
    seconds until Ctrl-C or an error; then write it once more without the reload. An error
    (the report or its submissions cannot be read or written) then goes on to the caller:
    one line, exit non-zero; the page kept is the last one made, no longer reloading."""
    work = None
    if cls.delivery == "hosted":
        work = check_work(cls, boxes or (lambda seat: box_for(cls, seat)), timeout)
    last: ClassReport | None = None
    try:
        while True:
            if work is not None:
                for_each_student(cls.seats, work, jobs)
            last = report_class_folder(cls, submissions, every)
            sleep(every)
    except KeyboardInterrupt:
        click.echo("stopped; the report no longer reloads itself", err=True)
        report_class_folder(cls, submissions, None)
    except (LabgenError, OSError):
        if last is not None:
            write_reports(cls.folder, last, None)
            click.echo("watch stopped; the report (of the last round) no longer reloads", err=True)
        raise
