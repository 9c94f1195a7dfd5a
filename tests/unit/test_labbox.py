"""The lab box and hosted-class runs, on a scripted `docker` (no engine needed).

The real engine's behaviour is proven by tests/e2e/test_class_hosted.py; here: which
docker commands a box issues, what it copies in, and how failures are reported.
"""

from __future__ import annotations

import io
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml

from labgen.backends.base import ExecResult
from labgen.classroom import hosted
from labgen.classroom.labbox import LabBox, Limits, Runtime, Seat, _node_states, box_override
from labgen.errors import LabgenError
from labgen.lab import Lab
from labgen.spec.parse import parse_spec

OK = ExecResult(0, "", "", 0.0)
MISSING = ExecResult(1, "", "Error: No such object", 0.0)


class FakeDocker:
    """Answers docker commands from a small model of the engine, and records every call."""

    def __init__(self, *, network: bool = False, volume: bool = False, box: str | None = None):
        self.network = network
        self.volume = volume
        self.box = box  # None: not created; else the container's state
        self.boot = "ready"  # what the box's boot script reports: ready, failed, booting
        self.calls: list[list[str]] = []
        self.copied: dict[str, str] = {}  # destination → content (files) or "<dir>"
        self.listed: dict[str, str] = {}  # `ps`/`volume ls`/`network ls` → ids

    def __call__(self, argv: Sequence[str], timeout: float) -> ExecResult:
        argv = list(argv)
        self.calls.append(argv)
        assert argv[0] == "docker"
        verb = argv[1:3]
        if verb == ["network", "inspect"]:
            return OK if self.network else MISSING
        if verb == ["volume", "inspect"]:
            return OK if self.volume else MISSING
        if verb == ["container", "inspect"]:
            return ExecResult(0, f"{self.box}\n", "", 0.0) if self.box else MISSING
        if argv[1] == "create":
            self.box = "created"
        elif argv[1] == "start":
            self.box = "running"
        elif argv[1] == "cp":
            source = Path(argv[2])
            self.copied[argv[3]] = (
                source.read_text()
                if source.is_file()
                else " ".join(sorted(path.name for path in source.iterdir()))
            )
            if source.is_file():
                self.copied[argv[3] + ":mode"] = oct(stat.S_IMODE(source.stat().st_mode))
        elif argv[1] == "exec" and "/run/labbox/ready" in argv[-1]:
            code = {"ready": 0, "booting": 1, "failed": 3}[self.boot]
            return ExecResult(code, "docker compose up failed: no such image\n", "", 0.0)
        elif argv[1:3] == ["ps", "--all"] or argv[1:3] in (["volume", "ls"], ["network", "ls"]):
            return ExecResult(0, self.listed.get(argv[1], ""), "", 0.0)
        return OK

    def verbs(self) -> list[str]:
        return [" ".join(call[1:3]) for call in self.calls]


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    spec, _ = parse_spec({})
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "docker-compose.yml").write_text("services: {}\n")
    return Lab(path=folder, spec=spec)


def make_box(lab: Lab, fake: FakeDocker, runtime: Runtime | None = None) -> LabBox:
    seat = Seat("ws1", "alice", 2201, "s3cret")
    return LabBox(lab, seat, Limits(cpus=1.5, memory="512M", pids=300), runtime=runtime, run=fake)


