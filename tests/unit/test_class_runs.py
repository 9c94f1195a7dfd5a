"""The `class` subcommands that act on students' labs (up, status, down, check, watch),
driven through the CLI on a scripted server of lab boxes (no engine), and the per-student
runner under them: seats kept, boxes of students off the roster removed, repairs said,
Ctrl-C and one student's failure handled, "could not check" never "not done"."""

from __future__ import annotations

import io
import json
import threading
import time
from functools import partial
from pathlib import Path

import pytest
import yaml
from classkit import ALL, HOSTS, StudentLab, first
from click.testing import CliRunner, Result

from labgen.backends.base import Progress
from labgen.backends.box import Runtime
from labgen.classroom import hosted, workshop
from labgen.classroom.model import Class, Seat, open_class, read_seats
from labgen.classroom.runner import for_each_student
from labgen.cli import cli
from labgen.errors import LabgenError, UsageError


class Server:
    """A scripted server: which students have a box, its port, its state, its nodes."""

    def __init__(self) -> None:
        self.boxes: dict[str, dict[str, object]] = {}
        self.holds: dict[str, set[tuple[str, str]]] = {}
        self.lock = threading.Lock()
        self.created: list[str] = []


class ScriptedBox(StudentLab):
    """A lab box on the scripted server; its hosts answer the goals as StudentLab's do."""

    name = "scripted-box"

    def __init__(self, server: Server, seat: Seat) -> None:
        super().__init__(server.holds.get(seat.student, set()))
        self.server = server
        self.seat = seat

    @property
    def box(self) -> dict[str, object] | None:
        return self.server.boxes.get(self.seat.student)

    def state(self) -> str:  # type: ignore[override]
        return "not created" if self.box is None else str(self.box["state"])

    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.seat.ssh_port

    def up(self, progress: Progress) -> None:
        with self.server.lock:
            if self.box is None:
                taken = [b for s, b in self.server.boxes.items() if b["port"] == self.seat.ssh_port]
                if taken:  # as docker's --publish: one port, one box
                    raise LabgenError(
                        f"{self.seat.student}: port {self.seat.ssh_port} is already allocated"
                    )
                progress(f"creating box (ssh port {self.seat.ssh_port})")
                self.server.created.append(self.seat.student)
                self.server.boxes[self.seat.student] = {
                    "state": "running",
                    "port": self.seat.ssh_port,
                    "nodes": {host: "running" for host in HOSTS},
                }
            box = self.box
            assert box is not None
            box["state"] = "running"

    def repair(self, progress: Progress) -> list[str]:
        nodes = self.box["nodes"] if self.box else {}
        assert isinstance(nodes, dict)
        broken = [
            f"{host} ({state}) started again" for host, state in nodes.items() if state != "running"
        ]
        for host in nodes:
            nodes[host] = "running"
        return broken

    def down(self, progress: Progress) -> None:
        with self.server.lock:
            self.server.boxes.pop(self.seat.student, None)

    def status(self):  # type: ignore[no-untyped-def]
        if self.box is None or self.box["state"] != "running":
            return super().status()[:0]
        nodes = self.box["nodes"]
        assert isinstance(nodes, dict)
        self.stopped = {host for host, state in nodes.items() if state != "running"}
        return super().status()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    """The class commands' boxes come from the scripted server."""
    made = Server()

    def box_for(cls: Class, seat: Seat, runtime: Runtime | None = None) -> ScriptedBox:
        return ScriptedBox(made, seat)

    def leftovers(cls: Class) -> list[Seat]:
        on_roster = {seat.student for seat in cls.seats}
        return [Seat(cls.name, s, 0, "") for s in sorted(set(made.boxes) - on_roster)]

    monkeypatch.setattr(hosted, "box_for", box_for)
    monkeypatch.setattr(hosted, "leftover_seats", leftovers)
    monkeypatch.setattr(workshop, "box_for", box_for)
    return made


