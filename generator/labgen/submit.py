"""`labgen submit`: a student grades their own lab and gets one file to hand in (byod classes).

It uses only what a student's laptop has for `labgen up`: the docker CLI (compose backend)
or vagrant. Each host's Docker engine ID goes into the file: two students handing in files
with the same engine ID means one copied the other's file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import msgspec

from labgen import __version__
from labgen.atomic import write_text_atomic
from labgen.backends.base import Backend
from labgen.check import report as check_report
from labgen.check import runner
from labgen.errors import LabgenError, UsageError
from labgen.steps.scenario import Scenario

SUBMISSION_FORMAT = 1
# A DNS label: the same rule as the class roster's ids; also a safe file name.
STUDENT_ID = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
ENGINE_ID_COMMAND = "docker info --format '{{.ID}}'"

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class Submission(msgspec.Struct, forbid_unknown_fields=True):
    """A submission file's shape, checked strictly when a teacher's `class report` reads it."""

    format: int
    student: Annotated[str, msgspec.Meta(pattern=STUDENT_ID)]
    lab: str
    scenario: str
    labgen_version: str
    created_at: Annotated[datetime, msgspec.Meta(tz=True)]
    engine_ids: dict[str, NonEmpty]  # host -> its Docker engine's ID
    report: dict[str, Any]  # the grade report, as `labgen check --json` prints it


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def utc_text(moment: datetime) -> str:
    """`2026-11-28T08:00:00Z`: the form every labgen file uses for a time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_student_id(student: str) -> None:
    if not re.match(STUDENT_ID, student):
        raise UsageError(
            f"--student {student!r}: not a student id; use the id your teacher gave you "
            "(lower-case letters, digits and '-')"
        )


def engine_ids(backend: Backend, hosts: Sequence[str], timeout: float) -> dict[str, str]:
    """Each host's Docker engine ID; an engine that does not answer is an error."""
    ids = {}
    for host in hosts:
        answer = backend.exec(host, ENGINE_ID_COMMAND, timeout)
        engine_id = answer.stdout.strip()
        if answer.exit_code != 0 or not engine_id:
            raise LabgenError(
                f"host {host}: its Docker engine does not answer; start the lab with "
                "`labgen up`, then submit again"
            )
        ids[host] = engine_id
    return ids


def make_submission(
    backend: Backend,
    scenario: Scenario,
    lab: str,
    student: str,
    timeout: float,
    now: Callable[[], datetime] = utc_now,
) -> dict[str, Any]:
    """Grade the lab (grade mode: nothing in it changes) and build the submission's content."""
    check_student_id(student)
    hosts = sorted({host.name for goal in scenario.goals for host in goal.hosts})
    ids = engine_ids(backend, hosts, timeout)
    report = runner.grade(backend, scenario, lab, timeout, lambda *_: None, lambda _: None)
    return {
        "format": SUBMISSION_FORMAT,
        "student": student,
        "lab": lab,
        "scenario": scenario.name,
        "labgen_version": __version__,
        "created_at": utc_text(now()),
        "engine_ids": ids,
        "report": check_report.to_dict(report),
    }


def submit_lab(
    lab_path: Path | None, backend: str | None, student: str, out: Path | None, timeout: float
) -> Path:
    """`labgen submit`: grade the student's lab and write the submission file; returns its path."""
    from labgen.lab import open_lab
    from labgen.live import make_backend
    from labgen.steps.scenario import load_scenario

    check_student_id(student)
    lab = open_lab(lab_path)
    chosen = make_backend(lab, backend)
    click.echo(f"grading lab {lab.spec.name} ({chosen.name} backend) for {student} ...", err=True)
    content = make_submission(chosen, load_scenario(lab.spec), lab.spec.name, student, timeout)
    target = out or Path(f"{lab.spec.name}-{student}.submission.json")
    write_text_atomic(target, json.dumps(content, indent=2, ensure_ascii=False) + "\n")
    report = check_report.from_dict(content["report"])
    held = sum(1 for r in report.results if r.status == "pass")
    click.echo(f"wrote {target}: {held} of {len(report.results)} checks hold; hand in this file")
    return target
