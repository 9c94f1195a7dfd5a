"""`class report`: the latest result per student (hosted) and the accepted submissions (byod)
become a students x goals matrix, written as report.html, report.csv and report.json.

A goal on several hosts is done when it holds on all of them. The same inputs always give
the same files: nothing here reads the clock.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jinja2

from labgen.atomic import write_text_atomic
from labgen.check import report as check_report
from labgen.check.results import CheckReport
from labgen.classroom.results import (
    Identity,
    failing_hosts,
    identity_of,
    read_result,
    result_files,
)
from labgen.classroom.submissions import Accepted
from labgen.steps.scenario import Goal, Scenario

REPORT_FORMAT = 1
Source = Literal["hosted", "byod"]
CellState = Literal["done", "todo", "unknown", "never"]
MARKS: dict[CellState, str] = {"done": "✓", "todo": "✗", "unknown": "?", "never": "\N{EM DASH}"}


@dataclass(frozen=True)
class Entry:
    """The latest thing known about one student's lab."""

    source: Source
    checked_at: datetime
    report: CheckReport | None  # None: the lab could not be graded
    error: str  # why not


@dataclass(frozen=True)
class Cell:
    state: CellState
    mark: str
    failing: tuple[str, ...]  # hosts where the goal does not hold
    note: str  # the tooltip: where it fails and why
    label: str = ""  # the failing hosts, shown when the goal holds on some of its hosts


@dataclass(frozen=True)
class Row:
    student: str
    name: str
    state: Literal["graded", "unreachable", "never"]
    source: str  # hosted, byod, or "" when never checked
    checked_at: str  # "YYYY-MM-DD HH:MM:SS" UTC, or ""
    cells: tuple[Cell, ...]
    done: int
    stuck_at: str  # the first goal, in tutorial order, that does not hold ("" if none)
    status: str  # the same for people: "3. image-in-registry", "finished", "lab unreachable"...
    error: str


@dataclass(frozen=True)
class GoalColumn:
    number: int
    id: str
    title: str
    hosts: tuple[str, ...]
    done: int
    percent: int


@dataclass(frozen=True)
class ClassReport:
    name: str
    lab: str
    scenario: str
    goals: tuple[GoalColumn, ...]
    rows: tuple[Row, ...]
    last_checked: str
    problems: tuple[str, ...]  # bad result or submission files, one line each


def collect_entries(
    class_dir: Path, students: Sequence[str], accepted: Mapping[str, Accepted], identity: Identity
) -> tuple[dict[str, Entry], list[str]]:
    """Per student, the newest of their latest readable result and their accepted submission.
    A result file that cannot be used is named in the problems, and the one before it is used."""
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    for student in students:
        found = [_latest_result(class_dir, student, identity, problems)]
        if student in accepted:
            item = accepted[student]
            found.append(Entry("byod", item.submission.created_at, item.report, ""))
        latest = max((e for e in found if e), key=lambda e: e.checked_at, default=None)
        if latest:
            entries[student] = latest
    return entries, problems


def _latest_result(
    class_dir: Path, student: str, identity: Identity, problems: list[str]
) -> Entry | None:
    for path in reversed(result_files(class_dir, student)):
        try:
            record = read_result(path, identity, student)
            report = check_report.from_dict(record.report) if record.report is not None else None
        except ValueError as error:  # msgspec.ValidationError is a ValueError
            problems.append(str(error).splitlines()[0])
            continue
        return Entry("hosted", record.checked_at, report, record.error)
    return None


def build_report(
    name: str,
    lab: str,
    scenario: Scenario,
    roster: Sequence[tuple[str, str]],
    entries: Mapping[str, Entry],
    problems: Sequence[str] = (),
) -> ClassReport:
    """The matrix: one row per (id, name) of `roster`, in roster order; one column per goal."""
    rows = tuple(
        _row(student, name, scenario.goals, entries.get(student)) for student, name in roster
    )
    goals = []
    for number, goal in enumerate(scenario.goals, start=1):
        done = sum(1 for row in rows if row.cells[number - 1].state == "done")
        goals.append(
            GoalColumn(
                number=number,
                id=goal.id,
                title=goal.title.en,
                hosts=tuple(h.name for h in goal.hosts),
                done=done,
                percent=round(100 * done / len(rows)) if rows else 0,
            )
        )
    checked = [row.checked_at for row in rows if row.checked_at]
    return ClassReport(
        name=name,
        lab=lab,
        scenario=scenario.name,
        goals=tuple(goals),
        rows=rows,
        last_checked=max(checked, default=""),
        problems=tuple(problems),
    )


