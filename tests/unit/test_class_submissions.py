"""byod submissions as `class report --submissions` reads them: each bad file is named, in
one line, with what is wrong, and never stops the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from classkit import ALL, LAB, SCENARIO, at, first, put, submission

from labgen.classroom.report import report_class
from labgen.classroom.submissions import ingest
from labgen.errors import UsageError

ROSTER = ["alice", "bob", "carol"]


def problems_of(folder: Path) -> list[str]:
    ingested = ingest(folder, LAB, "insecure", ROSTER)
    for line in ingested.problems:
        assert "\n" not in line
    return ingested.problems


def changed(**fields: Any) -> dict[str, Any]:
    return {**submission("alice", at(1), ALL, "E1"), **fields}


def test_good_submissions_are_accepted(tmp_path: Path) -> None:
    put(tmp_path, "a.json", submission("alice", at(1), ALL, "E1"))
    put(tmp_path, "b.json", submission("bob", at(2), first(2), "E2"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert ingested.problems == []
    assert sorted(ingested.accepted) == ["alice", "bob"]
    assert ingested.accepted["bob"].report.count("pass") == len(first(2))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON (Expecting property name enclosed in double quotes"),
        ("", "not JSON (Expecting value"),
        ([1, 2], "not a labgen submission (Expected `object`, got `array`)"),
        ({"student": "alice"}, "not a labgen submission (Object missing required field"),
        (changed(extra=1), "not a labgen submission (Object contains unknown field `extra`)"),
        (
            changed(student=7),
            "not a labgen submission (Expected `str`, got `int` - at `$.student`)",
        ),
        (changed(student="Al ice"), "at `$.student`"),
        (changed(created_at="yesterday"), "Invalid RFC3339 encoded datetime - at `$.created_at`"),
        (changed(created_at="2026-11-28T08:00:00"), "at `$.created_at`"),
        (changed(engine_ids={"client": ""}), "at `$.engine_ids[...]`"),
        (changed(format=2), "submission format 2, this labgen reads format 1"),
        (
            changed(report={"lab": LAB}),
            "its grade report is damaged (Object missing required field",
        ),
        (changed(lab="other-lab"), "for lab 'other-lab', this class's lab is 'registry-lab'"),
        (changed(scenario="tls"), "scenario 'tls', this class's is 'insecure'"),
        (changed(student="zed"), "student 'zed' is not on the class roster"),
    ],
)
def test_each_bad_file_is_named_with_what_is_wrong(
    tmp_path: Path, content: object, problem: str
) -> None:
    bad = put(tmp_path, "bad.json", content)
    put(tmp_path, "good.json", submission("bob", at(2), ALL, "E2"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert list(ingested.accepted) == ["bob"]
    [line] = ingested.problems
    assert line.startswith(f"{bad}: ")
    assert problem in line, line


def test_a_file_that_is_not_utf8_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 JFIF")
    [line] = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path / 'photo.jpg'}: not JSON ('utf-8' codec can't decode")


def test_a_solve_mode_report_is_refused(tmp_path: Path) -> None:
    content = submission("alice", at(1), ALL, "E1")
    content["report"]["mode"] = "solve"
    put(tmp_path, "a.json", content)
    [line] = problems_of(tmp_path)
    assert "its report was made in solve mode, not grade" in line


def test_a_report_of_another_lab_inside_is_refused(tmp_path: Path) -> None:
    content = submission("alice", at(1), ALL, "E1")
    content["report"]["lab"] = "other-lab"
    put(tmp_path, "a.json", content)
    [line] = problems_of(tmp_path)
    assert "its grade report is of lab 'other-lab', not 'registry-lab'" in line


def test_a_duplicate_keeps_the_newest_and_names_the_older(tmp_path: Path) -> None:
    put(tmp_path, "alice-late.json", submission("alice", at(9), ALL, "E1"))
    old = put(tmp_path, "alice-early.json", submission("alice", at(1), first(1), "E1"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert ingested.accepted["alice"].path.name == "alice-late.json"
    assert ingested.problems == [
        f"{old}: alice handed in more than one; the newest, alice-late.json "
        "(2026-11-28T08:09:00Z), is the one used"
    ]


def test_a_copy_of_another_students_file_is_named_and_the_original_kept(tmp_path: Path) -> None:
    put(tmp_path, "alice.json", submission("alice", at(1), ALL, "E1"))
    copy = put(tmp_path, "bob.json", submission("bob", at(5), ALL, "E1"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert list(ingested.accepted) == ["alice"]
    assert ingested.problems == [
        f"{copy}: same Docker engine ID as alice's alice.json, handed in earlier: a copy, "
        "ignored; talk to both students"
    ]


def test_one_shared_engine_id_is_enough_for_a_copy(tmp_path: Path) -> None:
    put(tmp_path, "alice.json", submission("alice", at(1), ALL, "E1"))
    content = submission("carol", at(3), ALL, "E3")
    content["engine_ids"]["client"] = "E1-client"
    put(tmp_path, "carol.json", content)
    [line] = problems_of(tmp_path)
    assert "carol.json: same Docker engine ID as alice's alice.json" in line


def test_the_earlier_file_is_the_original_whatever_the_file_names(tmp_path: Path) -> None:
    copy = put(tmp_path, "a-first-by-name.json", submission("bob", at(8), ALL, "E1"))
    put(tmp_path, "z-last-by-name.json", submission("alice", at(2), ALL, "E1"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert list(ingested.accepted) == ["alice"]
    assert ingested.problems[0].startswith(f"{copy}: same Docker engine ID as alice's")


def test_a_copy_of_an_older_submission_is_still_a_copy(tmp_path: Path) -> None:
    # alice hands in twice; bob copies her first file: her older one is a duplicate, his a copy.
    put(tmp_path, "alice-1.json", submission("alice", at(1), first(2), "E1"))
    put(tmp_path, "alice-2.json", submission("alice", at(6), ALL, "E1"))
    put(tmp_path, "bob.json", submission("bob", at(3), first(2), "E1"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert list(ingested.accepted) == ["alice"]
    assert [line.split(": ", 1)[1][:20] for line in ingested.problems] == [
        "alice handed in more",
        "same Docker engine I",
    ]


def test_hidden_files_and_folders_are_not_submissions(tmp_path: Path) -> None:
    put(tmp_path, ".DS_Store", "junk")
    (tmp_path / "old").mkdir()
    put(tmp_path, "a.json", submission("alice", at(1), ALL, "E1"))
    assert problems_of(tmp_path) == []


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        ingest(tmp_path / "nope", LAB, "insecure", ROSTER)


def test_bad_files_never_stop_the_report(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    put(inbox, "a.json", submission("alice", at(1), ALL, "E1"))
    put(inbox, "b.json", submission("bob", at(2), first(3), "E1"))  # a copy of alice's
    put(inbox, "c.json", "{broken")
    put(inbox, "d.json", changed(student="zed"))
    report = report_class(tmp_path, "ws", LAB, SCENARIO, [(s, "") for s in ROSTER], inbox)
    assert [row.state for row in report.rows] == ["graded", "never", "never"]
    assert [p.split(": ")[0] for p in report.problems] == [
        str(inbox / name) for name in ("b.json", "c.json", "d.json")
    ]
    assert (tmp_path / "report.html").exists()
