"""`class check` on scripted student labs: grade mode only, concurrent, history kept, and one
broken lab never stops the others."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from itertools import count
from pathlib import Path

import pytest
from classkit import ALL, LAB, SCENARIO, StudentLab, at, first, report_for

from labgen.backends.base import Backend
from labgen.check import report as render
from labgen.check import runner
from labgen.classroom import grading
from labgen.classroom.grading import grade_class, read_result, result_files
from labgen.errors import LabgenError


def clock() -> tuple[list[datetime], Callable[[], datetime]]:
    minutes = count(1)
    moments: list[datetime] = []

    def now() -> datetime:
        moments.append(at(next(minutes)))
        return moments[-1]

    return moments, now


def test_each_student_gets_a_result_file_with_the_check_json_shape(tmp_path: Path) -> None:
    labs = {"alice": StudentLab(ALL), "bob": StudentLab(first(3))}
    lines: list[str] = []
    graded = grade_class(
        tmp_path, LAB, SCENARIO, ["alice", "bob"], labs.__getitem__, jobs=2, echo=lines.append
    )
    assert [g.student for g in graded] == ["alice", "bob"]
    for student, holds in (("alice", ALL), ("bob", first(3))):
        [path] = result_files(tmp_path, student)
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["student"] == student
        assert (data["lab"], data["scenario"], data["format"]) == (LAB, "insecure", 1)
        assert data["labgen_version"] == "0.1.0"
        assert data["reachable"] is True and data["error"] == ""
        assert data["checked_at"].endswith("Z")
        expected = render.to_dict(report_for(holds))
        report = data["report"]
        assert report["mode"] == "grade" and report["ok"] == expected["ok"]
        assert [(r["id"], r["host"], r["status"]) for r in report["results"]] == [
            (r["id"], r["host"], r["status"]) for r in expected["results"]
        ]
    table = "\n".join(lines)
    assert "alice" in table and "6/6" in table and "3/6" in table
    assert "graded 2 of 2 labs" in lines[-1]


def test_grading_only_reads_the_lab(tmp_path: Path) -> None:
    lab = StudentLab(first(2))
    grade_class(tmp_path, LAB, SCENARIO, ["alice"], lambda _: lab, echo=lambda _: None)
    # the goals, and the engine's version (what each verdict is for)
    goal_commands = {goal.run for goal in SCENARIO.goals} | {runner.VERSION_COMMANDS["docker"]}
    assert lab.calls and {command for _, command in lab.calls} <= goal_commands


def test_history_is_kept_and_the_latest_is_last(tmp_path: Path) -> None:
    moments, now = clock()
    labs = [StudentLab(first(1)), StudentLab(first(4))]
    for lab in labs:
        grade_class(
            tmp_path, LAB, SCENARIO, ["alice"], lambda _, lab=lab: lab, now=now,  # type: ignore[misc]
            echo=lambda _: None,
        )  # fmt: skip
    files = result_files(tmp_path, "alice")
    assert len(files) == 2
    assert [read_result(f).checked_at for f in files] == moments
    latest = render.from_dict(read_result(files[-1]).report)
    assert sum(r.status == "pass" for r in latest.results) == len(first(4))
    assert not list((tmp_path / "results" / "alice").glob(".*")), "a temp file was left behind"


def test_an_unreachable_or_broken_lab_is_recorded_and_the_rest_go_on(tmp_path: Path) -> None:
    def backend_for(student: str) -> Backend:
        if student == "bob":
            raise RuntimeError("lab box ws-bob: no such container\nsecond line")
        return StudentLab(ALL, down={"client"} if student == "carol" else set())

    lines: list[str] = []
    graded = grade_class(
        tmp_path, LAB, SCENARIO, ["alice", "bob", "carol"], backend_for, echo=lines.append
    )
    by = {g.student: g for g in graded}
    assert by["alice"].report is not None and by["alice"].error == ""
    assert by["bob"].report is None
    assert by["bob"].error == "could not grade: RuntimeError: lab box ws-bob: no such container"
    assert by["carol"].error == "host client stopped, its Docker engine does not answer"
    for student in ("bob", "carol"):
        record = read_result(result_files(tmp_path, student)[0])
        assert (record.reachable, record.report) == (False, None)
        assert record.error == by[student].error
    assert any("UNREACHABLE" in line and "carol" in line for line in lines)
    assert "graded 1 of 3 labs" in lines[-1]


def test_labs_are_graded_at_the_same_time(tmp_path: Path) -> None:
    # Each lab's first command waits until all three labs are in one: sequential grading
    # would time the barrier out (BrokenBarrierError: the lab counts as not graded).
    barrier = threading.Barrier(3, timeout=10)
    labs = {s: StudentLab(ALL, barrier=barrier) for s in ("a", "b", "c")}
    graded = grade_class(
        tmp_path, LAB, SCENARIO, list(labs), labs.__getitem__, jobs=3, echo=lambda _: None
    )
    assert [g.error for g in graded] == ["", "", ""]


def test_unreachable_hosts_names_hosts_missing_from_the_status() -> None:
    lab = StudentLab()
    lab.status = lambda: []  # type: ignore[method-assign]
    assert grading.unreachable_hosts(lab, SCENARIO) == [
        "host client not created",
        "host registry not created",
    ]


@pytest.mark.parametrize("jobs", [1, 4])
def test_results_come_back_in_roster_order(tmp_path: Path, jobs: int) -> None:
    students = [f"s{i:02d}" for i in range(9)]
    graded = grade_class(
        tmp_path, LAB, SCENARIO, students, lambda _: StudentLab(ALL), jobs=jobs,
        echo=lambda _: None,
    )  # fmt: skip
    assert [g.student for g in graded] == students


def test_a_result_that_cannot_be_written_stops_the_run_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(LabgenError, match=r"results/alice/.*\.json: cannot write the result \("):
        grade_class(
            tmp_path, LAB, SCENARIO, ["alice"], lambda _: StudentLab(ALL), echo=lambda _: None
        )


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
