"""The class's printable pages, opened in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import re
from pathlib import Path

from classkit import ALL, LAB, SCENARIO, at, first, put, submission

from helpers import open_in_chromium
from labgen.classroom.create import plan_class
from labgen.classroom.report import report_class
from labgen.classroom.spec import parse_class
from labgen.render.write import write_lab

SEED = "cd" * 32


def _class_folder(tmp_path: Path) -> Path:
    (tmp_path / "roster.csv").write_text("alice,Alice Liddell\nbob,Bob\n", encoding="utf-8")
    raw = {
        "name": "ws",
        "students": "roster.csv",
        "delivery": "hosted",
        "lab": {"os": "debian-12"},
        "hosted": {"server": "lab.example.org", "ssh_ports": "2200-2210"},
    }
    folder = tmp_path / "classes" / "ws"
    write_lab(plan_class(parse_class(raw, tmp_path)[0], SEED), folder, force=False)
    return folder


def _text(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_student_handout_page_shows_the_lab_and_the_questions(tmp_path: Path) -> None:
    folder = _class_folder(tmp_path)
    dom, shot = open_in_chromium(folder / "students/bob/handout.en.html", tmp_path)
    text = _text(dom)
    assert re.search(r"<title>[^<]*\(bob\)</title>", dom)
    assert "ssh -p 2201 bob@lab.example.org" in text
    rows = re.findall(r"<tr>\s*<td><code>(\w+)</code></td>\s*<td>(\w+)</td>", dom)
    assert rows == [("registry", "registry"), ("client", "client")]
    assert text.count("Predict, run, explain.") == 3
    assert shot.exists()


def test_chinese_handout_and_teacher_guide_pages(tmp_path: Path) -> None:
    folder = _class_folder(tmp_path)
    dom, _ = open_in_chromium(folder / "students/alice/handout.zh.html", tmp_path)
    assert 'lang="zh"' in dom and "先预测" in _text(dom)
    guide, _ = open_in_chromium(folder / "teacher/guide.en.html", tmp_path)
    students = re.findall(
        r"<tr>\s*<td><code>(\w+)</code></td>\s*<td>([^<]*)</td>\s*<td>(\d+)</td>", guide
    )
    assert students == [("alice", "Alice Liddell", "2200"), ("bob", "Bob", "2201")]
    assert "http: server gave HTTP response to HTTPS client" in _text(guide)


def test_a_console_error_fails_the_page(tmp_path: Path) -> None:
    """The check above can fail: a page whose script throws is refused."""
    page = tmp_path / "broken.html"
    page.write_text("<p>x</p><script>no_such_function();</script>", encoding="utf-8")
    try:
        open_in_chromium(page, tmp_path)
    except AssertionError as error:
        assert "no_such_function" in str(error)
    else:
        raise AssertionError("a console error went unnoticed")


def test_the_report_shows_shared_rows_naming_each_other(tmp_path: Path) -> None:
    """ann's file and a renamed copy for carol: both rows shared, neither "never checked"."""
    inbox = tmp_path / "inbox"
    put(inbox, "ann.json", submission("alice", at(1), ALL, "E1"))
    put(inbox, "cat.json", submission("carol", at(1), ALL, "E1"))
    put(inbox, "bob.json", submission("bob", at(2), first(3), "E2"))
    folder = tmp_path / "ws"
    folder.mkdir()
    roster = [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")]
    report_class(folder, "ws", LAB, SCENARIO, roster, inbox)
    dom, shot = open_in_chromium(folder / "report.html", tmp_path, 1400, 700)
    rows = {
        student: _text(row)
        for student, row in re.findall(r'<tr class="\w+" id="student-(\w+)">(.*?)</tr>', dom, re.S)
    }
    assert rows["alice"].split()[2:8] == ["⇄"] * 6
    assert "shared shares a lab host with carol" in rows["alice"]
    assert "shared shares a lab host with alice" in rows["carol"]
    assert "never" not in rows["alice"] + rows["carol"]
    assert rows["alice"].endswith("2026-11-28 08:01:00 ")
    assert rows["bob"].count("✓") == 3
    assert "Files not used or in doubt (2)" in _text(dom)
    assert shot.exists()
