"""Read a folder of byod submissions (`labgen submit` files) for `class report --submissions`.

Every file is either accepted or named, in one line, with what is wrong with it; a bad file
never stops the report. A copy is a file whose Docker engine ID another student's earlier
submission already has: the later one is the copy.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import msgspec

from labgen.check import report as check_report
from labgen.check.results import CheckReport
from labgen.errors import UsageError
from labgen.submit import SUBMISSION_FORMAT, Submission, utc_text

RESUBMIT = "ask the student to run `labgen submit` again and hand in the file it writes"


@dataclass(frozen=True)
class Accepted:
    path: Path
    submission: Submission
    report: CheckReport


@dataclass(frozen=True)
class Ingested:
    accepted: dict[str, Accepted]  # by student id
    problems: list[str]  # one line per bad file, in file-name order


def ingest(folder: Path, lab: str, scenario: str, students: Collection[str]) -> Ingested:
    """Sort the files in `folder` into accepted submissions (the latest per student) and problems."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder; give the folder the submissions were copied to")
    problems: dict[Path, str] = {}
    valid: list[Accepted] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            valid.append(read_submission(path, lab, scenario, students))
        except ValueError as error:
            problems[path] = str(error)
    kept = _without_copies(valid, problems)
    accepted: dict[str, Accepted] = {}
    for item in sorted(kept, key=_order, reverse=True):  # newest first: it is the one used
        student = item.submission.student
        if student in accepted:
            used = accepted[student]
            problems[item.path] = (
                f"{item.path}: {student} handed in more than one; the newest, "
                f"{used.path.name} ({utc_text(used.submission.created_at)}), is the one used"
            )
        else:
            accepted[student] = item
    return Ingested(accepted, [problems[path] for path in sorted(problems)])


def read_submission(path: Path, lab: str, scenario: str, students: Collection[str]) -> Accepted:
    """One file as a submission of this class; raises ValueError, one line, saying what is wrong."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not JSON ({error}); {RESUBMIT}") from None
    try:
        submission = msgspec.convert(data, Submission)
    except msgspec.ValidationError as error:
        raise ValueError(f"{path}: not a labgen submission ({error}); {RESUBMIT}") from None
    if submission.format != SUBMISSION_FORMAT:
        raise ValueError(
            f"{path}: submission format {submission.format}, this labgen reads format "
            f"{SUBMISSION_FORMAT}; ask the student to use the class's labgen version"
        )
    try:
        report = check_report.from_dict(submission.report)
    except msgspec.ValidationError as error:
        raise ValueError(f"{path}: its grade report is damaged ({error}); {RESUBMIT}") from None
    if submission.lab != lab:
        raise ValueError(
            f"{path}: for lab {submission.lab!r}, this class's lab is {lab!r}; "
            "ask the student to submit from the class's lab folder"
        )
    if report.lab != submission.lab:
        raise ValueError(
            f"{path}: its grade report is of lab {report.lab!r}, not {submission.lab!r}; {RESUBMIT}"
        )
    if submission.scenario != scenario:
        raise ValueError(
            f"{path}: scenario {submission.scenario!r}, this class's is {scenario!r}; "
            "ask the student to submit from the class's lab folder"
        )
    if report.mode != "grade":
        raise ValueError(
            f"{path}: its report was made in {report.mode} mode, not grade; {RESUBMIT}"
        )
    if submission.student not in students:
        raise ValueError(
            f"{path}: student {submission.student!r} is not on the class roster; "
            "check the id with the student"
        )
    return Accepted(path, submission, report)


def _order(item: Accepted) -> tuple[str, str]:
    return (utc_text(item.submission.created_at), item.path.name)


def _without_copies(valid: list[Accepted], problems: dict[Path, str]) -> list[Accepted]:
    """The submissions that are not copies; each copy gets its problem line."""
    first_seen: dict[str, Accepted] = {}  # engine ID -> the earliest submission that has it
    kept = []
    for item in sorted(valid, key=_order):
        owners = [
            first_seen[engine]
            for engine in item.submission.engine_ids.values()
            if engine in first_seen
            and first_seen[engine].submission.student != item.submission.student
        ]
        if owners:
            original = owners[0]
            problems[item.path] = (
                f"{item.path}: same Docker engine ID as {original.submission.student}'s "
                f"{original.path.name}, handed in earlier: a copy, ignored; talk to both students"
            )
            continue
        for engine in item.submission.engine_ids.values():
            first_seen.setdefault(engine, item)
        kept.append(item)
    return kept
