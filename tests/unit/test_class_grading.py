"""`class check` on scripted student labs: grade mode only, concurrent, history kept, one
broken lab never stops the others, and "could not check" is never "not done"."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from itertools import count
from pathlib import Path

import pytest
from classkit import ALL, LAB, SCENARIO, StudentLab, at, first, report_for

from labgen.check import report as check_report
from labgen.check import runner as check_runner
from labgen.classroom import grading
from labgen.classroom.model import Class, Seat
from labgen.classroom.results import (
    RESULT_FORMAT,
    identity_of,
    read_result,
    result_files,
    write_result,
)
from labgen.classroom.runner import for_each_student
from labgen.classroom.spec import parse_class
from labgen.errors import LabgenError


def a_class(folder: Path, students: tuple[str, ...] = ("alice", "bob", "carol")) -> Class:
    raw = {
        "name": "ws",
        "delivery": "hosted",
        "students": list(students),
        "hosted": {"server": "lab.example.org"},
    }
    classroom, _ = parse_class(raw, folder)
    seats = tuple(Seat("ws", s, 2200 + i, "pw") for i, s in enumerate(students))
    return Class(folder, classroom, seats)


IDENTITY = identity_of("ws", LAB, SCENARIO)


def clock() -> tuple[list[datetime], Callable[[], datetime]]:
    minutes = count(1)
    moments: list[datetime] = []

    def now() -> datetime:
        moments.append(at(next(minutes)))
        return moments[-1]

    return moments, now


def check(
    cls: Class, labs: Callable[[Seat], StudentLab], jobs: int = 2, now=grading.precise_now
) -> list:
    work = grading.check_work(cls, labs, 5, now)  # type: ignore[arg-type]
    return for_each_student(cls.seats, work, jobs, out=open("/dev/null", "w"))


def test_each_student_gets_a_result_file_with_the_class_and_scenario_identity(
    tmp_path: Path,
) -> None:
    cls = a_class(tmp_path, ("alice", "bob"))
    labs = {"alice": StudentLab(ALL), "bob": StudentLab(first(3))}
    outcomes = check(cls, lambda seat: labs[seat.student])
    assert [(o.student, o.ok, o.detail) for o in outcomes] == [
        ("alice", True, "graded: 6/6 goals hold"),
        ("bob", True, "graded: 3/6 goals hold"),
    ]
    for student, holds in (("alice", ALL), ("bob", first(3))):
        [path] = result_files(tmp_path, student)
        data = json.loads(path.read_text(encoding="utf-8"))
        assert (data["format"], data["class"], data["student"]) == (RESULT_FORMAT, "ws", student)
        assert (data["lab"], data["scenario"]) == (LAB, "insecure")
        assert data["goals"] == [goal.id for goal in SCENARIO.goals]
        assert (data["state"], data["error"]) == ("graded", "")
        assert data["checked_at"].endswith("Z")
        expected = check_report.to_dict(report_for(holds))
        assert [(r["id"], r["host"], r["status"]) for r in data["report"]["results"]] == [
            (r["id"], r["host"], r["status"]) for r in expected["results"]
        ]


def test_grading_only_reads_the_lab(tmp_path: Path) -> None:
    lab = StudentLab(first(2))
    check(a_class(tmp_path, ("alice",)), lambda _: lab)
    goal_commands = {goal.run for goal in SCENARIO.goals} | {
        check_runner.VERSION_COMMANDS["docker"]
    }
    assert lab.calls and {command for _, command in lab.calls} <= goal_commands


def test_history_is_kept_and_the_latest_is_last(tmp_path: Path) -> None:
    cls = a_class(tmp_path, ("alice",))
    moments, now = clock()
    for lab in (StudentLab(first(1)), StudentLab(first(4))):
        check(cls, lambda _, lab=lab: lab, now=now)  # type: ignore[misc]
    files = result_files(tmp_path, "alice")
    assert [read_result(f, IDENTITY, "alice").checked_at for f in files] == moments
    latest = check_report.from_dict(read_result(files[-1], IDENTITY, "alice").report)
    assert sum(r.status == "pass" for r in latest.results) == len(first(4))
    assert not list((tmp_path / "results" / "alice").glob(".*")), "a temp file was left behind"


def test_an_unreachable_lab_or_a_bug_of_labgens_is_recorded_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    cls = a_class(tmp_path)
    stopped = StudentLab(ALL)
    stopped.box_state = "stopped"

    def lab_of(seat: Seat) -> StudentLab:
        if seat.student == "bob":
            raise RuntimeError("list index out of range\nsecond line")
        return StudentLab(ALL, down={"client"}) if seat.student == "carol" else stopped

    outcomes = {o.student: o for o in check(cls, lab_of)}
    assert outcomes["alice"].detail == "box stopped"
    # the runner isolates a bug in one student's work; grade_seat names it too
    assert outcomes["bob"].detail == "labgen error: RuntimeError: list index out of range"
    assert outcomes["carol"].detail == "host client stopped, its engine does not answer"
    for student in ("alice", "carol"):
        record = read_result(result_files(tmp_path, student)[0], IDENTITY, student)
        assert (record.state, record.report) == ("unreachable", None)
        assert record.error == outcomes[student].detail


def test_labgens_own_bug_while_grading_is_said_to_be_one(tmp_path: Path, monkeypatch) -> None:
    cls = a_class(tmp_path, ("alice",))

    def broken(*_: object) -> None:
        raise KeyError("engines")

    monkeypatch.setattr(check_runner, "grade", broken)
    record = grading.grade_seat(cls, cls.seats[0], StudentLab(ALL), 5)  # type: ignore[arg-type]
    assert (record.state, record.report) == ("labgen-error", None)
    assert record.error == "labgen error: KeyError: 'engines'"


class DyingLab(StudentLab):
    """A lab whose box (or one host's engine) goes away after the first goal command."""

    def __init__(self, what: str) -> None:
        super().__init__(ALL)
        self.what = what
        self.dead = False

    def exec(self, host: str, command: str, timeout: float):  # type: ignore[override]
        if self.dead:
            return check_runner.ExecResult(  # type: ignore[attr-defined]
                1, "", "Error response from daemon: container is not running", 0.01
            )
        if command in {goal.run for goal in SCENARIO.goals}:
            self.dead = True
            if self.what == "box":
                self.box_state = "stopped"
            else:
                self.stopped = {"client"}
        return super().exec(host, command, timeout)


@pytest.mark.parametrize(
    ("what", "reason"),
    [
        ("box", "box stopped during the check"),
        ("engine", "host client stopped, its engine does not answer during the check"),
    ],
)
def test_a_box_or_engine_dying_mid_check_is_could_not_check_never_failed(
    tmp_path: Path, what: str, reason: str
) -> None:
    cls = a_class(tmp_path, ("alice",))
    record = grading.grade_seat(cls, cls.seats[0], DyingLab(what), 5)  # type: ignore[arg-type]
    assert (record.state, record.report, record.error) == ("unreachable", None, reason)


def test_labs_are_graded_at_the_same_time(tmp_path: Path) -> None:
    # Each lab's first command waits until all three labs are in one: sequential grading
    # would time the barrier out (BrokenBarrierError: the lab counts as not graded).
    barrier = threading.Barrier(3, timeout=10)
    labs = {s: StudentLab(ALL, barrier=barrier) for s in ("a", "b", "c")}
    outcomes = check(a_class(tmp_path, tuple(labs)), lambda seat: labs[seat.student], jobs=3)
    assert [o.ok for o in outcomes] == [True, True, True]


def test_unreachable_hosts_names_hosts_missing_from_the_status() -> None:
    lab = StudentLab()
    lab.status = lambda: []  # type: ignore[method-assign]
    assert grading.unreachable_hosts(lab, SCENARIO) == [
        "host client not created",
        "host registry not created",
    ]


def test_a_result_that_cannot_be_written_stops_the_run_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("a file where the folder should be", encoding="utf-8")
    cls = a_class(tmp_path, ("alice",))
    record = grading.grade_seat(cls, cls.seats[0], StudentLab(ALL), 5)  # type: ignore[arg-type]
    with pytest.raises(LabgenError, match=r"results/alice/.*\.json: cannot write the result \("):
        write_result(tmp_path, record)


def test_ctrl_c_during_a_check_keeps_no_result_at_all(tmp_path: Path) -> None:
    # alice's check is in flight when Ctrl-C comes; bob's has not started (jobs 1)
    cls = a_class(tmp_path, ("alice", "bob"))
    started = threading.Event()
    release = threading.Event()

    class SlowLab(StudentLab):
        def exec(self, host: str, command: str, timeout: float):  # type: ignore[override]
            started.set()
            release.wait(10)
            return super().exec(host, command, timeout)

    def interrupt() -> None:
        started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # the runner takes it within 0.1 s; then alice's check goes on
        release.set()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt).start()
        with pytest.raises(KeyboardInterrupt):
            check(cls, lambda _: SlowLab(ALL), jobs=1)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not (tmp_path / "results").exists()


