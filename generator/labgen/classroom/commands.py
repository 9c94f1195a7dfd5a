"""The `labgen class` commands: thin; they read the class folder and call plain functions."""

from __future__ import annotations

from pathlib import Path

import click

CLASS_ARGUMENT = click.argument(
    "class_dir", metavar="CLASS", type=click.Path(path_type=Path, file_okay=False, exists=True)
)
JOBS_OPTION = click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="How many labs to grade at the same time.",
)
TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=60,
    show_default=True,
    help="Seconds each goal check may take.",
)
SUBMISSIONS_OPTION = click.option(
    "--submissions",
    type=click.Path(path_type=Path, file_okay=False),
    help="byod: the folder holding the students' `labgen submit` files.",
)


@click.group(name="class")
def class_group() -> None:
    """Run a whole class: grade every student's lab and report the class's progress."""


@class_group.command("check")
@CLASS_ARGUMENT
@JOBS_OPTION
@click.option("--students", help="Only these students (comma-separated ids).")
@TIMEOUT_OPTION
def check(class_dir: Path, jobs: int, students: str | None, timeout: float) -> None:
    """Grade every student's running lab (grade mode: nothing in a lab changes); keep the results.

    Exit 1 when a lab could not be reached (its result file says why)."""
    from labgen.classroom.workshop import check_class, open_class

    if not check_class(open_class(class_dir), jobs, students, timeout):
        raise click.exceptions.Exit(1)


@class_group.command("report")
@CLASS_ARGUMENT
@SUBMISSIONS_OPTION
def report(class_dir: Path, submissions: Path | None) -> None:
    """Write report.html, report.csv and report.json in CLASS from the latest results."""
    from labgen.classroom.workshop import open_class, report_class_folder

    report_class_folder(open_class(class_dir), submissions, None)


@class_group.command("watch")
@CLASS_ARGUMENT
@click.option(
    "--every",
    type=click.IntRange(5, 3600),
    required=True,
    help="Seconds between two rounds of grading and reporting.",
)
@JOBS_OPTION
@SUBMISSIONS_OPTION
@TIMEOUT_OPTION
def watch(class_dir: Path, every: int, jobs: int, submissions: Path | None, timeout: float) -> None:
    """Regrade (hosted) and rewrite the report every S seconds until Ctrl-C; the page reloads itself."""
    from labgen.classroom.workshop import open_class, watch_class

    watch_class(open_class(class_dir), every, jobs, submissions, timeout)