def test_up_from_nothing_creates_network_volume_and_a_limited_labelled_box(
    lab: Lab, tmp_path: Path
) -> None:
    fake = FakeDocker()
    wrapper = tmp_path / "wrap-runc"
    wrapper.write_text("#!/bin/sh\n")
    make_box(lab, fake, Runtime("wrap-runc", wrapper)).up(lambda _: None)
    create = next(call for call in fake.calls if call[1] == "create")
    flags = " ".join(create)
    for expected in (
        "--name labgen-ws1-alice",
        "--label labgen.class=ws1 --label labgen.student=alice",
        "--network labgen-ws1-alice",
        "--cpus 1.5",
        "--memory 512M --memory-swap 512M",
        "--pids-limit 300",
        "--publish 2201:22",
        "--volume labgen-ws1-alice-docker:/var/lib/docker",
        "LABBOX_USER=alice",
        "LABBOX_LAB_GATEWAY=192.168.56.1",
        "--runtime wrap-runc",
    ):
        assert expected in flags
    assert create[-1] == "labgen/labbox:bookworm"
    network = next(c for c in fake.calls if c[1:3] == ["network", "create"])
    volume = next(c for c in fake.calls if c[1:3] == ["volume", "create"])
    assert "labgen.student=alice" in network and "labgen.student=alice" in volume
    # The lab folder, the account (never on a command line, mode 0600) and the runtime go in.
    assert fake.copied["labgen-ws1-alice:/lab"] == "docker-compose.yml"
    assert fake.copied["labgen-ws1-alice:/etc/labbox/student"] == "alice:s3cret\n"
    assert fake.copied["labgen-ws1-alice:/etc/labbox/student:mode"] == "0o600"
    assert not any("s3cret" in arg for call in fake.calls for arg in call)
    assert fake.copied["labgen-ws1-alice:/lab/.labgen"] == "compose.labbox.yml compose.runtime.yml"
    assert "labgen-ws1-alice:/etc/labbox/runtimes/wrap-runc" in fake.copied
    assert fake.verbs().index("start labgen-ws1-alice") > fake.verbs().index("cp " + str(wrapper))
    # Ready means each host's engine answered through the box.
    hosts = [c[5] for c in fake.calls if c[1] == "exec" and c[3:5] == ["docker", "exec"]]
    assert hosts == ["registry-lab-registry-1", "registry-lab-client-1"]


def test_without_a_runtime_nothing_machine_specific_is_added(lab: Lab) -> None:
    fake = FakeDocker()
    make_box(lab, fake).up(lambda _: None)
    assert not any("--runtime" in call for call in fake.calls)
    assert fake.copied["labgen-ws1-alice:/lab/.labgen"] == "compose.labbox.yml"


def test_nodes_in_a_box_start_with_a_clean_run_folder(lab: Lab) -> None:
    override = yaml.safe_load(box_override(lab))
    assert override == {
        "services": {"registry": {"tmpfs": ["/run"]}, "client": {"tmpfs": ["/run"]}}
    }


def test_up_again_repairs_only_what_is_missing(lab: Lab) -> None:
    running = FakeDocker(network=True, volume=True, box="running")
    make_box(lab, running).up(lambda _: None)
    assert not {"network create", "volume create"} & set(running.verbs())
    assert not any(call[1] in ("create", "start", "cp") for call in running.calls)

    stopped = FakeDocker(network=True, volume=True, box="exited")
    make_box(lab, stopped).up(lambda _: None)
    assert [c[1] for c in stopped.calls if c[1] in ("create", "start")] == ["start"]

    no_network = FakeDocker(volume=True, box="running")
    make_box(lab, no_network).up(lambda _: None)
    assert "network create" in no_network.verbs()
    assert not any(call[1] == "create" for call in no_network.calls)


def test_a_lab_that_fails_to_start_is_reported_with_the_boxs_reason(lab: Lab) -> None:
    fake = FakeDocker()
    fake.boot = "failed"
    with pytest.raises(LabgenError, match="alice: docker compose up failed: no such image"):
        make_box(lab, fake).up(lambda _: None)


