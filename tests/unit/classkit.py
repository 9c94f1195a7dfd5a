"""What the class tests share: the default lab's scenario, a scripted student lab that holds
the goals a test says, and hand-made result and submission files."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labgen.backends.base import ExecResult, HostStatus, Progress
from labgen.check import report as check_report
from labgen.check import runner
from labgen.check.results import CheckReport, CheckResult
from labgen.spec.parse import parse_spec
from labgen.steps.scenario import load_scenario

SPEC = parse_spec({})[0]
LAB = SPEC.name
SCENARIO = load_scenario(SPEC)
GOALS = [goal.id for goal in SCENARIO.goals]
HOSTS = ("registry", "client")
ALL = {(goal.id, host.name) for goal in SCENARIO.goals for host in goal.hosts}


def first(count: int) -> set[tuple[str, str]]:
    """The (goal, host) pairs of the first `count` goals, in tutorial order: a student that far."""
    return {(goal, host) for goal, host in ALL if goal in GOALS[:count]}


class StudentLab:
    """A student's lab: each goal's command succeeds on the hosts in `holds`; engines answer
    unless a host is in `down`. Records every command, so a test can see nothing changed."""

    name = "scripted"

    def __init__(
        self,
        holds: Collection[tuple[str, str]] = (),
        engine: str = "E",
        down: Collection[str] = (),
        barrier: threading.Barrier | None = None,
    ) -> None:
        self.holds = set(holds)
        self.engine = engine
        self.stopped = set(down)  # hosts whose engine does not answer
        self.barrier = barrier
        self.calls: list[tuple[str, str]] = []
        self._first = threading.Lock()  # a lab's hosts are graded in threads of their own
        self._waited = False

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        self.calls.append((host, command))
        with self._first:
            first, self._waited = not self._waited, True
        if self.barrier is not None and first:
            self.barrier.wait()  # every lab of a concurrent run must get here together
        if host in self.stopped:
            return ExecResult(255, "", f"ssh: connect to host {host}: Connection refused", 0.01)
        if command == "docker info --format '{{.ID}}'":
            return ExecResult(0, f"{self.engine}-{host}\n", "", 0.01)
        if command == runner.VERSION_COMMANDS["docker"]:
            return ExecResult(0, "26.1.5+dfsg1\n", "", 0.01)
        goal = next(g for g in SCENARIO.goals if g.run == command)
        if (goal.id, host) in self.holds:
            return ExecResult(0, "", "", 0.01)
        return ExecResult(1, "", f"<b>{goal.id}</b> failed on {host}", 0.01)

    def status(self) -> list[HostStatus]:
        return [
            HostStatus(
                host, "stopped" if host in self.stopped else "running", host not in self.stopped
            )
            for host in HOSTS
        ]

    # A lab box's own lifecycle (backends.box.Box): `box_state` is what state() says.
    box_state = "running"

    def state(self) -> str:
        return self.box_state

    def repair(self, progress: Progress) -> list[str]:
        raise AssertionError("grading must never repair a lab")

    def address(self) -> tuple[str, int]:
        return "127.0.0.1", 2200

    def up(self, progress: Progress) -> None:
        raise AssertionError("grading must never bring a lab up")

    def down(self, progress: Progress) -> None:
        raise AssertionError("grading must never take a lab down")


def report_for(holds: Collection[tuple[str, str]], mode: str = "grade") -> CheckReport:
    """The grade report a lab holding `holds` gets."""
    results = [
        CheckResult(
            goal.id,
            host.name,
            goal.title.en,
            goal.run,
            "pass" if (goal.id, host.name) in holds else "fail",
            0.01,
            "holds",
            "" if (goal.id, host.name) in holds else f"not yet: {goal.hint.en}",
            0 if (goal.id, host.name) in holds else 1,
        )
        for goal in SCENARIO.goals
        for host in goal.hosts
    ]
    return CheckReport(LAB, mode, "scripted", results, 0.5)  # type: ignore[arg-type]


def at(minute: int) -> datetime:
    return datetime(2026, 11, 28, 8, minute, 0, tzinfo=UTC)


def write_result(
    class_dir: Path,
    student: str,
    when: datetime,
    holds: Collection[tuple[str, str]] | None,
    error: str = "",
    class_name: str = "ws",
) -> Path:
    """A hand-made `class check` result file (holds None: the lab was unreachable)."""
    record = {
        "format": 2,
        "class": class_name,
        "student": student,
        "lab": LAB,
        "scenario": SCENARIO.name,
        "goals": GOALS,
        "labgen_version": "0.1.0",
        "checked_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state": "graded" if holds is not None else "unreachable",
        "error": error,
        "report": check_report.to_dict(report_for(holds)) if holds is not None else None,
    }
    path = class_dir / "results" / student / f"{when.strftime('%Y%m%dT%H%M%S.%fZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def submission(
    student: str, when: datetime, holds: Collection[tuple[str, str]], engine: str
) -> dict[str, Any]:
    """A hand-made `labgen submit` file's content."""
    return {
        "format": 1,
        "student": student,
        "lab": LAB,
        "scenario": SCENARIO.name,
        "labgen_version": "0.1.0",
        "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "engine_ids": {host: f"{engine}-{host}" for host in HOSTS},
        "report": check_report.to_dict(report_for(holds)),
    }


def put(folder: Path, name: str, content: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path
