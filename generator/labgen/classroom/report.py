"""`class report`: what is known of each student's lab, read into one model and rendered
three ways (report.html, report.csv, report.json).

The model: one row per student, one cell per goal, each in one state:
done ✓, todo ✗ (does not hold on some host), unknown ? (could not be checked, with why),
never — (never checked), shared ⇄ (the student's submission shares a lab host with another
student's: not graded until the teacher has talked to them). What is known comes from the
hosted result files (`class check`) and the byod submissions (`labgen submit`); of a
student's latest result and the submission used, the newest instant counts.

Each file is checked as it is read (format, class lab and scenario); one that cannot be
used is named in one line and the rest reported. The same inputs always give the same
files: nothing here reads the clock.
"""

from __future__ import annotations

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
from labgen.check.results import GOOD, CheckReport, CheckResult
from labgen.classroom.results import (
    Identity,
    ResultRecord,
    identity_of,
    read_result,
    result_files,
)
from labgen.classroom.sheet import csv_lines
from labgen.classroom.submissions import Ingested, Shared, show
from labgen.errors import printable
from labgen.steps.scenario import Goal, Scenario

# 2: cells and rows may be "shared"; a cell may be "unknown" in a graded row.
REPORT_FORMAT = 2
Source = Literal["hosted", "byod"]
CellState = Literal["done", "todo", "unknown", "never", "shared"]
RowState = Literal["graded", "unreachable", "never", "shared"]
MARKS: dict[CellState, str] = {
    "done": "✓",
    "todo": "✗",
    "unknown": "?",
    "never": "\N{EM DASH}",
    "shared": "⇄",
}


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
    failing: tuple[str, ...]  # hosts where the goal does not hold (or could not be checked)
    note: str  # the tooltip: where it fails and why
    label: str = ""  # the failing hosts, shown when the goal holds on some of its hosts


@dataclass(frozen=True)
class Row:
    student: str
    name: str
    state: RowState
    source: str  # hosted, byod, or "" when never checked
    checked_at: str  # "YYYY-MM-DD HH:MM:SS" UTC, or ""
    cells: tuple[Cell, ...]
    done: int
    stuck_at: str  # the first goal, in tutorial order, that is not done ("" if none)
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
    problems: tuple[str, ...]  # files not used or in doubt, one line each


def latest_result(
    class_dir: Path, student: str, identity: Identity, problems: list[str]
) -> Entry | None:
    """The student's newest usable result; each newer one that cannot be used is named."""
    for path in result_files(class_dir, student, problems):
        try:
            return _entry(path, read_result(path, identity, student))
        except ValueError as error:
            problems.append(str(error))
    return None


def _entry(path: Path, record: ResultRecord) -> Entry:
    try:
        report = check_report.from_dict(record.report) if record.report is not None else None
        checked_at = record.checked_at.astimezone(UTC)
    except (ValueError, OverflowError) as error:  # msgspec's errors are ValueErrors
        text = printable(" ".join(str(error).split()))[:200]
        raise ValueError(
            f"{show(path)}: not a result file ({text}); run `labgen class check` again"
        ) from None
    return Entry("hosted", checked_at, report, record.error)


