"""What `labgen class up|status|down CLASS` do for a class folder made by `labgen class
create` (class.yaml, lab/, secrets/): the chosen students' boxes, `--jobs` at a time."""

from __future__ import annotations

from pathlib import Path

import click

from labgen.classroom.hosted import Action, pick, run_class
from labgen.classroom.info import hosted_boxes, open_class
from labgen.classroom.kubernetes import run_pods
from labgen.classroom.labbox import Runtime
from labgen.errors import UsageError


def run_hosted(
    folder: Path, action: Action, jobs: int, students: str | None, runtime: str | None
) -> None:
    """Do `action` for the class's (chosen) boxes; exit 1 if any student's failed."""
    info = open_class(folder)
    if info.classroom.hosted.platform == "kubernetes":
        if runtime:
            raise UsageError(
                "--runtime: for a Docker server; on Kubernetes, name a RuntimeClass in "
                "hosted.kubernetes.runtime_class"
            )
        ok = run_pods(info, action, jobs, students.split(",") if students else None)
    else:
        boxes = hosted_boxes(info, _runtime(runtime))
        chosen = pick(boxes, students.split(",") if students else None)
        ok = all(outcome.ok for outcome in run_class(chosen, action, jobs))
    if not ok:
        raise click.exceptions.Exit(1)


def _runtime(value: str | None) -> Runtime | None:
    if value is None:
        return None
    name, _, path = value.partition("=")
    if not name or not path or not Path(path).is_file():
        raise UsageError(f"--runtime {value}: use NAME=PATH, PATH an existing wrapper script")
    return Runtime(name, Path(path))
