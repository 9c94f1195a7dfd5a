"""Read a folder of byod submissions (`labgen submit` files) for `class report --submissions`.

The folder is what the teacher collected: files side by side, or a learning platform's
"download all" (one folder per student, perhaps one per attempt inside). Every file is
either used or named, in one line, with what is wrong with it or why it was skipped; a bad
file never stops the report. Nothing here reads the clock: the same folder gives the same
answer.

- Files that share a host identity (the same lab host) but are another student's are
  **shared**: neither is ranked above the other (a copy keeps the original's date and any
  file name); both students' rows say so, naming each other.
- Of a student's own files the newest (by instant, whatever its UTC offset) is used.
- A date more than `MAX_AHEAD` after the middle date of every file the report reads (the
  median of the submissions' and the class's result files' dates) is in doubt: a wrong
  clock or an edited file. It is named, and it never wins over the student's other files.
"""

from __future__ import annotations

import os
import stat
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from labgen.check.results import CheckReport
from labgen.errors import UsageError, printable
from labgen.submit import (
    MAX_SUBMISSION_BYTES,
    RESUBMIT,
    Submission,
    parse_submission,
    utc_text,
)

# inbox/student/attempt/file is the deepest layout a learning platform gives.
MAX_DEPTH = 4
MAX_FILES = 10_000
MAX_AHEAD = timedelta(days=7)
_SPECIAL = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


@dataclass(frozen=True)
class Accepted:
    path: Path
    submission: Submission
    report: CheckReport
    doubt: str = ""  # why its date is in doubt ("" when it is not)

    @property
    def instant(self) -> datetime:
        return self.submission.created_at.astimezone(UTC)


@dataclass(frozen=True)
class Shared:
    """A student whose files share a lab host with other students' files."""

    note: str  # "shares a lab host with bob, carol"
    latest: datetime  # their newest such file's instant


@dataclass
class Ingested:
    accepted: dict[str, Accepted] = field(default_factory=dict)  # by student id
    shared: dict[str, Shared] = field(default_factory=dict)  # by student id
    problems: list[str] = field(default_factory=list)  # one line each, in file-name order


def show(path: Path) -> str:
    """A path as a message shows it: no newline or terminal escape from a file name."""
    return printable(str(path))


def ingest(
    folder: Path,
    lab: str,
    scenario: str,
    students: Collection[str],
    evidence: Sequence[datetime] = (),
) -> Ingested:
    """Sort the files under `folder` into the submission used per student, the students whose
    files are shared, and problems. `evidence`: the dates of the class's other files (results)."""
    if not folder.is_dir():
        raise UsageError(
            f"{show(folder)}: not a folder; give the folder the submissions were copied to"
        )
    problems: dict[Path, str] = {}
    valid: list[Accepted] = []
    for path in _files(folder, problems):
        try:
            valid.append(read_submission(path, lab, scenario, students))
        except ValueError as error:
            problems[path] = str(error)
    result = Ingested()
    valid = _doubted(valid, evidence)
    kept = _unshared(valid, result.shared, problems)
    for item in sorted(kept, key=_order, reverse=True):  # the best first: it is the one used
        student = item.submission.student
        used = result.accepted.get(student)
        if used is None:
            result.accepted[student] = item
            if item.doubt:
                problems[item.path] = (
                    f"{show(item.path)}: {item.doubt}; used: {student}'s only file"
                )
        else:
            problems[item.path] = (
                f"{show(item.path)}: {item.doubt + '; not used: ' if item.doubt else ''}"
                f"{student} handed in more than one; the newest, {show(Path(used.path.name))} "
                f"({utc_text(used.instant)}), is the one used"
            )
    result.problems = [problems[path] for path in sorted(problems)]
    return result


def _files(folder: Path, problems: dict[Path, str]) -> list[Path]:
    """The regular files under `folder` (links to files followed), depth-first in name order;
    whatever else is met is a problem saying what was skipped and why. Hidden names (.DS_Store,
    .git) are the system's, not the students': skipped without a word."""
    found: list[Path] = []
    pending = [(folder, 0)]
    while pending:
        here, depth = pending.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name, reverse=True)
        except OSError as error:
            problems[here] = f"{show(here)}: cannot read this folder ({error.strerror}); skipped"
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            try:
                mode = os.stat(path).st_mode  # follows a link
                linked = entry.is_symlink()
            except FileNotFoundError:
                problems[path] = f"{show(path)}: a link to nothing, skipped; copy the file itself"
                continue
            except OSError as error:
                problems[path] = f"{show(path)}: cannot read it ({error.strerror}); skipped"
                continue
            if stat.S_ISDIR(mode):
                if linked:
                    problems[path] = (
                        f"{show(path)}: a link to a folder, not followed; copy the folder itself"
                    )
                elif depth + 1 >= MAX_DEPTH:
                    problems[path] = (
                        f"{show(path)}: a folder {MAX_DEPTH} levels down, not read; move its "
                        "files up"
                    )
                else:
                    pending.append((path, depth + 1))
            elif stat.S_ISREG(mode):
                found.append(path)
            else:
                kind = _SPECIAL.get(stat.S_IFMT(mode), "not a regular file")
                problems[path] = f"{show(path)}: {kind}, not a file; skipped"
        if len(found) > MAX_FILES:
            problems[folder] = (
                f"{show(folder)}: more than {MAX_FILES} files; only the first {MAX_FILES} were "
                "read; give the folder of this class's submissions only"
            )
            return found[:MAX_FILES]
    return found