def test_a_result_is_checked_against_the_class_on_read(tmp_path: Path) -> None:
    cls = a_class(tmp_path, ("alice",))
    record = grading.grade_seat(cls, cls.seats[0], StudentLab(ALL), 5)  # type: ignore[arg-type]
    path = write_result(tmp_path, record)
    assert read_result(path, IDENTITY, "alice").state == "graded"
    other_goals = identity_of("ws", LAB, SCENARIO)
    other_goals = type(other_goals)("ws", LAB, "insecure", ("registry-running",))
    with pytest.raises(
        ValueError, match=r"\(class 'ws', scenario 'insecure', 6 goals\), not of 'alice'"
    ):
        read_result(path, other_goals, "alice")
    with pytest.raises(ValueError, match="not of 'bob'"):
        read_result(path, IDENTITY, "bob")
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "format": 1}))
    with pytest.raises(
        ValueError, match=r"not a result file \(format 1, this labgen reads format 2\)"
    ):
        read_result(path, IDENTITY, "alice")
    path.write_text("[" * 100_000)
    with pytest.raises(ValueError, match="not a result file"):
        read_result(path, IDENTITY, "alice")


def test_nothing_below_the_class_layer_imports_it() -> None:
    # The class layer sits on top: only cli.py (to attach `labgen class`) may name it.
    package = Path(grading.__file__).resolve().parent.parent
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "labgen.classroom" in path.read_text(encoding="utf-8")
        and path.parent.name != "classroom"
    )
    assert importers == ["cli.py"]