def build_report(
    name: str,
    lab: str,
    scenario: Scenario,
    roster: Sequence[tuple[str, str]],
    entries: Mapping[str, Entry],
    problems: Sequence[str] = (),
    shared: Mapping[str, Shared] | None = None,
) -> ClassReport:
    """The model: one row per (id, name) of `roster`, in roster order; one column per goal."""
    shared = shared or {}
    rows = tuple(
        _shared_row(student, name, scenario.goals, shared[student])
        if student in shared
        else _row(student, name, scenario.goals, entries.get(student))
        for student, name in roster
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


def _shared_row(student: str, name: str, goals: Sequence[Goal], shared: Shared) -> Row:
    cells = tuple(Cell("shared", MARKS["shared"], (), shared.note) for _ in goals)
    when = _shown(shared.latest)
    return Row(student, name, "shared", "byod", when, cells, 0, "", "shared", shared.note)


def _row(student: str, name: str, goals: Sequence[Goal], entry: Entry | None) -> Row:
    if entry is None:
        cells = tuple(Cell("never", MARKS["never"], (), "never checked") for _ in goals)
        return Row(student, name, "never", "", "", cells, 0, "", "never checked", "")
    checked_at = _shown(entry.checked_at)
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
    status = "finished"
    if stuck is not None:
        status = f"{stuck + 1}. {stuck_at}" + (" (?)" if cells[stuck].state == "unknown" else "")
    return Row(student, name, "graded", entry.source, checked_at, cells, done, stuck_at, status, "")


def _shown(instant: datetime) -> str:
    """An instant (UTC) as the page shows it; isoformat, since strftime writes year 1 as "1"."""
    return instant.replace(tzinfo=None).isoformat(" ", "seconds")


def _cell(report: CheckReport, goal: Goal) -> Cell:
    """A goal on several hosts is done when it holds on all; not done when it does not hold on
    one; else, when a host could not be checked, unknown."""
    hosts = [h.name for h in goal.hosts]
    results = {r.host: r for r in report.results if r.id == goal.id}
    verdicts = {host: _verdict(results.get(host)) for host in hosts}
    failing = [host for host in hosts if verdicts[host] == "todo"]
    unknown = [host for host in hosts if verdicts[host] == "unknown"]
    if not failing and not unknown:
        return Cell("done", MARKS["done"], (), f"{goal.id}: holds on {', '.join(hosts)}")
    state: CellState = "todo" if failing else "unknown"
    named = failing or unknown
    what = "does not hold on" if failing else "could not be checked on"
    lines = [f"{goal.id}: {what} {', '.join(named)}"]
    lines += [_why(host, results.get(host)) for host in named]
    # Named only when it holds on some hosts: "✗ client" says the registry host is fine.
    label = " ".join(named) if len(named) < len(hosts) else ""
    return Cell(state, MARKS[state], tuple(named), "\n".join(lines), label)


def _verdict(result: CheckResult | None) -> CellState:
    if result is None:
        return "todo"
    if result.status in GOOD:
        return "done"
    return "unknown" if result.status == "unknown" else "todo"


def _why(host: str, result: CheckResult | None) -> str:
    """One line: what the check said on `host`, and what its command printed, as prose (a goal's
    raw output, such as jq's `false`, means nothing to a teacher on its own)."""
    if result is None:
        return f"{host}: no result (not graded on this host)"
    printed = " / ".join(line.strip() for line in result.excerpt.splitlines() if line.strip())
    if len(printed) > 160:
        printed = printed[:157] + "..."
    said = f" (the check printed: {printed})" if printed else ""
    return f"{host}: {result.detail or result.status}{said}"


def to_dict(report: ClassReport) -> dict[str, Any]:
    """The model as report.json holds it."""
    return {
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
                    goal.id: {"state": cell.state, "hosts": list(cell.failing), "why": cell.note}
                    for goal, cell in zip(report.goals, row.cells, strict=True)
                },
            }
            for row in report.rows
        ],
        "problems": list(report.problems),
    }


def to_json(report: ClassReport) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"


def to_csv(report: ClassReport) -> str:
    """The grade sheet: a line saying which format, class, lab and scenario it is, then one row
    per student. No cell can be run by a spreadsheet."""
    head = ["student", "name", "state", "source", "checked_at", "goals_done", "stuck_at"]
    rows = [
        [f"# labgen class report format {REPORT_FORMAT}", report.name, report.lab, report.scenario],
        head + [goal.id for goal in report.goals],
    ]
    for row in report.rows:
        values = [row.student, row.name, row.state, row.source, row.checked_at, str(row.done)]
        rows.append([*values, row.stuck_at, *(_csv_cell(cell) for cell in row.cells)])
    return csv_lines(rows)


def _csv_cell(cell: Cell) -> str:
    if cell.state in ("todo", "unknown"):
        return f"{cell.state} ({' '.join(cell.failing)})" if cell.failing else cell.state
    return "" if cell.state == "never" else cell.state


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


def read_report(
    class_dir: Path,
    name: str,
    lab: str,
    scenario: Scenario,
    roster: Sequence[tuple[str, str]],
    submissions: Path | None,
) -> ClassReport:
    """The model: the class's results and (byod) the submissions under `submissions`, read and
    checked; nothing is written."""
    from labgen.classroom.submissions import ingest

    ids = [student for student, _ in roster]
    identity = identity_of(name, lab, scenario)
    problems: list[str] = []
    results = {
        student: entry
        for student in ids
        if (entry := latest_result(class_dir, student, identity, problems))
    }
    ingested = Ingested()
    if submissions is not None:
        dates = [entry.checked_at for entry in results.values()]
        ingested = ingest(submissions, lab, scenario.name, ids, dates)
    entries = {
        student: max(found, key=lambda e: e.checked_at)
        for student in ids
        if (found := _found(results.get(student), ingested, student))
    }
    # Each line is already made safe where it is written; this keeps it so for every reader.
    lines = [printable(line) for line in [*ingested.problems, *problems]]
    return build_report(name, lab, scenario, roster, entries, lines, ingested.shared)


def report_class(
    class_dir: Path,
    name: str,
    lab: str,
    scenario: Scenario,
    roster: Sequence[tuple[str, str]],
    submissions: Path | None,
    refresh: int | None = None,
) -> ClassReport:
    """`class report`: read the model, write it three ways (report.html, .csv, .json)."""
    report = read_report(class_dir, name, lab, scenario, roster, submissions)
    write_reports(class_dir, report, refresh)
    return report


def _found(result: Entry | None, ingested: Ingested, student: str) -> list[Entry]:
    found = [result] if result else []
    if student in ingested.accepted:
        item = ingested.accepted[student]
        found.append(Entry("byod", item.instant, item.report, ""))
    return found