def labgen(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def create(tmp_path: Path, students: list[str], *extra: str) -> Path:
    spec = tmp_path / "ws.yaml"
    data = {
        "name": "ws",
        "delivery": "hosted",
        "students": students,
        "lab": {"mirror": "http://192.168.56.1:5555"},
        "hosted": {"server": "lab.example.org", "ssh_ports": "2200-2209"},
    }
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    folder = tmp_path / "elsewhere" / "ws"
    result = labgen("class", "create", str(spec), "--out", str(folder), *extra)
    assert result.exit_code == 0, result.output
    return folder


def ports(folder: Path) -> dict[str, int]:
    return read_seats(folder / "secrets" / "seats.csv")


def test_up_status_and_down_of_a_class(tmp_path: Path, server: Server) -> None:
    folder = create(tmp_path, ["alice", "bob"])
    result = labgen("class", "up", str(folder), "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert {s: box["port"] for s, box in server.boxes.items()} == {"alice": 2200, "bob": 2201}
    assert "alice    ok" in result.output and "2 ok, 0 failed" in result.output

    result = labgen("class", "status", str(folder))
    assert result.exit_code == 0, result.output
    assert "ssh port 2201: registry running, client running" in result.output
    server.boxes["bob"]["state"] = "stopped"
    result = labgen("class", "status", str(folder))
    assert result.exit_code == 1
    assert "FAILED: box stopped" in result.output

    result = labgen("class", "down", str(folder))
    assert result.exit_code == 0, result.output
    assert server.boxes == {}


def test_students_keep_their_seats_when_others_come_and_go(tmp_path: Path, server: Server) -> None:
    folder = create(tmp_path, ["alice", "bob", "carol"])
    assert ports(folder) == {"alice": 2200, "bob": 2201, "carol": 2202}
    assert labgen("class", "up", str(folder)).exit_code == 0
    before = {s: dict(box) for s, box in server.boxes.items()}
    server.created.clear()

    # dan is inserted before bob, carol leaves: everyone else keeps their port
    folder = create(tmp_path, ["alice", "dan", "bob"], "--force")
    assert ports(folder) == {"alice": 2200, "dan": 2202, "bob": 2201}
    assert "ssh -p 2201 bob@lab.example.org" in (folder / "students/bob/access.txt").read_text()
    credentials = (folder / "secrets/credentials.csv").read_text().splitlines()
    assert credentials[0] == "id,ssh_port,password"
    assert [line.split(",")[:2] for line in credentials[1:]] == [
        ["alice", "2200"],
        ["dan", "2202"],
        ["bob", "2201"],
    ]

    result = labgen("class", "up", str(folder))
    assert result.exit_code == 0, result.output
    assert "carol" in result.output and "not on the roster any more: box removed" in result.output
    assert server.created == ["dan"], "a student's box was made again"
    assert {s: box["port"] for s, box in server.boxes.items()} == {
        "alice": 2200,
        "bob": 2201,
        "dan": 2202,
    }
    assert server.boxes["alice"] == before["alice"]


def test_down_removes_the_boxes_of_students_off_the_roster_too(
    tmp_path: Path, server: Server
) -> None:
    folder = create(tmp_path, ["alice", "bob"])
    assert labgen("class", "up", str(folder)).exit_code == 0
    folder = create(tmp_path, ["alice"], "--force")
    result = labgen("class", "status", str(folder))
    assert result.exit_code == 1
    assert "bob      FAILED: not on the roster any more, but its box is running" in result.output
    result = labgen("class", "down", str(folder))
    assert result.exit_code == 0, result.output
    assert server.boxes == {}


def test_students_given_with_spaces_and_only_they_are_touched(
    tmp_path: Path, server: Server
) -> None:
    folder = create(tmp_path, ["alice", "bob", "carol"])
    server.boxes["zed"] = {"state": "running", "port": 2209, "nodes": {}}  # off the roster
    result = labgen("class", "up", str(folder), "--students", "alice, carol")
    assert result.exit_code == 0, result.output
    assert set(server.boxes) == {"alice", "carol", "zed"}, "--students touches only those"
    result = labgen("class", "up", str(folder), "--students", "alice, zed")
    assert result.exit_code == 2
    assert "--students: zed not on the roster of ws" in result.output


def test_up_repairs_a_node_inside_a_running_box_and_says_so(tmp_path: Path, server: Server) -> None:
    folder = create(tmp_path, ["alice"])
    assert labgen("class", "up", str(folder)).exit_code == 0
    server.boxes["alice"]["nodes"]["client"] = "missing"  # type: ignore[index]
    result = labgen("class", "up", str(folder))
    assert result.exit_code == 0, result.output
    assert "up, ssh port 2200; repaired: client (missing) started again" in result.output


def test_check_grades_keeps_results_and_says_could_not_check(
    tmp_path: Path, server: Server
) -> None:
    folder = create(tmp_path, ["alice", "bob", "carol"])
    assert labgen("class", "up", str(folder)).exit_code == 0
    server.holds = {"alice": set(ALL), "bob": first(2)}
    server.boxes["carol"]["state"] = "stopped"
    result = labgen("class", "check", str(folder), "--students", "alice, bob, carol")
    assert result.exit_code == 1, result.output
    assert "graded: 6/6 goals hold" in result.output
    assert "graded: 2/6 goals hold" in result.output
    assert "FAILED: box stopped" in result.output
    carol = json.loads(next((folder / "results/carol").glob("*.json")).read_text())
    assert (carol["state"], carol["error"], carol["report"]) == ("unreachable", "box stopped", None)
    result = labgen("class", "report", str(folder))
    assert result.exit_code == 0, result.output
    report = json.loads((folder / "report.json").read_text())
    states = {row["id"]: row["state"] for row in report["students"]}
    assert states == {"alice": "graded", "bob": "graded", "carol": "unreachable"}
    assert {cell["state"] for cell in report["students"][2]["goals"].values()} == {"unknown"}


def test_check_of_students_not_on_the_roster_is_one_line(tmp_path: Path) -> None:
    folder = create(tmp_path, ["alice"])
    result = labgen("class", "check", str(folder), "--students", "zed")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "--students: zed not on the roster" in result.output


def test_watch_regrades_until_ctrl_c_then_stops_reloading(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = create(tmp_path, ["alice", "bob"])
    assert labgen("class", "up", str(folder)).exit_code == 0
    server.holds = {"alice": first(1), "bob": set(ALL)}
    pages: list[str] = []

    def sleep(seconds: float) -> None:
        assert seconds == 5
        pages.append((folder / "report.html").read_text(encoding="utf-8"))
        server.holds["alice"] = set(ALL)  # she works on while the teacher watches
        if len(pages) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(workshop, "watch_class", partial(workshop.watch_class, sleep=sleep))
    result = labgen("class", "watch", str(folder), "--every", "5")
    assert result.exit_code == 0, result.output
    assert len(list((folder / "results" / "alice").glob("*.json"))) == 2
    assert all('<meta http-equiv="refresh" content="5">' in page for page in pages)
    final = json.loads((folder / "report.json").read_text())
    assert [s["goals_done"] for s in final["students"]] == [6, 6]
    assert "refresh" not in (folder / "report.html").read_text(encoding="utf-8")


def test_watch_stopped_by_an_error_leaves_a_page_that_no_longer_reloads(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = create(tmp_path, ["alice"])
    assert labgen("class", "up", str(folder)).exit_code == 0
    inbox = tmp_path / "inbox"
    inbox.mkdir()

    def sleep(seconds: float) -> None:
        inbox.rmdir()  # the submissions folder goes away between two rounds

    monkeypatch.setattr(workshop, "watch_class", partial(workshop.watch_class, sleep=sleep))
    result = labgen("class", "watch", str(folder), "--every", "5", "--submissions", str(inbox))
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("labgen: error:")]
    assert errors == [
        f"labgen: error: {inbox}: not a folder; give the folder the submissions were copied to"
    ]
    assert "refresh" not in (folder / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the runner


def seats(*students: str) -> list[Seat]:
    return [Seat("ws", s, 2200 + i, "pw") for i, s in enumerate(students)]


def test_one_failure_is_isolated_and_work_runs_jobs_at_a_time() -> None:
    active, most = [0], [0]
    lock = threading.Lock()

    def work(seat: Seat, progress: Progress, stop: threading.Event) -> tuple[bool, str]:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        progress("starting")
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        if seat.student == "bob":
            raise LabgenError("bob: docker compose up failed: boom")
        if seat.student == "carol":
            raise KeyError("ports")
        return True, "up"

    out = io.StringIO()
    outcomes = for_each_student(seats("alice", "bob", "carol", "dave"), work, 2, out)
    assert [(o.student, o.ok, o.detail) for o in outcomes] == [
        ("alice", True, "up"),
        ("bob", False, "bob: docker compose up failed: boom"),
        ("carol", False, "labgen error: KeyError: 'ports'"),
        ("dave", True, "up"),
    ]
    assert most[0] == 2
    text = out.getvalue()
    assert "bob      FAILED: bob: docker compose up failed: boom" in text
    assert text.splitlines()[-1] == "2 ok, 2 failed"


def test_jobs_below_one_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--jobs"):
        for_each_student(seats("alice"), lambda *_: (True, ""), 0)


def test_ctrl_c_cancels_pending_work_and_tells_work_in_flight_to_stop() -> None:
    import os
    import signal

    started = threading.Event()
    seen: dict[str, bool] = {}

    def work(seat: Seat, progress: Progress, stop: threading.Event) -> tuple[bool, str]:
        started.set()
        seen[seat.student] = stop.wait(10)
        return True, ""

    def interrupt() -> None:
        started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    out = io.StringIO()
    try:
        threading.Thread(target=interrupt).start()
        with pytest.raises(KeyboardInterrupt):
            for_each_student(seats("alice", "bob", "carol"), work, 1, out)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == {"alice": True}, out.getvalue()
    assert "interrupted" in out.getvalue()


def test_a_byod_class_has_seats_without_ports_and_no_boxes(tmp_path: Path) -> None:
    folder = tmp_path / "byod"
    folder.mkdir()
    (folder / "class.yaml").write_text("name: ws1\ndelivery: byod\nstudents: 2\n")
    cls = open_class(folder)
    assert [(s.student, s.ssh_port, s.password) for s in cls.seats] == [
        ("s01", 0, ""),
        ("s02", 0, ""),
    ]
    result = labgen("class", "up", str(folder))
    assert result.exit_code == 2
    assert "ws1 is a byod class" in result.output


def test_a_bad_runtime_and_a_class_folder_without_seats_are_one_line(tmp_path: Path) -> None:
    folder = create(tmp_path, ["alice"])
    result = labgen("class", "up", str(folder), "--runtime", "x")
    assert result.exit_code == 2 and "--runtime x: use NAME=PATH" in result.output
    (folder / "secrets" / "seats.csv").unlink()
    result = labgen("class", "status", str(folder))
    assert result.exit_code == 2
    assert result.output == (
        f"labgen: error: {folder / 'secrets/seats.csv'}: no seat for alice; run `labgen class "
        "create --force` with the class spec (everyone else keeps their port)\n"
    )


def test_runtime_is_refused_for_a_vm_class_not_ignored(tmp_path: Path) -> None:
    spec = tmp_path / "vm.yaml"
    hosted = {"server": "lab.example.org", "ssh_ports": "2200-2209", "isolation": "vm"}
    data = {"name": "vm", "delivery": "hosted", "students": ["alice"], "hosted": hosted}
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    folder = tmp_path / "vm"
    assert labgen("class", "create", str(spec), "--out", str(folder)).exit_code == 0
    wrapper = tmp_path / "wrapper"
    wrapper.write_text("#!/bin/sh\n", encoding="utf-8")
    wrapper.chmod(0o755)
    result = labgen("class", "up", str(folder), "--runtime", f"w={wrapper}")
    assert result.exit_code == 2, result.output
    assert result.output == (
        "labgen: error: --runtime: for container boxes; with hosted.isolation: vm each "
        "student's engine runs inside their own VM, whose runtime is its own\n"
    )
    assert not (folder / "vms").exists()  # refused before any VM was made


def test_the_teacher_guide_names_the_class_folder_given_with_out(tmp_path: Path) -> None:
    folder = create(tmp_path, ["alice"])
    guide = (folder / "teacher" / "guide.en.md").read_text(encoding="utf-8")
    assert f"labgen class up {folder}" in guide
    assert "classes/ws" not in guide


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("id,ssh_port\nalice,22x\n", "not a seats file (invalid literal"),
        (
            "id,ssh_port\nalice,2200\nbob,2200\n",
            "not a seats file (port 2200 is not valid or used twice)",
        ),
        ("who,port\nalice,2200\n", "not a seats file ('ssh_port')"),
        (b"\xff\xfe", "not a seats file ('utf-8' codec"),
        (None, "not a regular file; remove it"),
    ],
)
def test_a_bad_seats_file_is_one_line_naming_it(
    tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    import os

    folder = create(tmp_path, ["alice", "bob"])
    seats_file = folder / "secrets" / "seats.csv"
    seats_file.unlink()
    if content is None:
        os.mkfifo(seats_file)
    elif isinstance(content, bytes):
        seats_file.write_bytes(content)
    else:
        seats_file.write_text(content, encoding="utf-8")
    for args in (
        ("class", "status", str(folder)),
        ("class", "create", str(tmp_path / "ws.yaml"), "--out", str(folder), "--force"),
    ):
        result = labgen(*args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"labgen: error: {seats_file}: {says}"), result.output
        assert result.output.count("\n") == 1
