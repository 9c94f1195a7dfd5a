"""The `labgen class` commands: thin; they read the class folder and call plain functions."""

from __future__ import annotations

import dataclasses
import secrets
import string
from pathlib import Path

import click

CLASSES_DIR = Path("classes")

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
    from labgen.classroom.create import SEED_FILE, plan_class
    from labgen.classroom.grading import RESULTS_DIR
    from labgen.classroom.report import REPORT_FILES
    from labgen.classroom.spec import load_class
    from labgen.commands import write_folder
    from labgen.render.write import STATE_DIRS, recover
    from labgen.spec.parse import kept_password, with_password

    # A class's grading history and report are kept too, like a lab's state.
    keep = (*STATE_DIRS, RESULTS_DIR, *REPORT_FILES)

    classroom, warnings = load_class(spec)
    for warning in warnings:
        click.echo(f"labgen: warning: lab.{warning}", err=True)
    out = out or CLASSES_DIR / classroom.name
    # A part-2 lab's password: the class folder's own when it is re-created, else a new one.
    lab = with_password(classroom.lab, kept_password(out / "lab"))
    classroom = dataclasses.replace(classroom, lab=lab)
    if not dry_run:
        recover(out, keep)  # an interrupted run may have left the old folder aside: read its seed
    seed = _existing_seed(out / SEED_FILE) or secrets.token_hex(32)
    summary = write_folder(
        plan_class(classroom, seed), out, force=force, dry_run=dry_run, keep=keep
    )
    if summary:
        click.echo(
            f"created {out} ({summary}; {len(classroom.students)} students, "
            f"{classroom.delivery}); secrets are in {out / 'secrets'}"
        )


def _existing_seed(path: Path) -> str | None:
    """The seed of the class folder being replaced, so that its passwords stay the same."""
    try:
        seed = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return seed if len(seed) == 64 and set(seed) <= set(string.hexdigits) else None


@class_group.command("check")
@CLASS_ARGUMENT
@JOBS_OPTION
@click.option("--students", help="Only these students (comma-separated ids).")
@TIMEOUT_OPTION
def check(class_dir: Path, jobs: int, students: str | None, timeout: float) -> None:
    """Grade every student's running lab (grade mode: nothing in a lab changes); keep the results.

    Exit 1 when a lab could not be reached (its result file says why)."""
    from labgen.classroom.info import open_class
    from labgen.classroom.workshop import check_class

    if not check_class(open_class(class_dir), jobs, students, timeout):
        raise click.exceptions.Exit(1)


@class_group.command("report")
@CLASS_ARGUMENT
@SUBMISSIONS_OPTION
def report(class_dir: Path, submissions: Path | None) -> None:
    """Write report.html, report.csv and report.json in CLASS from the latest results."""
    from labgen.classroom.info import open_class
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
@TIMEOUT_OPTION
def watch(class_dir: Path, every: int, jobs: int, submissions: Path | None, timeout: float) -> None:
    """Regrade (hosted) and rewrite the report every S seconds until Ctrl-C; the page reloads itself."""
    from labgen.classroom.info import open_class
    from labgen.classroom.workshop import watch_class

    watch_class(open_class(class_dir), every, jobs, submissions, timeout)


RUNTIME_OPTION = click.option(
    "--runtime",
    metavar="NAME=PATH",
    help="Run the boxes and their nodes under this OCI runtime wrapper (machine-specific).",
)
STUDENTS_OPTION = click.option("--students", help="Only these students (ids, comma-separated).")


@class_group.command("up")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
@RUNTIME_OPTION
def up(class_dir: Path, jobs: int, students: str | None, runtime: str | None) -> None:
    """hosted: bring up every student's lab box (re-running repairs only what is missing)."""
    from labgen.classroom.hosted_commands import run_hosted

    run_hosted(class_dir, "up", jobs, students, runtime)


@class_group.command("status")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
def status(class_dir: Path, jobs: int, students: str | None) -> None:
    """hosted: show each student's box and lab hosts; exit 1 unless every engine answers."""
    from labgen.classroom.hosted_commands import run_hosted

    run_hosted(class_dir, "status", jobs, students, None)


@class_group.command("down")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
def down(class_dir: Path, jobs: int, students: str | None) -> None:
    """hosted: remove every student's box, with its network and volume."""
    from labgen.classroom.hosted_commands import run_hosted

    run_hosted(class_dir, "down", jobs, students, None)


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
    from labgen.classroom.info import open_class
    from labgen.classroom.kubernetes import write_manifests

    summary = write_manifests(open_class(class_dir), out, force)
    click.echo(f"wrote {out} ({summary}); apply with `kubectl apply -k {out}`")
