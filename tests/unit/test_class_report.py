"""`class report` from hand-made results and submissions: the matrix, its three files, and
the class commands around it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml
from classkit import ALL, LAB, SCENARIO, at, first, put, submission, write_result
from click.testing import CliRunner

from labgen.classroom import report as class_report
from labgen.classroom.report import build_report, collect_entries, report_class
from labgen.classroom.results import identity_of
from labgen.cli import cli

ROSTER = [("alice", "Alice Liddell"), ("bob", "Bob"), ("carol", "Carol"), ("dave", "")]
# bob: the first three goals, and daemon.json edited on the registry but not on the client.
BOB = first(3) | {("daemon-json-insecure", "registry")}


def a_class(folder: Path) -> Path:
    """alice finished, bob half-way, carol never checked, dave's lab unreachable."""
    write_result(folder, "alice", at(1), first(1))  # an older run: the latest one counts
    write_result(folder, "alice", at(4), ALL)
    write_result(folder, "bob", at(2), BOB)
    write_result(
        folder, "dave", at(3), None, "host client stopped, its Docker engine does not answer"
    )
    return folder


def states(row: class_report.Row) -> list[str]:
    return [cell.state for cell in row.cells]


def test_the_matrix_shows_who_did_what(tmp_path: Path) -> None:
    report = report_class(a_class(tmp_path), "ws", LAB, SCENARIO, ROSTER, None)
    alice, bob, carol, dave = report.rows
    assert states(alice) == ["done"] * 6 and (alice.done, alice.status) == (6, "finished")
    assert states(bob) == ["done", "done", "done", "todo", "todo", "todo"]
    assert (bob.done, bob.stuck_at, bob.status) == (
        3,
        "daemon-json-insecure",
        "4. daemon-json-insecure",
    )
    assert (carol.state, carol.status, carol.checked_at) == ("never", "never checked", "")
    assert states(carol) == ["never"] * 6
    assert (dave.state, dave.status) == ("unreachable", "lab unreachable")
    assert dave.error == "host client stopped, its Docker engine does not answer"
    assert states(dave) == ["unknown"] * 6
    assert (alice.checked_at, bob.checked_at) == ("2026-11-28 08:04:00", "2026-11-28 08:02:00")
    assert report.last_checked == "2026-11-28 08:04:00"
    assert [(g.done, g.percent) for g in report.goals] == [(2, 50)] * 3 + [(1, 25)] * 3


def test_a_goal_on_several_hosts_is_done_only_on_all_and_names_the_failing_host(
    tmp_path: Path,
) -> None:
    bob = report_class(a_class(tmp_path), "ws", LAB, SCENARIO, ROSTER, None).rows[1]
    daemon_json = bob.cells[3]
    assert daemon_json.failing == ("client",) and daemon_json.label == "client"
    assert daemon_json.note.startswith("daemon-json-insecure: does not hold on client\nclient: ")
    assert bob.cells[4].failing == ("registry", "client")
    assert bob.cells[4].label == ""  # fails everywhere: nothing to single out
    assert bob.cells[5].label == ""  # client-has-image is on one host only


def test_the_newest_of_hosted_result_and_submission_counts(tmp_path: Path) -> None:
    write_result(tmp_path, "alice", at(5), first(1))
    inbox = tmp_path / "inbox"
    put(inbox, "alice.json", submission("alice", at(9), ALL, "E1"))
    put(inbox, "bob.json", submission("bob", at(1), ALL, "E2"))
    write_result(tmp_path, "bob", at(6), first(2))
    report = report_class(tmp_path, "ws", LAB, SCENARIO, ROSTER, inbox)
    alice, bob = report.rows[:2]
    assert (alice.source, alice.done) == ("byod", 6)
    assert (bob.source, bob.done) == ("hosted", 2)


