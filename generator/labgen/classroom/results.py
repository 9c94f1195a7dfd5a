"""Result files: one student's lab graded once, kept as CLASS/results/STUDENT/TIME.json.

A file carries its format and the identity of what it grades (class, lab, scenario and
its goals), and is checked against the class on read: a result of another class or lab,
of a scenario whose goals changed, or of an older format is named, never counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from labgen.atomic import write_text_atomic
from labgen.check.results import GOOD, CheckReport
from labgen.errors import LabgenError
from labgen.steps.scenario import Scenario

RESULTS_DIR = "results"
# 2: the class and the scenario's goals are part of a result's identity; `state` says
# whether the lab was graded, could not be reached, or labgen itself failed.
RESULT_FORMAT = 2
MAX_RESULT_BYTES = 8 << 20
ResultState = Literal["graded", "unreachable", "labgen-error"]


@dataclass(frozen=True)
class Identity:
    """What a result is a result of."""

    class_name: str
    lab: str
    scenario: str
    goals: tuple[str, ...]


def identity_of(class_name: str, lab: str, scenario: Scenario) -> Identity:
    return Identity(class_name, lab, scenario.name, tuple(goal.id for goal in scenario.goals))


class ResultRecord(msgspec.Struct, forbid_unknown_fields=True):
    """A result file's shape."""

    format: int
    class_name: str = msgspec.field(name="class")
    student: str
    lab: str
    scenario: str
    goals: list[str]
    labgen_version: str
    checked_at: Annotated[datetime, msgspec.Meta(tz=True)]
    state: ResultState
    error: str  # why the lab was not graded ("" when it was)
    report: dict[str, Any] | None  # `labgen check --json`'s shape; None when not graded

    @property
    def identity(self) -> Identity:
        return Identity(self.class_name, self.lab, self.scenario, tuple(self.goals))


def result_path(class_dir: Path, record: ResultRecord) -> Path:
    # Microseconds in the name: two runs in one second never overwrite each other.
    moment = record.checked_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return class_dir / RESULTS_DIR / record.student / f"{moment}.json"


def write_result(class_dir: Path, record: ResultRecord) -> Path:
    """Keep `record` (temp file + rename: a reader never sees half of it)."""
    path = result_path(class_dir, record)
    text = msgspec.json.format(msgspec.json.encode(record), indent=2).decode()
    try:
        write_text_atomic(path, text + "\n")
    except OSError as failure:  # a result that cannot be kept stops the run: none is lost silently
        raise LabgenError(
            f"{path}: cannot write the result ({failure.strerror}); free space or fix the "
            "class folder's permissions, then run `labgen class check` again"
        ) from None
    return path


def result_files(class_dir: Path, student: str) -> list[Path]:
    """A student's result files, oldest first (their names sort in time order)."""
    folder = class_dir / RESULTS_DIR / student
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def read_result(path: Path, expected: Identity, student: str) -> ResultRecord:
    """The result in `path`, of `student` and `expected`; raises ValueError (one line,
    naming the file and the fix) when it is not one."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RESULT_BYTES + 1)
        if len(data) > MAX_RESULT_BYTES:
            raise ValueError(f"larger than {MAX_RESULT_BYTES} bytes")
        fmt = msgspec.json.decode(data, type=dict[str, Any]).get("format")
        if fmt != RESULT_FORMAT:
            raise ValueError(f"format {fmt!r}, this labgen reads format {RESULT_FORMAT}")
        record = msgspec.json.decode(data, type=ResultRecord)
    except (OSError, ValueError, RecursionError) as error:  # msgspec's errors are ValueErrors
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise ValueError(
            f"{path}: not a result file ({reason}); run `labgen class check` again"
        ) from None
    if record.student != student or record.identity != expected:
        raise ValueError(
            f"{path}: a result of {record.student!r} in lab {record.lab!r} (class "
            f"{record.class_name!r}, scenario {record.scenario!r}, {len(record.goals)} goals), "
            f"not of {student!r} in this class ({expected.class_name!r}, scenario "
            f"{expected.scenario!r}, {len(expected.goals)} goals); move it out of the class folder"
        )
    return record


def failing_hosts(report: CheckReport, goal: str, hosts: Sequence[str]) -> list[str]:
    """The hosts where `goal` does not hold (or has no result): a goal is done on all or none."""
    held = {r.host for r in report.results if r.id == goal and r.status in GOOD}
    return [host for host in hosts if host not in held]