def read_submission(path: Path, lab: str, scenario: str, students: Collection[str]) -> Accepted:
    """One file as a submission of this class; raises ValueError, one line, saying what is wrong."""
    where = show(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_SUBMISSION_BYTES + 1)  # more is named, not read whole
    except OSError as error:
        raise ValueError(f"{where}: cannot read it ({error.strerror}); skipped") from None
    try:
        submission, report = parse_submission(raw)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if submission.lab != lab:
        raise ValueError(
            f"{where}: for lab {printable(repr(submission.lab))}, this class's lab is {lab!r}; "
            "ask the student to submit from the class's lab folder"
        )
    if report.lab != submission.lab:
        raise ValueError(
            f"{where}: its grade report is of lab {printable(repr(report.lab))}, not "
            f"{submission.lab!r}; {RESUBMIT}"
        )
    if submission.scenario != scenario:
        raise ValueError(
            f"{where}: scenario {printable(repr(submission.scenario))}, this class's is "
            f"{scenario!r}; ask the student to submit from the class's lab folder"
        )
    if report.mode != "grade":
        raise ValueError(
            f"{where}: its report was made in {report.mode} mode, not grade; {RESUBMIT}"
        )
    if submission.student not in students:
        raise ValueError(
            f"{where}: student {submission.student!r} is not on the class roster; "
            "check the id with the student"
        )
    return Accepted(path, submission, report)


def _order(item: Accepted) -> tuple[bool, datetime, str]:
    """Rank a student's own files: a date in doubt never wins; then the newest instant."""
    return (not item.doubt, item.instant, item.path.as_posix())


def _doubted(valid: list[Accepted], evidence: Sequence[datetime]) -> list[Accepted]:
    """The files, those dated more than MAX_AHEAD after the middle of all dates marked."""
    dates = sorted([item.instant for item in valid] + [d.astimezone(UTC) for d in evidence])
    if not dates:
        return valid
    middle = statistics.median_low(dates)
    marked = []
    for item in valid:
        if item.instant - middle > MAX_AHEAD:  # never middle + MAX_AHEAD: year 9999 overflows
            doubt = (
                f"dated {utc_text(item.instant)}, more than {MAX_AHEAD.days} days after the "
                f"middle date of this report's files ({utc_text(middle)}): the student's clock "
                "or the file is wrong"
            )
            item = Accepted(item.path, item.submission, item.report, doubt)
        marked.append(item)
    return marked


def _unshared(
    valid: list[Accepted], shared: dict[str, Shared], problems: dict[Path, str]
) -> list[Accepted]:
    """The files that share no host identity with another student's file. Each shared file
    gets its problem line and its student a note naming the others; none is ranked."""
    owners: dict[str, list[Accepted]] = {}  # host identity -> the files that have it
    for item in valid:
        for host_id in set(item.submission.host_ids.values()):
            owners.setdefault(host_id, []).append(item)
    partners: dict[Path, dict[Path, Accepted]] = {}
    for items in owners.values():
        for item in items:
            for other in items:
                if other.submission.student != item.submission.student:
                    partners.setdefault(item.path, {})[other.path] = other
    mates: dict[str, set[str]] = {}
    latest: dict[str, datetime] = {}
    for item in valid:
        others = partners.get(item.path)
        if not others:
            continue
        files = ", ".join(
            f"{o.submission.student}'s {show(o.path)}" for _, o in sorted(others.items())
        )
        problems[item.path] = (
            f"{show(item.path)}: {item.submission.student}'s file, from the same lab host as "
            f"{files}: shared, not graded; talk to these students"
        )
        student = item.submission.student
        mates.setdefault(student, set()).update(o.submission.student for o in others.values())
        latest[student] = max(latest.get(student, item.instant), item.instant)
    for student, names in mates.items():
        shared[student] = Shared(
            "shares a lab host with " + ", ".join(sorted(names)), latest[student]
        )
    kept = []
    for item in valid:
        student = item.submission.student
        if student not in shared:
            kept.append(item)
        elif item.path not in problems:  # the student's own file, beside their shared one
            problems[item.path] = (
                f"{show(item.path)}: {student}'s file, not graded while {student} "
                f"{shared[student].note}"
            )
    return kept
