"""`labgen class up|status|down CLASS`: thin click commands over classroom.hosted.

CLASS is a class folder made by `labgen class create` (class.yaml, lab/, secrets/).
The class group adds them with `class_group.add_command(...)` for each of COMMANDS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from labgen.classroom.hosted import Action, class_boxes, pick, run_class
from labgen.classroom.labbox import Limits, Runtime
from labgen.errors import UsageError
from labgen.spec.yamlio import read_yaml

CLASS_ARGUMENT = click.argument(
    "folder", metavar="CLASS", type=click.Path(path_type=Path, file_okay=False, exists=True)
)
JOBS_OPTION = click.option(
    "--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help="Labs at a time."
)
STUDENTS_OPTION = click.option("--students", help="Only these students (ids, comma-separated).")
RUNTIME_OPTION = click.option(
    "--runtime",
    metavar="NAME=PATH",
    help="Run the boxes and their nodes under this OCI runtime wrapper (machine-specific).",
)


def run_hosted(
    folder: Path, action: Action, jobs: int, students: str | None, runtime: str | None
) -> None:
    """Do `action` for the class's (chosen) boxes; exit 1 if any student's failed."""
    data = read_yaml(folder / "class.yaml", "class spec")
    if not isinstance(data, dict) or data.get("delivery") != "hosted":
        raise UsageError(f"{folder}: not a hosted class; set `delivery: hosted` in its spec")
    settings: dict[str, Any] = data.get("hosted") or {}
    limits = Limits(
        cpus=float(settings.get("cpus", 1.0)),
        memory=str(settings.get("memory", "768M")),
        pids=int(settings.get("pids", 1024)),
    )
    boxes = class_boxes(folder, str(data["name"]), limits, _runtime(runtime))
    chosen = pick(boxes, students.split(",") if students else None)
    if not all(outcome.ok for outcome in run_class(chosen, action, jobs)):
        raise click.exceptions.Exit(1)


def _runtime(value: str | None) -> Runtime | None:
    if value is None:
        return None
    name, _, path = value.partition("=")
    if not name or not path or not Path(path).is_file():
        raise UsageError(f"--runtime {value}: use NAME=PATH, PATH an existing wrapper script")
    return Runtime(name, Path(path))


@click.command("up")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
@RUNTIME_OPTION
def up(folder: Path, jobs: int, students: str | None, runtime: str | None) -> None:
    """Bring up every student's lab box (re-running repairs only what is missing)."""
    run_hosted(folder, "up", jobs, students, runtime)


@click.command("status")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
def status(folder: Path, jobs: int, students: str | None) -> None:
    """Show each student's box and lab hosts; exit 1 unless every engine answers."""
    run_hosted(folder, "status", jobs, students, None)


@click.command("down")
@CLASS_ARGUMENT
@JOBS_OPTION
@STUDENTS_OPTION
def down(folder: Path, jobs: int, students: str | None) -> None:
    """Remove every student's box, with its network and volume."""
    run_hosted(folder, "down", jobs, students, None)


COMMANDS = (up, status, down)
