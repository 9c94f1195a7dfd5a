"""`labgen submit`: a student grades their own lab and gets one file to hand in (byod classes).

It uses only what a student's laptop has for `labgen up`: the docker CLI (compose backend)
or vagrant. Each host's labgen host identity goes into the file: a random ID that the
lab's provisioning makes once per host (`/var/lib/labgen/host-id`), whatever the host's
engine (podman has no Docker engine ID). Two students handing in files with the same host
identity share a lab or a file; the class report shows both, naming each other.

The file's format is written and read here (`parse_submission`), so writer and reader
cannot drift apart.
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
from labgen.check.results import CheckReport
from labgen.errors import LabgenError, UsageError, printable
from labgen.steps.scenario import Scenario

# 2: `host_ids` (labgen's own per-host identity) replaced format 1's Docker `engine_ids`.
SUBMISSION_FORMAT = 2
# A DNS label: the same rule as the class roster's ids; also a safe file name.
STUDENT_ID = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
HOST_ID_FILE = "/var/lib/labgen/host-id"
HOST_ID_COMMAND = f"cat {HOST_ID_FILE}"
HOST_ID = r"^[0-9a-f][0-9a-f-]{7,63}$"  # what provisioning writes: a random UUID
# A submission is a few KiB; far more is not one, and is not read whole.
MAX_SUBMISSION_BYTES = 1024 * 1024
RESUBMIT = "ask the student to run `labgen submit` again and hand in the file it writes"
UPDATE = "ask the student to update labgen to the class's version and run `labgen submit` again"


class Submission(msgspec.Struct, forbid_unknown_fields=True):
    """A submission file's shape, checked strictly when a teacher's `class report` reads it."""

    format: int
    student: Annotated[str, msgspec.Meta(pattern=STUDENT_ID)]
    lab: str
    scenario: str
    labgen_version: str
    created_at: Annotated[datetime, msgspec.Meta(tz=True)]
    host_ids: dict[str, Annotated[str, msgspec.Meta(pattern=HOST_ID)]]  # host -> its identity
    report: dict[str, Any]  # the grade report, as `labgen check --json` prints it


class _Head(msgspec.Struct):
    """The one field read before the rest: which format the file is in."""

    format: int


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def utc_text(moment: datetime) -> str:
    """`2026-11-28T08:00:00Z`: the form every labgen file uses for a time."""
    # isoformat, not strftime: strftime writes year 1 as "1", not "0001".
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat("T", "seconds") + "Z"


def check_student_id(student: str) -> None:
    if not re.match(STUDENT_ID, student):
        raise UsageError(
            f"--student {printable(repr(student))}: not a student id; use the id your teacher "
            "gave you (lower-case letters, digits and '-')"
        )


def host_ids(backend: Backend, hosts: Sequence[str], timeout: float) -> dict[str, str]:
    """Each host's labgen host identity; a host that does not answer, or has none, is an error."""
    ids = {}
    for host in hosts:
        answer = backend.exec(host, HOST_ID_COMMAND, timeout)
        host_id = answer.stdout.strip()
        if answer.error:
            raise LabgenError(
                f"host {host}: could not be asked for its identity ({answer.error}); start "
                "the lab with `labgen up` (`labgen status` shows it), then submit again"
            )
        if answer.exit_code != 0 or not re.match(HOST_ID, host_id):
            raise LabgenError(
                f"host {host}: no labgen host identity ({HOST_ID_FILE}): the lab was made "
                "by an older labgen, or its provisioning has not finished; run `labgen up` "
                "(a lab made before this labgen: `labgen create --force`, then `labgen up`), "
                "then submit again"
            )
        ids[host] = host_id
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
    ids = host_ids(backend, hosts, timeout)
    report = runner.grade(backend, scenario, lab, timeout, lambda *_: None, lambda _: None)
    return {
        "format": SUBMISSION_FORMAT,
        "student": student,
        "lab": lab,
        "scenario": scenario.name,
        "labgen_version": __version__,
        "created_at": utc_text(now()),
        "host_ids": ids,
        "report": check_report.to_dict(report),
    }


def parse_submission(raw: bytes) -> tuple[Submission, CheckReport]:
    """A submission file's bytes, checked; raises ValueError with one line (no path) saying
    what is wrong and what to do. Never anything else, whatever the bytes."""
    if len(raw) > MAX_SUBMISSION_BYTES:
        raise ValueError(
            f"{len(raw)} bytes, more than a submission's {MAX_SUBMISSION_BYTES}; {RESUBMIT}"
        )
    try:
        head = msgspec.json.decode(raw, type=_Head)
    except RecursionError:
        raise ValueError(f"not a labgen submission (nested too deeply); {RESUBMIT}") from None
    except msgspec.ValidationError as error:  # JSON, but not one of labgen's files
        raise ValueError(f"not a labgen submission ({_one_line(error)}); {RESUBMIT}") from None
    except msgspec.DecodeError as error:
        raise ValueError(f"not JSON ({_one_line(error)}); {RESUBMIT}") from None
    if head.format != SUBMISSION_FORMAT:
        raise ValueError(
            f"submission format {head.format}, this labgen reads format {SUBMISSION_FORMAT}; "
            + (UPDATE if head.format < SUBMISSION_FORMAT else "update labgen on this machine")
        )
    try:
        submission = msgspec.json.decode(raw, type=Submission)
        report = check_report.from_dict(submission.report)
    except RecursionError:
        raise ValueError(f"not a labgen submission (nested too deeply); {RESUBMIT}") from None
    except msgspec.ValidationError as error:
        raise ValueError(f"not a labgen submission ({_one_line(error)}); {RESUBMIT}") from None
    try:
        submission.created_at.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"created_at {submission.created_at.isoformat()} is outside the years 1-9999 in "
            f"UTC; {RESUBMIT}"
        ) from None
    return submission, report


def _one_line(error: Exception) -> str:
    return printable(" ".join(str(error).split()))[:200]


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
    click.echo(
        f"wrote {printable(str(target))}: {held} of {len(report.results)} checks hold; "
        "hand in this file"
    )
    return target