def _row(student: str, name: str, goals: Sequence[Goal], entry: Entry | None) -> Row:
    if entry is None:
        cells = tuple(Cell("never", MARKS["never"], (), "never checked") for _ in goals)
        return Row(student, name, "never", "", "", cells, 0, "", "never checked", "")
    # A submission may carry any UTC offset; the page says UTC, so show UTC.
    checked_at = entry.checked_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if entry.report is None:
        cells = tuple(Cell("unknown", MARKS["unknown"], (), entry.error) for _ in goals)
        return Row(
            student=student,
            name=name,
            state="unreachable",
            source=entry.source,
            checked_at=checked_at,
            cells=cells,
            done=0,
            stuck_at="",
            # labgen's own bug is said to be one, not blamed on the lab
            status="labgen error" if entry.error.startswith("labgen error:") else "lab unreachable",
            error=entry.error,
        )
    cells = tuple(_cell(entry.report, goal) for goal in goals)
    done = sum(1 for cell in cells if cell.state == "done")
    stuck = next((i for i, cell in enumerate(cells) if cell.state != "done"), None)
    stuck_at = goals[stuck].id if stuck is not None else ""
    status = f"{stuck + 1}. {stuck_at}" if stuck is not None else "finished"
    return Row(student, name, "graded", entry.source, checked_at, cells, done, stuck_at, status, "")


def _cell(report: CheckReport, goal: Goal) -> Cell:
    hosts = [h.name for h in goal.hosts]
    failing = failing_hosts(report, goal.id, hosts)
    if not failing:
        return Cell("done", MARKS["done"], (), f"{goal.id}: holds on {', '.join(hosts)}")
    lines = [f"{goal.id}: does not hold on {', '.join(failing)}"]
    for host in failing:
        result = next((r for r in report.results if r.id == goal.id and r.host == host), None)
        if result is None:
            lines.append(f"{host}: no result (not graded on this host)")
            continue
        lines.append(f"{host}: {result.detail or result.status}")
        lines += [f"  | {line}" for line in result.excerpt.splitlines()]
    # Named only when it holds on some hosts: "✗ client" says the registry host is fine.
    label = " ".join(failing) if len(failing) < len(hosts) else ""
    return Cell("todo", MARKS["todo"], tuple(failing), "\n".join(lines), label)


def to_json(report: ClassReport) -> str:
    data: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "class": report.name,
        "lab": report.lab,
        "scenario": report.scenario,
        "last_checked": report.last_checked,
        "goals": [asdict(goal) for goal in report.goals],
        "students": [
            {
                "id": row.student,
                "name": row.name,
                "state": row.state,
                "source": row.source,
                "checked_at": row.checked_at,
                "goals_done": row.done,
                "stuck_at": row.stuck_at,
                "status": row.status,
                "error": row.error,
                "goals": {
                    goal.id: {"state": cell.state, "failing_hosts": list(cell.failing)}
                    for goal, cell in zip(report.goals, row.cells, strict=True)
                },
            }
            for row in report.rows
        ],
        "problems": list(report.problems),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_csv(report: ClassReport) -> str:
    """One row per student: the grade sheet. Cells a spreadsheet would run as a formula are quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = ["student", "name", "state", "source", "checked_at", "goals_done", "stuck_at"]
    writer.writerow(head + [goal.id for goal in report.goals])
    for row in report.rows:
        cells = [_csv_cell(cell) for cell in row.cells]
        values = [row.student, row.name, row.state, row.source, row.checked_at, str(row.done)]
        writer.writerow([_inert(v) for v in [*values, row.stuck_at, *cells]])
    return out.getvalue()


def _csv_cell(cell: Cell) -> str:
    if cell.state == "todo":
        return f"todo ({' '.join(cell.failing)})"
    return "" if cell.state == "never" else cell.state


def _inert(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_html(report: ClassReport, refresh: int | None = None) -> str:
    """The page a teacher projects; `refresh` (watch mode) makes it reload every so many seconds."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("labgen.templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # names, ids and error excerpts come from files
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template("class-report.html.j2").render(
        report=report,
        refresh=refresh,
        goal_count=len(report.goals),
        finished=sum(1 for row in report.rows if row.state == "graded" and not row.stuck_at),
    )


REPORT_FILES = ("report.html", "report.csv", "report.json")


def write_reports(class_dir: Path, report: ClassReport, refresh: int | None = None) -> list[Path]:
    """report.html, report.csv and report.json in the class folder, each written atomically."""
    written = []
    texts = (to_html(report, refresh), to_csv(report), to_json(report))
    for name, text in zip(REPORT_FILES, texts, strict=True):
        write_text_atomic(class_dir / name, text)
        written.append(class_dir / name)
    return written


def report_class(
    class_dir: Path,
    name: str,
    lab: str,
    scenario: Scenario,
    roster: Sequence[tuple[str, str]],
    submissions: Path | None,
    refresh: int | None = None,
) -> ClassReport:
    """`class report`: read results and submissions, build the matrix, write the three files."""
    from labgen.classroom.submissions import ingest

    ids = [student for student, _ in roster]
    accepted: dict[str, Accepted] = {}
    problems: list[str] = []
    if submissions is not None:
        ingested = ingest(submissions, lab, scenario.name, ids)
        accepted, problems = ingested.accepted, ingested.problems
    identity = identity_of(name, lab, scenario)
    entries, result_problems = collect_entries(class_dir, ids, accepted, identity)
    report = build_report(name, lab, scenario, roster, entries, [*problems, *result_problems])
    write_reports(class_dir, report, refresh)
    return report
