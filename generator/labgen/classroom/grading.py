"""`class check`: grade a student's running lab (grade mode: nothing in it changes).

A lab graded gives a result whose goals are ✓, ✗ or "?" (the check could not be made);
a lab that could not be reached, or whose box or a needed host stopped answering during
the check, gives a result that says why and counts no goal as failed. A bug of labgen's
is said to be one ("labgen error: ..."), never blamed on the lab.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from labgen import __version__
from labgen.backends.base import Backend, Progress
from labgen.backends.box import Box
from labgen.check import report as check_report
from labgen.check import runner as check_runner
from labgen.check.results import CheckReport
from labgen.classroom.boxes import BoxFor
from labgen.classroom.model import Class, Seat
from labgen.classroom.results import (
    RESULT_FORMAT,
    ResultRecord,
    ResultState,
    failing_hosts,
    write_result,
)
from labgen.classroom.runner import Work
from labgen.errors import LabgenError
from labgen.steps.scenario import Scenario, load_scenario

Clock = Callable[[], datetime]


def precise_now() -> datetime:
    return datetime.now(UTC)


def grade_seat(
    cls: Class,
    seat: Seat,
    box: Box,
    timeout: float,
    scenario: Scenario | None = None,
    now: Clock = precise_now,
) -> ResultRecord:
    """The result of grading `seat`'s lab in `box` once (not yet written)."""
    scenario = scenario or load_scenario(cls.lab)
    report: CheckReport | None = None
    state: ResultState = "graded"
    try:
        problems = unreachable(box, scenario)
        if not problems:
            report = check_runner.grade(
                box, scenario, cls.lab.name, timeout, lambda *_: None, lambda _: None
            )
            # Whatever failed while its box or a host was going away was not the student's.
            problems = [f"{item} during the check" for item in unreachable(box, scenario)]
        error = "; ".join(problems)
    except LabgenError as failure:
        error = _first_line(failure)
    except Exception as failure:  # one student's check must not stop the class's grading
        state, error = (
            "labgen-error",
            f"labgen error: {type(failure).__name__}: {_first_line(failure)}",
        )
    if error and state == "graded":
        state, report = "unreachable", None
    return ResultRecord(
        format=RESULT_FORMAT,
        class_name=cls.name,
        student=seat.student,
        lab=cls.lab.name,
        scenario=scenario.name,
        goals=[goal.id for goal in scenario.goals],
        labgen_version=__version__,
        checked_at=now(),
        state=state,
        error=error,
        report=check_report.to_dict(report) if report is not None else None,
    )


def unreachable(box: Box, scenario: Scenario) -> list[str]:
    """Why the lab cannot be graded: its box not running, or a host the goals need whose
    engine does not answer, with its state. Empty when it can be."""
    state = box.state()
    if state != "running":
        return [f"box {state}"]
    return unreachable_hosts(box, scenario)


def unreachable_hosts(backend: Backend, scenario: Scenario) -> list[str]:
    """Each host the goals need whose engine does not answer, with its state."""
    statuses = {item.host: item for item in backend.status()}
    needed = sorted({host.name for goal in scenario.goals for host in goal.hosts})
    problems = []
    for host in needed:
        status = statuses.get(host)
        if status is None:
            problems.append(f"host {host} not created")
        elif not status.engine:
            problems.append(f"host {host} {status.state}, its engine does not answer")
    return problems


def check_work(cls: Class, box_for: BoxFor, timeout: float, now: Clock = precise_now) -> Work:
    """What `class check` does for one student: grade, then keep the result, unless
    stopped (Ctrl-C) meanwhile: an interrupted check keeps nothing."""
    scenario = load_scenario(cls.lab)

    def work(seat: Seat, progress: Progress, stop: threading.Event) -> tuple[bool, str]:
        progress("grading")
        box = box_for(seat)
        record = grade_seat(cls, seat, box, timeout, scenario, now)
        if stop.is_set():
            return False, "interrupted: no result kept"
        write_result(cls.folder, record)
        if record.report is None:
            return False, record.error
        return True, _goals_text(check_report.from_dict(record.report), scenario)

    return work


def _goals_text(report: CheckReport, scenario: Scenario) -> str:
    held = sum(
        1
        for goal in scenario.goals
        if not failing_hosts(report, goal.id, [h.name for h in goal.hosts])
    )
    return f"graded: {held}/{len(scenario.goals)} goals hold"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
