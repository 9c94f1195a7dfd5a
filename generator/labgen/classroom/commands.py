"""The `labgen class` commands: thin; they read the class folder and call plain functions."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import click

from labgen.errors import UsageError

if TYPE_CHECKING:
    from labgen.backends.box import Runtime
    from labgen.classroom.hosted import Action

CLASSES_DIR = Path("classes")

CLASS_ARGUMENT = click.argument(
    "class_dir", metavar="CLASS", type=click.Path(path_type=Path, file_okay=False, exists=True)
)
JOBS_OPTION = click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="How many students' labs to work on at the same time.",
)
STUDENTS_OPTION = click.option(
    "--students", help='Only these students: ids, comma-separated ("a,b" or "a, b").'
)
GOAL_TIMEOUT_OPTION = click.option(
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
    """A whole class: every student's lab, handouts, grading and the class report."""


@class_group.command("create")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Class folder to write [default: classes/<name>].",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace a class folder labgen made (its passwords, results and reports are kept).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
def create(spec: Path, out: Path | None, force: bool, dry_run: bool) -> None:
    """Render a class folder from the class spec SPEC (YAML)."""
    from labgen.classroom.boxes import VMS_DIR, container_warning
    from labgen.classroom.create import plan_class
    from labgen.classroom.model import SEATS_FILE, SEED_FILE, read_seats, read_seed
    from labgen.classroom.report import REPORT_FILES
    from labgen.classroom.results import RESULTS_DIR
    from labgen.classroom.spec import load_class
    from labgen.commands import write_folder
    from labgen.render.write import STATE_DIRS, recover
    from labgen.spec.parse import kept_password, with_password

    # A class's grading history, report and students' VMs are kept too, like a lab's state.
    keep = (*STATE_DIRS, RESULTS_DIR, *REPORT_FILES, VMS_DIR)

    classroom, warnings = load_class(spec)
    for warning in warnings:
        click.echo(f"labgen: warning: lab.{warning}", err=True)
    out = out or CLASSES_DIR / classroom.name
    # A part-2 lab's password: the class folder's own when it is re-created, else a new one.
    lab = with_password(classroom.lab, kept_password(out / "lab"))
    classroom = dataclasses.replace(classroom, lab=lab)
    if not dry_run:
        recover(out, keep)  # an interrupted run may have left the old folder aside: read its seed
    seed = read_seed(out / SEED_FILE) or secrets.token_hex(32)
    # Each student keeps their seat (folders made before seats.csv: their credentials.csv).
    kept = read_seats(out / SEATS_FILE) or read_seats(out / "secrets" / "credentials.csv")
    files = plan_class(classroom, seed, kept, str(out))
    summary = write_folder(files, out, force=force, dry_run=dry_run, keep=keep)
    note = container_warning(classroom.delivery, classroom.hosted)
    if note:
        click.echo(f"labgen: note: {note}", err=True)
    if summary:
        click.echo(
            f"created {out} ({summary}; {len(classroom.students)} students, "
            f"{classroom.delivery}); secrets are in {out / 'secrets'}"
        )


@class_group.command("check")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
@GOAL_TIMEOUT_OPTION
def check(class_dir: Path, jobs: int, students: str | None, timeout: float) -> None:
    """hosted: grade every student's running lab (grade mode: nothing in a lab changes);
    keep the results. Exit 1 when a lab could not be graded (its result file says why)."""
    from labgen.classroom.model import open_class
    from labgen.classroom.workshop import check_class

    if not check_class(open_class(class_dir), jobs, students, timeout):
        raise click.exceptions.Exit(1)


@class_group.command("report")
@CLASS_ARGUMENT
@SUBMISSIONS_OPTION
def report(class_dir: Path, submissions: Path | None) -> None:
    """Write report.html, report.csv and report.json in CLASS from the latest results."""
    from labgen.classroom.model import open_class
    from labgen.classroom.workshop import report_class_folder

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
@GOAL_TIMEOUT_OPTION
def watch(class_dir: Path, every: int, jobs: int, submissions: Path | None, timeout: float) -> None:
    """Regrade (hosted) and rewrite the report every S seconds until Ctrl-C; the page reloads itself."""
    from labgen.classroom.model import open_class
    from labgen.classroom.workshop import watch_class

    watch_class(open_class(class_dir), every, jobs, submissions, timeout)


RUNTIME_OPTION = click.option(
    "--runtime",
    metavar="NAME=PATH",
    help="Run the boxes and their nodes under this OCI runtime wrapper (machine-specific; "
    "container boxes on a Docker server only).",
)


@class_group.command("up")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
@RUNTIME_OPTION
def up(class_dir: Path, jobs: int, students: str | None, runtime: str | None) -> None:
    """hosted: bring up every student's lab box. Running it again makes what is missing,
    starts what stopped (a node inside a running box too) and removes the boxes of
    students no longer on the roster."""
    _hosted(class_dir, "up", jobs, students, runtime)


@class_group.command("status")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
def status(class_dir: Path, jobs: int, students: str | None) -> None:
    """hosted: show each student's box and lab hosts; exit 1 unless every engine answers."""
    _hosted(class_dir, "status", jobs, students, None)


@class_group.command("down")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
def down(class_dir: Path, jobs: int, students: str | None) -> None:
    """hosted: remove every student's box, with its network and volume (and those of
    students no longer on the roster)."""
    _hosted(class_dir, "down", jobs, students, None)


def _hosted(
    class_dir: Path, action: Action, jobs: int, students: str | None, runtime: str | None
) -> None:
    from labgen.classroom.boxes import container_warning
    from labgen.classroom.hosted import run_hosted
    from labgen.classroom.model import open_class

    cls = open_class(class_dir)
    warning = container_warning(cls.delivery, cls.hosted)
    if action == "up" and warning:
        click.echo(f"labgen: note: {warning}", err=True)
    outcomes = run_hosted(
        cls,
        action,
        jobs,
        students,
        _runtime(runtime),
    )
    if not all(outcome.ok for outcome in outcomes):
        raise click.exceptions.Exit(1)


def _runtime(value: str | None) -> Runtime | None:
    from labgen.backends.box import Runtime

    if value is None:
        return None
    name, _, path = value.partition("=")
    if not name or not path or not Path(path).is_file():
        raise UsageError(f"--runtime {value}: use NAME=PATH, PATH an existing wrapper script")
    return Runtime(name, Path(path))


@class_group.command("manifests")
@CLASS_ARGUMENT
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write (a kustomize folder: `kubectl apply -k OUT`).",
)
@click.option("--force", is_flag=True, help="Replace a manifests folder labgen wrote.")
def manifests(class_dir: Path, out: Path, force: bool) -> None:
    """hosted on Kubernetes: write the class's objects as a kustomize folder."""
    from labgen.classroom.boxes import box_spec
    from labgen.classroom.kubernetes import write_manifests
    from labgen.classroom.model import open_class

    cls = open_class(class_dir)
    summary = write_manifests(cls, [box_spec(cls, seat) for seat in cls.seats], out, force)
    click.echo(f"wrote {out} ({summary}); apply with `kubectl apply -k {out}`")
