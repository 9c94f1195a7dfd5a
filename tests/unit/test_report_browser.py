"""The class report opened in a real headless browser (Debian's chromium): a screenshot is
taken, the table the browser built has one row per student with the right cells, and the
page logs nothing to the console. Chromium runs offline: in a network namespace of its own
when this machine allows one, and always with its background traffic switched off."""

from __future__ import annotations

import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest
from classkit import ALL, LAB, SCENARIO, at, first, write_result

from helpers import chromium, console_messages
from labgen.classroom.report import report_class


class Table(HTMLParser):
    """The matrix's rows as the browser built them: each cell's class, title and text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[tuple[str, str, str]]]] = []
        self.footer: list[str] = []
        self.part = ""
        self.cell: list[str] | None = None
        self.cell_attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag in ("tbody", "tfoot", "thead"):
            self.part = tag
        elif tag == "tr" and self.part == "tbody":
            self.rows.append((found.get("id", ""), []))
        elif tag == "td":
            self.cell, self.cell_attrs = [], found
        elif tag == "span" and self.cell is not None:
            self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            text = " ".join("".join(self.cell).split())
            if self.part == "tbody":
                self.rows[-1][1].append(
                    (self.cell_attrs.get("class", ""), self.cell_attrs.get("title", ""), text)
                )
            elif self.part == "tfoot":
                self.footer.append(text)
            self.cell = None
        elif tag in ("tbody", "tfoot", "thead"):
            self.part = ""

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def class_page(tmp_path: Path) -> Path:
    """A class of 3: alice did the whole tutorial, bob half of it, carol nothing yet."""
    folder = tmp_path / "ws"
    write_result(folder, "alice", at(4), ALL, class_name="ws-2026-12")
    write_result(
        folder,
        "bob",
        at(2),
        first(3) | {("daemon-json-insecure", "registry")},
        class_name="ws-2026-12",
    )
    roster = [("alice", "Alice Liddell"), ("bob", "Bob <Builder>"), ("carol", "卡罗尔")]
    report_class(folder, "ws-2026-12", LAB, SCENARIO, roster, None)
    return folder / "report.html"


def test_the_browser_shows_one_row_per_student_with_the_right_cells(
    class_page: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    screenshot = chromium(class_page, tmp_path, f"--screenshot={shot}", "--window-size=1280,900")
    assert png_size(shot) == (1280, 900)
    dumped = chromium(class_page, tmp_path, "--dump-dom")
    assert console_messages(screenshot.stderr) == [] and console_messages(dumped.stderr) == []

    table = Table()
    table.feed(dumped.stdout)
    assert [row_id for row_id, _ in table.rows] == ["student-alice", "student-bob", "student-carol"]
    alice, bob, carol = (cells for _, cells in table.rows)
    goals = len(SCENARIO.goals)

    assert alice[0][2] == "alice Alice Liddell"
    assert [c[:1] + c[2:] for c in alice[1 : 1 + goals]] == [("cell done", "✓")] * goals
    assert [c[2] for c in alice[1 + goals :]] == ["6/6", "finished", "2026-11-28 08:04:00"]

    assert bob[0][2] == "bob Bob <Builder>"
    assert [c[0] for c in bob[1 : 1 + goals]] == ["cell done"] * 3 + ["cell todo"] * 3
    daemon_json = bob[4]
    assert daemon_json[2] == "✗ client"
    assert daemon_json[1].startswith("daemon-json-insecure: does not hold on client")
    assert [c[2] for c in bob[1 + goals :]] == [
        "3/6",
        "4. daemon-json-insecure",
        "2026-11-28 08:02:00",
    ]

    assert carol[0][2] == "carol 卡罗尔"
    assert [c[0] for c in carol[1 : 1 + goals]] == ["cell never"] * goals
    assert [c[2] for c in carol[1 + goals :]] == ["0/6", "never checked", "never"]

    assert table.footer[1 : 1 + goals] == ["2/3 67%"] * 3 + ["1/3 33%"] * 3


def test_console_errors_are_seen(tmp_path: Path) -> None:
    # The console check above must be able to fail: a page with a script error is caught.
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>notDefined();</script>", encoding="utf-8")
    messages = console_messages(chromium(page, tmp_path, "--dump-dom").stderr)
    assert any("Uncaught ReferenceError: notDefined is not defined" in m for m in messages)