def test_a_lab_never_ready_times_out_naming_the_log(lab: Lab, monkeypatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    fake = FakeDocker()
    fake.boot = "booting"
    box = make_box(lab, fake)
    box.ready_timeout = 0.0
    with pytest.raises(LabgenError, match=r"not ready after .*compose\.log"):
        box.up(lambda _: None)


def test_exec_runs_in_the_node_inside_the_box(lab: Lab) -> None:
    fake = FakeDocker(box="running")
    make_box(lab, fake).exec("client", "docker images", 30)
    assert fake.calls[-1] == [
        "docker",
        "exec",
        "labgen-ws1-alice",
        "docker",
        "exec",
        "registry-lab-client-1",
        "sh",
        "-c",
        "docker images",
    ]


def test_down_removes_exactly_what_carries_the_students_labels(lab: Lab) -> None:
    fake = FakeDocker(box="running")
    fake.listed = {"ps": "c1\n", "volume": "v1\nv2\n", "network": "n1\n"}
    make_box(lab, fake).down(lambda _: None)
    listings = [c for c in fake.calls if c[1] == "ps" or c[2] == "ls"]
    assert len(listings) == 3
    for call in listings:
        assert "label=labgen.class=ws1" in call and "label=labgen.student=alice" in call
    removals = [c[1:] for c in fake.calls if "rm" in c]
    assert removals == [
        ["rm", "--force", "--volumes", "c1"],
        ["volume", "rm", "--force", "v1", "v2"],
        ["network", "rm", "n1"],
    ]


def test_status_reads_the_nodes_of_the_lab_project_only(lab: Lab) -> None:
    lines = "\n".join(
        [
            '{"Labels":"com.docker.compose.project=registry-lab,com.docker.compose.service=registry","State":"running"}',
            '{"Labels":"com.docker.compose.project=other,com.docker.compose.service=client","State":"running"}',
            '{"Labels":"com.docker.compose.service=client,com.docker.compose.project=registry-lab","State":"exited"}',
        ]
    )
    assert _node_states(lines, "registry-lab") == {"registry": "running", "client": "exited"}


# ---------------------------------------------------------------- hosted runs


class ScriptedBox:
    """Stands in for a LabBox in run_class: sleeps, may fail, tracks concurrency."""

    active = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, student: str, fail: bool = False) -> None:
        self.seat = Seat("ws1", student, 2200, "pw")
        self.fail = fail

    def up(self, progress: Callable[[str], None]) -> None:
        with ScriptedBox.lock:
            ScriptedBox.active += 1
            ScriptedBox.most = max(ScriptedBox.most, ScriptedBox.active)
        progress("starting")
        time.sleep(0.05)
        with ScriptedBox.lock:
            ScriptedBox.active -= 1
        if self.fail:
            raise LabgenError(f"{self.seat.student}: docker compose up failed: boom")


def test_one_failure_is_reported_and_the_others_go_on_jobs_at_a_time() -> None:
    ScriptedBox.most = 0
    boxes = [ScriptedBox(s, fail=s == "bob") for s in ("alice", "bob", "carol", "dave")]
    out = io.StringIO()
    outcomes = hosted.run_class(boxes, "up", jobs=2, out=out)  # type: ignore[arg-type]
    assert [(o.student, o.ok) for o in outcomes] == [
        ("alice", True),
        ("bob", False),
        ("carol", True),
        ("dave", True),
    ]
    assert ScriptedBox.most == 2
    text = out.getvalue()
    assert "bob      FAILED: bob: docker compose up failed: boom" in text
    assert "3 ok, 1 failed" in text.splitlines()[-1]


def test_jobs_below_one_and_unknown_students_are_usage_errors() -> None:
    boxes = [ScriptedBox("alice")]
    with pytest.raises(LabgenError, match="--jobs"):
        hosted.run_class(boxes, "up", jobs=0)  # type: ignore[arg-type]
    with pytest.raises(LabgenError, match="--students: zed not in this class"):
        hosted.pick(boxes, ["alice", "zed"])  # type: ignore[arg-type]
    assert hosted.pick(boxes, None) == boxes  # type: ignore[arg-type]


def test_seats_come_from_the_class_credentials_file(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.csv"
    credentials.write_text("id,ssh_port,password\nalice,2200,a-pw\nbob,2201,b-pw\n")
    assert hosted.read_seats(credentials, "ws1") == [
        Seat("ws1", "alice", 2200, "a-pw"),
        Seat("ws1", "bob", 2201, "b-pw"),
    ]


def test_a_class_folder_gives_one_box_per_seat_on_its_lab(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "lab.yaml").write_text("name: ws-lab\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "credentials.csv").write_text("id,ssh_port,password\nal,2200,x\n")
    [box] = hosted.class_boxes(tmp_path, "ws1", Limits())
    assert (box.container, box.seat.ssh_port, box.lab.spec.name) == (
        "labgen-ws1-al",
        2200,
        "ws-lab",
    )
    assert box.lab.path == tmp_path / "lab"


def test_class_commands_refuse_a_byod_class_and_a_bad_runtime(tmp_path: Path) -> None:
    from labgen.classroom.hosted_commands import run_hosted
    from labgen.errors import UsageError

    (tmp_path / "class.yaml").write_text("name: ws1\ndelivery: byod\nstudents: 2\n")
    with pytest.raises(UsageError, match="not a hosted class"):
        run_hosted(tmp_path, "up", 2, None, None)
    (tmp_path / "class.yaml").write_text(
        "name: ws1\ndelivery: hosted\nlab: {os: debian-12}\nstudents: 2\nhosted: {server: lab.example.org}\n"
    )
    with pytest.raises(UsageError, match="--runtime x: use NAME=PATH"):
        run_hosted(tmp_path, "up", 2, None, "x")
