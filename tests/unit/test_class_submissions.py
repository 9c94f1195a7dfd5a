"""byod submissions as `class report --submissions` reads them: each file is used or named,
in one line, with what is wrong or why it was skipped; none ever stops the report."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from classkit import ALL, LAB, SCENARIO, at, first, host_id, put, submission

from labgen.classroom.report import report_class
from labgen.classroom.submissions import MAX_DEPTH, Shared, ingest
from labgen.errors import UsageError

ROSTER = ["alice", "bob", "carol"]


def problems_of(folder: Path) -> list[str]:
    ingested = ingest(folder, LAB, "insecure", ROSTER)
    for line in ingested.problems:
        assert "\n" not in line and "\x1b" not in line
    return ingested.problems


def changed(**fields: Any) -> dict[str, Any]:
    return {**submission("alice", at(1), ALL, "E1"), **fields}


def test_good_submissions_are_accepted(tmp_path: Path) -> None:
    put(tmp_path, "a.json", submission("alice", at(1), ALL, "E1"))
    put(tmp_path, "b.json", submission("bob", at(2), first(2), "E2"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert ingested.problems == [] and ingested.shared == {}
    assert sorted(ingested.accepted) == ["alice", "bob"]
    assert ingested.accepted["bob"].report.count("pass") == len(first(2))


NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON (JSON is malformed"),
        ("", "not JSON (Input data was truncated)"),
        ([1, 2], "not a labgen submission (Expected `object`, got `array`)"),
        ({"student": "alice"}, "not a labgen submission (Object missing required field `format`)"),
        (NESTED, "not a labgen submission (Expected `object`, got `array`)"),
        ('{"x": ' + NESTED + ', "format": 2}', "not a labgen submission (nested too deeply)"),
        ('{"format": 2, "report": ' + NESTED + "}", "not a labgen submission (nested too deeply)"),
        (changed(extra=1), "not a labgen submission (Object contains unknown field `extra`)"),
        (changed(student=7), "(Expected `str`, got `int` - at `$.student`)"),
        (changed(student="Al ice"), "at `$.student`"),
        (changed(created_at="yesterday"), "Invalid RFC3339 encoded datetime - at `$.created_at`"),
        (changed(created_at="2026-11-28T08:00:00"), "at `$.created_at`"),
        (changed(created_at="0001-01-01T00:00:00+01:00"), "outside the years 1-9999 in UTC"),
        (changed(created_at="9999-12-31T23:30:00-01:00"), "outside the years 1-9999 in UTC"),
        (changed(host_ids={"client": ""}), "at `$.host_ids[...]`"),
        (changed(host_ids={"client": "x\x1b[31m"}), "at `$.host_ids[...]`"),
        (changed(format=3), "submission format 3, this labgen reads format 2; update labgen"),
        (changed(format=True), "Expected `int`, got `bool`"),
        (changed(report={"lab": LAB}), "(Object missing required field"),
        (changed(lab="other-lab"), "for lab 'other-lab', this class's lab is 'registry-lab'"),
        (changed(lab="x\nlabgen: ok\x1b]0;"), "for lab 'x\\nlabgen: ok\\x1b]0;'"),
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
    assert "\n" not in line and "\x1b" not in line


def test_an_old_format_asks_the_student_to_update(tmp_path: Path) -> None:
    old = submission("alice", at(1), ALL, "E1")
    old["format"] = 1
    old["engine_ids"] = old.pop("host_ids")
    put(tmp_path, "a.json", old)
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'a.json'}: submission format 1, this labgen reads format 2; ask the "
        "student to update labgen to the class's version and run `labgen submit` again"
    ]


def test_a_file_that_is_not_utf8_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 JFIF")
    [line] = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path / 'photo.jpg'}: not JSON (")


def test_a_huge_file_is_named_not_read_whole(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_bytes(b" " * (2 * 1024 * 1024))
    [line] = problems_of(tmp_path)
    assert "1048577 bytes, more than a submission's 1048576" in line


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


def test_newest_is_the_later_instant_not_the_later_text(tmp_path: Path) -> None:
    """Year 0999 sorts after 2026 as text; an offset can put 09:00+02:00 before 08:00Z."""
    early = submission("alice", at(1), first(1), "E1")
    early["created_at"] = "0999-01-01T00:00:00Z"
    put(tmp_path, "a-0999.json", early)
    put(tmp_path, "b-2026.json", submission("alice", at(30), first(2), "E1"))
    offset = submission("alice", at(1), ALL, "E1")
    offset["created_at"] = "2026-11-28T10:00:00+02:00"  # 08:00Z: before 08:30Z
    put(tmp_path, "c-offset.json", offset)
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert ingested.accepted["alice"].path.name == "b-2026.json"
    assert len(ingested.problems) == 2


def test_a_date_far_after_the_others_never_wins_and_is_named(tmp_path: Path) -> None:
    put(tmp_path, "alice.json", submission("alice", at(5), first(2), "E1"))
    future = submission("alice", at(1), ALL, "E1")
    future["created_at"] = "2099-01-01T00:00:00Z"
    ahead = put(tmp_path, "alice-2099.json", future)
    put(tmp_path, "bob.json", submission("bob", at(6), ALL, "E2"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert ingested.accepted["alice"].path.name == "alice.json"
    assert ingested.problems == [
        f"{ahead}: dated 2099-01-01T00:00:00Z, more than 7 days after the middle date of this "
        "report's files (2026-11-28T08:06:00Z): the student's clock or the file is wrong; not "
        "used: alice handed in more than one; the newest, alice.json (2026-11-28T08:05:00Z), "
        "is the one used"
    ]


def test_a_date_in_doubt_is_still_used_as_the_students_only_file(tmp_path: Path) -> None:
    put(tmp_path, "alice.json", submission("alice", at(5), ALL, "E1"))
    future = submission("bob", at(1), ALL, "E2")
    future["created_at"] = "9999-12-31T23:59:59Z"
    put(tmp_path, "bob.json", future)
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER, [at(7)])
    assert sorted(ingested.accepted) == ["alice", "bob"]
    [line] = ingested.problems
    assert line.endswith("the student's clock or the file is wrong; used: bob's only file")


def test_files_from_one_lab_host_are_shared_and_never_ranked(tmp_path: Path) -> None:
    """The copier renames the original's file: neither is ranked, both name each other."""
    put(tmp_path, "ann.json", submission("alice", at(1), ALL, "E1"))
    put(tmp_path, "cat.json", submission("carol", at(1), ALL, "E1"))
    put(tmp_path, "bob.json", submission("bob", at(2), first(2), "E2"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert list(ingested.accepted) == ["bob"]
    assert ingested.shared == {
        "alice": Shared("shares a lab host with carol", at(1)),
        "carol": Shared("shares a lab host with alice", at(1)),
    }
    assert ingested.problems == [
        f"{tmp_path / 'ann.json'}: alice's file, from the same lab host as carol's "
        f"{tmp_path / 'cat.json'}: shared, not graded; talk to these students",
        f"{tmp_path / 'cat.json'}: carol's file, from the same lab host as alice's "
        f"{tmp_path / 'ann.json'}: shared, not graded; talk to these students",
    ]


def test_one_shared_host_is_enough(tmp_path: Path) -> None:
    put(tmp_path, "alice.json", submission("alice", at(1), ALL, "E1"))
    content = submission("carol", at(3), ALL, "E3")
    content["host_ids"]["client"] = host_id("E1", "client")
    put(tmp_path, "carol.json", content)
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert sorted(ingested.shared) == ["alice", "carol"]


def test_a_learning_platforms_folder_per_student_is_read(tmp_path: Path) -> None:
    put(
        tmp_path / "Alice Liddell_1234_assignsubmission_file",
        "x.json",
        submission("alice", at(1), ALL, "E1"),
    )
    put(
        tmp_path / "bob" / "attempt 2",
        "registry-lab-bob.submission.json",
        submission("bob", at(2), ALL, "E2"),
    )
    deep = tmp_path / "a" / "b" / "c" / "d"
    put(deep, "carol.json", submission("carol", at(3), ALL, "E3"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert sorted(ingested.accepted) == ["alice", "bob"]
    assert ingested.problems == [
        f"{tmp_path / 'a' / 'b' / 'c' / 'd'}: a folder {MAX_DEPTH} levels down, not read; move its "
        "files up"
    ]


def test_special_files_and_links_are_named_with_why_they_were_skipped(tmp_path: Path) -> None:
    good = put(tmp_path / "real", "alice.json", submission("alice", at(1), ALL, "E1"))
    (tmp_path / "bob.json").symlink_to(tmp_path / "gone.json")
    (tmp_path / "folder-link").symlink_to(tmp_path / "real")
    (tmp_path / "carol-link.json").symlink_to(good)  # a link to a file is read
    os.mkfifo(tmp_path / "fifo.json")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert list(ingested.accepted) == ["alice"]
    assert [line.split(": ", 1)[1] for line in ingested.problems] == [
        "a link to nothing, skipped; copy the file itself",
        # the link and the file are alice's own two files, the same instant: one is used
        f"alice handed in more than one; the newest, {ingested.accepted['alice'].path.name} "
        "(2026-11-28T08:01:00Z), is the one used",
        "a FIFO, not a file; skipped",
        "a link to a folder, not followed; copy the folder itself",
        "a socket, not a file; skipped",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    secret = put(tmp_path, "alice.json", submission("alice", at(1), ALL, "E1"))
    secret.chmod(0)
    [line] = problems_of(tmp_path)
    assert line == f"{secret}: cannot read it (Permission denied); skipped"


def test_an_unreadable_file_is_named_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path, "alice.json", submission("alice", at(1), ALL, "E1"))
    put(tmp_path, "bob.json", submission("bob", at(1), ALL, "E2"))
    real_open = Path.open

    def failing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "alice.json":
            raise OSError(5, "Input/output error", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", failing_open)
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert list(ingested.accepted) == ["bob"]
    assert ingested.problems == [
        f"{tmp_path / 'alice.json'}: cannot read it (Input/output error); skipped"
    ]


def test_file_names_with_newlines_and_escapes_stay_on_one_line(tmp_path: Path) -> None:
    put(tmp_path, "evil\n\x1b[2Jname.json", "{")
    [line] = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path}/evil\\n\\x1b[2Jname.json: not JSON")


def test_hidden_files_are_the_systems_not_submissions(tmp_path: Path) -> None:
    put(tmp_path, ".DS_Store", "junk")
    put(tmp_path / ".git", "HEAD", "junk")
    put(tmp_path, "a.json", submission("alice", at(1), ALL, "E1"))
    assert problems_of(tmp_path) == []


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        ingest(tmp_path / "nope", LAB, "insecure", ROSTER)


def test_bad_files_never_stop_the_report(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    put(inbox, "a.json", submission("alice", at(1), ALL, "E1"))
    put(inbox, "b.json", submission("bob", at(2), first(3), "E1"))  # from alice's lab
    put(inbox, "c.json", "{broken")
    put(inbox, "d.json", changed(student="zed"))
    put(inbox, "e.json", "[" * 100_000)
    extreme = submission("carol", at(1), ALL, "E3")
    extreme["created_at"] = "0001-01-01T00:00:00+00:00"
    put(inbox, "f.json", extreme)
    report = report_class(tmp_path, "ws", LAB, SCENARIO, [(s, "") for s in ROSTER], inbox)
    assert [row.state for row in report.rows] == ["shared", "shared", "graded"]
    assert [p.split(": ")[0] for p in report.problems] == [
        str(inbox / name) for name in ("a.json", "b.json", "c.json", "d.json", "e.json")
    ]
    assert report.rows[2].checked_at == "0001-01-01 00:00:00"
    assert json.loads((tmp_path / "report.json").read_text())["students"][0]["state"] == "shared"


def test_a_shared_students_other_files_are_named_too(tmp_path: Path) -> None:
    put(tmp_path, "a1.json", submission("alice", at(1), ALL, "E1"))
    put(tmp_path, "a2.json", submission("alice", at(5), ALL, "E9"))  # her own lab, later
    put(tmp_path, "b.json", submission("bob", at(2), ALL, "E1"))
    ingested = ingest(tmp_path, LAB, "insecure", ROSTER)
    assert ingested.accepted == {} and sorted(ingested.shared) == ["alice", "bob"]
    assert len(ingested.problems) == 3
    assert ingested.problems[1] == (
        f"{tmp_path / 'a2.json'}: alice's file, not graded while alice shares a lab host with bob"
    )