def test_times_are_shown_in_utc_whatever_offset_a_submission_has(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    content = submission("alice", at(9), ALL, "E1")
    content["created_at"] = "2026-11-28T16:09:00+08:00"
    put(inbox, "alice.json", content)
    write_result(tmp_path, "alice", at(8), first(1))  # 08:08 UTC: older than 16:09+08:00
    alice = report_class(tmp_path, "ws", LAB, SCENARIO, ROSTER, inbox).rows[0]
    assert (alice.checked_at, alice.source, alice.done) == ("2026-11-28 08:09:00", "byod", 6)


def test_an_unreadable_latest_result_is_named_and_the_one_before_used(tmp_path: Path) -> None:
    write_result(tmp_path, "alice", at(1), first(2))
    broken = write_result(tmp_path, "alice", at(2), ALL)
    broken.write_text("{half a file", encoding="utf-8")
    stray = write_result(tmp_path, "bob", at(3), ALL)
    stray.write_text(stray.read_text().replace('"student": "bob"', '"student": "eve"'))
    entries, problems = collect_entries(
        tmp_path, ["alice", "bob"], {}, identity_of("ws", LAB, SCENARIO)
    )
    assert entries["alice"].report is not None
    assert entries["alice"].report.count("pass") == len(first(2))
    assert "bob" not in entries
    assert problems[0].startswith(f"{broken}: not a result file (")
    assert problems[1].startswith(f"{stray}: a result of 'eve' in lab 'registry-lab' (class 'ws'")


def test_same_inputs_same_files(tmp_path: Path) -> None:
    a_class(tmp_path)
    report_class(tmp_path, "ws", LAB, SCENARIO, ROSTER, None)
    first_run = {
        n: (tmp_path / n).read_bytes() for n in ("report.html", "report.csv", "report.json")
    }
    report_class(tmp_path, "ws", LAB, SCENARIO, ROSTER, None)
    assert first_run == {n: (tmp_path / n).read_bytes() for n in first_run}


def test_the_csv_is_the_grade_sheet(tmp_path: Path) -> None:
    a_class(tmp_path)
    report_class(tmp_path, "ws", LAB, SCENARIO, [*ROSTER, ("erin", "=HYPERLINK(1)")], None)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol", "dave", "erin"]
    bob = rows[1]
    assert (bob["state"], bob["goals_done"], bob["stuck_at"]) == (
        "graded",
        "3",
        "daemon-json-insecure",
    )
    assert bob["daemon-json-insecure"] == "todo (client)"
    assert bob["engine-insecure"] == "todo (registry client)"
    assert rows[0]["client-has-image"] == "done" and rows[3]["registry-running"] == "unknown"
    assert rows[4]["name"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it


def test_the_json_has_the_matrix_and_completion(tmp_path: Path) -> None:
    a_class(tmp_path)
    report_class(tmp_path, "ws", LAB, SCENARIO, ROSTER, None)
    data = json.loads((tmp_path / "report.json").read_text())
    assert (data["class"], data["lab"], data["scenario"]) == ("ws", LAB, "insecure")
    assert [g["id"] for g in data["goals"]] == [g.id for g in SCENARIO.goals]
    assert data["goals"][3] == {
        "number": 4,
        "id": "daemon-json-insecure",
        "title": "/etc/docker/daemon.json lists 192.168.56.101:5000 as an insecure registry",
        "hosts": ["registry", "client"],
        "done": 1,
        "percent": 25,
    }
    bob = data["students"][1]
    assert bob["goals"]["daemon-json-insecure"] == {"state": "todo", "failing_hosts": ["client"]}
    assert [s["state"] for s in data["students"]] == ["graded", "graded", "never", "unreachable"]


def test_the_page_escapes_what_comes_from_files_and_needs_nothing_else(tmp_path: Path) -> None:
    bob = write_result(tmp_path, "bob", at(2), first(1), class_name="ws<i>")
    record = json.loads(bob.read_text(encoding="utf-8"))
    record["report"]["results"][1]["excerpt"] = '<b>Error</b> "quoted" & more'
    bob.write_text(json.dumps(record), encoding="utf-8")
    write_result(tmp_path, "dave", at(3), None, "<img src=x onerror=alert(1)>", "ws<i>")
    roster = [("bob", "<script>alert('name')</script>"), ("dave", "D & D")]
    report_class(tmp_path, "ws<i>", LAB, SCENARIO, roster, None)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "| &lt;b&gt;Error&lt;/b&gt; &#34;quoted&#34; &amp; more" in page  # in a title="..."
    assert "D &amp; D" in page and "ws&lt;i&gt;" in page
    for outside in ("<script", "<img", "<link", "src=", "url(", "http://", "https://", "@import"):
        assert outside not in page.replace("src=x", ""), outside
    assert 'http-equiv="refresh"' not in page


def test_the_page_reloads_itself_only_when_asked(tmp_path: Path) -> None:
    report = build_report("ws", LAB, SCENARIO, ROSTER, {})
    assert '<meta http-equiv="refresh" content="30">' in class_report.to_html(report, 30)
    assert "refresh" not in class_report.to_html(report)


def class_folder(tmp_path: Path, delivery: str) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    spec = {
        "name": "ws-1",
        "delivery": delivery,
        "students": "roster.csv",
        "hosted": {"server": "lab.example.org"},
        "lab": {"os": "debian-12"},
    }
    (folder / "class.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (folder / "roster.csv").write_text("id,name\nalice,\nbob,Bob\n", encoding="utf-8")
    return folder


def test_class_report_command_writes_the_files_and_warns_about_bad_submissions(
    tmp_path: Path,
) -> None:
    folder = class_folder(tmp_path, "byod")
    inbox = tmp_path / "inbox"
    put(inbox, "alice.json", submission("alice", at(1), ALL, "E1"))
    put(inbox, "bob.json", submission("bob", at(2), ALL, "E1"))
    result = CliRunner().invoke(cli, ["class", "report", str(folder), "--submissions", str(inbox)])
    assert result.exit_code == 0, result.output
    assert (
        f"labgen: warning: {inbox / 'bob.json'}: same Docker engine ID as alice's" in result.output
    )
    assert "2 students, 1 graded, 1 finished, files not used: 1 (see above)" in result.output
    assert {p.name for p in folder.iterdir()} == {
        "class.yaml",
        "roster.csv",
        "report.html",
        "report.csv",
        "report.json",
    }
