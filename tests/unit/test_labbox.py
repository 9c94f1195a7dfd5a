"""The lab box on a scripted `docker` (no engine needed): which docker commands a box
issues, what it copies in, how it repairs and fails, and how commands reach a node.

The real engine's behaviour is proven by tests/e2e/test_class_hosted.py.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from labgen.backends.base import END, START, ExecResult
from labgen.backends.box import BoxSpec, Limits, Runtime
from labgen.backends.labbox import (
    COMPOSE_UP,
    LabBox,
    box_override,
    labelled_students,
    node_states,
)
from labgen.errors import LabgenError

OK = ExecResult(0, "", "", 0.0)
MISSING = ExecResult(1, "", "Error: No such object", 0.0)
PROJECT = "registry-lab"


class FakeDocker:
    """Answers docker commands from a small model of the engine and the box's own engine,
    and records every call (with what went in on stdin)."""

    def __init__(self, *, network: bool = False, volume: bool = False, box: str | None = None):
        self.network = network
        self.volume = volume
        self.box = box  # None: not created; else docker's word for the container's state
        self.boot = "ready"  # what the box's boot script reports: ready, failed, booting
        self.nodes = {"registry": "running", "client": "running"}  # inside the box
        self.hub = False  # the box image carries a hub
        self.engine_dead = False  # the box's own dockerd was killed
        self.fail_cp = ""  # a `docker cp` destination that fails
        self.calls: list[list[str]] = []
        self.stdin: list[str | None] = []
        self.copied: dict[str, str] = {}  # destination → content (files) or names (folders)
        self.listed: dict[str, str] = {}  # `ps`/`volume`/`network` → listing output

    def __call__(
        self, argv: Sequence[str], timeout: float, *, stdin: str | None = None
    ) -> ExecResult:
        argv = list(argv)
        self.calls.append(argv)
        self.stdin.append(stdin)
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
        elif argv[1] in ("start", "restart"):
            self.box = "running"
            self.engine_dead = False
        elif argv[1] == "rm" and self.box and argv[-1].startswith("labgen-"):
            self.box = None
        elif argv[1] == "run":
            return OK if self.hub else ExecResult(1, "", "", 0.0)
        elif argv[1] == "cp":
            if argv[3] == self.fail_cp:
                return ExecResult(1, "", "Error response from daemon: no space left", 0.0)
            source = Path(argv[2])
            self.copied[argv[3]] = (
                source.read_text()
                if source.is_file()
                else " ".join(sorted(path.name for path in source.iterdir()))
            )
            if source.is_file():
                self.copied[argv[3] + ":mode"] = oct(stat.S_IMODE(source.stat().st_mode))
        elif argv[1] == "exec":
            return self._exec(argv, stdin)
        elif argv[1:3] == ["ps", "--all"] or argv[1:3] in (["volume", "ls"], ["network", "ls"]):
            return ExecResult(0, self.listed.get(argv[1], ""), "", 0.0)
        return OK

    def _exec(self, argv: list[str], stdin: str | None) -> ExecResult:
        if self.box != "running":
            name = next(arg for arg in argv[2:] if not arg.startswith("-"))
            return ExecResult(
                1, "", f"Error response from daemon: container {name} is not running", 0.0
            )
        if "/run/labbox/ready" in argv[-1]:
            code = {"ready": 0, "booting": 1, "failed": 3}[self.boot]
            return ExecResult(code, "docker compose up failed: no such image\n", "", 0.0)
        if argv[-4:] == ["ps", "--all", "--format", "{{json .}}"] and self.engine_dead:
            return ExecResult(1, "", "Cannot connect to the Docker daemon", 0.0)
        if argv[-4:] == ["ps", "--all", "--format", "{{json .}}"]:
            lines = [
                json.dumps(
                    {
                        "Labels": f"com.docker.compose.project={PROJECT},"
                        f"com.docker.compose.service={host}",
                        "State": state,
                    }
                )
                for host, state in self.nodes.items()
                if state != "missing"
            ]
            return ExecResult(0, "\n".join(lines), "", 0.0)
        if argv[-2:] == ["sh", "-s"] and stdin == COMPOSE_UP:
            self.nodes = {host: "running" for host in self.nodes}
            return ExecResult(0, "Container registry-lab-client-1 Started\n", "", 0.0)
        if argv[4:6] == ["docker", "exec"]:  # a command in a node, wrapped (base.wrap)
            host = argv[-2].removeprefix(f"{PROJECT}-").removesuffix("-1")
            if self.nodes.get(host) != "running":
                return ExecResult(
                    1, "", f"Error response from daemon: container {argv[-2]} is not running", 0.0
                )
            assert stdin is not None and START in stdin
            code = 7 if "exit 7" in stdin else 0
            return ExecResult(code, "out\n", f"{START}\n\n{END} {code}\n", 0.0)
        return OK

    def verbs(self) -> list[str]:
        return [" ".join(call[1:3]) for call in self.calls]


def lab_folder(tmp_path: Path, spec: str = "{}\n") -> Path:
    folder = tmp_path / "lab"
    folder.mkdir(exist_ok=True)
    (folder / "lab.yaml").write_text(spec, encoding="utf-8")
    (folder / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    return folder


def make_box(
    tmp_path: Path, fake: FakeDocker, runtime: Runtime | None = None, spec: str = "{}\n"
) -> LabBox:
    box_spec = BoxSpec(
        class_name="ws1",
        student="alice",
        ssh_port=2201,
        account="alice:s3cret\n",
        lab=lab_folder(tmp_path, spec),
        limits=Limits(cpus=1.5, memory="512M", pids=300),
        runtime=runtime,
    )
    return LabBox(box_spec, run=fake)


@pytest.mark.parametrize(("os_name", "image"), [("debian-12", "bookworm"), ("debian-13", "trixie")])
def test_the_box_carries_the_node_image_of_the_labs_os(
    tmp_path: Path, os_name: str, image: str
) -> None:
    box = make_box(tmp_path, FakeDocker(), spec=f"os: {os_name}\n")
    assert box.image == f"labgen/labbox:{image}"


def test_up_from_nothing_creates_network_volume_and_a_limited_labelled_box(tmp_path: Path) -> None:
    fake = FakeDocker()
    wrapper = tmp_path / "wrap-runc"
    wrapper.write_text("#!/bin/sh\n")
    make_box(tmp_path, fake, Runtime("wrap-runc", wrapper)).up(lambda _: None)
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
    # The box carries the node image of the lab's os (debian-13 by default).
    assert create[-1] == "labgen/labbox:trixie"
    network = next(c for c in fake.calls if c[1:3] == ["network", "create"])
    volume = next(c for c in fake.calls if c[1:3] == ["volume", "create"])
    assert "labgen.student=alice" in network and "labgen.student=alice" in volume
    # The lab folder, the account (never on a command line, mode 0600) and the runtime go in.
    assert fake.copied["labgen-ws1-alice:/lab"] == "docker-compose.yml lab.yaml"
    assert fake.copied["labgen-ws1-alice:/etc/labbox/student"] == "alice:s3cret\n"
    assert fake.copied["labgen-ws1-alice:/etc/labbox/student:mode"] == "0o600"
    assert not any("s3cret" in arg for call in fake.calls for arg in call)
    assert fake.copied["labgen-ws1-alice:/lab/.labgen"] == "compose.labbox.yml compose.runtime.yml"
    assert "labgen-ws1-alice:/etc/labbox/runtimes/wrap-runc" in fake.copied
    assert fake.verbs().index("start labgen-ws1-alice") > fake.verbs().index("cp " + str(wrapper))
    # Ready means each host's engine answered through the box.
    hosts = [c[7] for c in fake.calls if c[1] == "exec" and c[4:6] == ["docker", "exec"]]
    assert hosts == ["registry-lab-registry-1", "registry-lab-client-1"]


def test_without_a_runtime_nothing_machine_specific_is_added(tmp_path: Path) -> None:
    fake = FakeDocker()
    make_box(tmp_path, fake).up(lambda _: None)
    assert not any("--runtime" in call for call in fake.calls)
    assert fake.copied["labgen-ws1-alice:/lab/.labgen"] == "compose.labbox.yml"


def test_nodes_in_a_box_start_with_a_clean_run_folder(tmp_path: Path) -> None:
    override = yaml.safe_load(box_override(make_box(tmp_path, FakeDocker()).lab))
    assert override == {
        "services": {"registry": {"tmpfs": ["/run"]}, "client": {"tmpfs": ["/run"]}}
    }


def test_up_again_makes_only_what_is_missing(tmp_path: Path) -> None:
    running = FakeDocker(network=True, volume=True, box="running")
    make_box(tmp_path, running).up(lambda _: None)
    assert not {"network create", "volume create"} & set(running.verbs())
    assert not any(call[1] in ("create", "start", "cp") for call in running.calls)

    stopped = FakeDocker(network=True, volume=True, box="exited")
    assert make_box(tmp_path, stopped).state() == "stopped"
    make_box(tmp_path, stopped).up(lambda _: None)
    assert [c[1] for c in stopped.calls if c[1] in ("create", "start")] == ["start"]

    no_network = FakeDocker(volume=True, box="running")
    make_box(tmp_path, no_network).up(lambda _: None)
    assert "network create" in no_network.verbs()
    assert not any(call[1] == "create" for call in no_network.calls)


def test_a_box_whose_copy_in_failed_is_removed_and_never_started(tmp_path: Path) -> None:
    fake = FakeDocker()
    fake.fail_cp = "labgen-ws1-alice:/etc/labbox/student"
    with pytest.raises(LabgenError, match=r"alice: docker cp .* failed: .*no space left"):
        make_box(tmp_path, fake).up(lambda _: None)
    assert fake.box is None, "a box without its account was left behind"
    assert "start labgen-ws1-alice" not in fake.verbs()


def test_a_half_made_box_is_made_again_by_the_next_up(tmp_path: Path) -> None:
    # created but never started: its removal after a failed copy-in failed too
    fake = FakeDocker(network=True, volume=True, box="created")
    box = make_box(tmp_path, fake)
    assert box.state() == "half made"
    lines: list[str] = []
    box.up(lines.append)
    assert [c[1] for c in fake.calls if c[1] in ("rm", "create", "start")] == [
        "rm",
        "create",
        "start",
    ]
    assert fake.copied["labgen-ws1-alice:/etc/labbox/student"] == "alice:s3cret\n"
    assert any("half made" in line for line in lines)


def test_an_offline_box_without_a_mirror_is_refused_with_the_line_to_write(tmp_path: Path) -> None:
    fake = FakeDocker()
    fake.hub = True
    with pytest.raises(LabgenError) as raised:
        make_box(tmp_path, fake).up(lambda _: None)
    assert "write `mirror: http://192.168.56.1:5555` under `lab:` in the class spec" in str(
        raised.value
    )
    assert "create" not in [c[1] for c in fake.calls]
    # a lab with a mirror is not asked about the hub at all
    named = FakeDocker()
    named.hub = True
    make_box(tmp_path, named, spec="mirror: http://192.168.56.1:5555\n").up(lambda _: None)
    assert "run" not in [c[1] for c in named.calls]


def test_a_lab_that_fails_to_start_is_reported_with_the_boxs_reason(tmp_path: Path) -> None:
    fake = FakeDocker()
    fake.boot = "failed"
    with pytest.raises(LabgenError, match="alice: docker compose up failed: no such image"):
        make_box(tmp_path, fake).up(lambda _: None)


def test_a_lab_never_ready_times_out_naming_the_log(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    fake = FakeDocker()
    fake.boot = "booting"
    box = make_box(tmp_path, fake)
    box.ready_timeout = 0.0
    with pytest.raises(LabgenError, match=r"not ready after .*compose\.log"):
        box.up(lambda _: None)


def test_exec_sends_the_command_on_stdin_to_the_node_inside_the_box(tmp_path: Path) -> None:
    fake = FakeDocker(box="running")
    done = make_box(tmp_path, fake).exec("client", "echo secret-pw | docker login", 30)
    assert fake.calls[-1] == [
        "docker",
        "exec",
        "-i",
        "labgen-ws1-alice",
        "docker",
        "exec",
        "-i",
        "registry-lab-client-1",
        "sh",
    ]
    assert "secret-pw" in (fake.stdin[-1] or "")
    assert not any("secret-pw" in arg for call in fake.calls for arg in call)
    assert (done.exit_code, done.stdout, done.stderr, done.error) == (0, "out\n", "", "")


def test_a_command_that_ran_and_failed_is_no_error_but_an_unreachable_node_is(
    tmp_path: Path,
) -> None:
    fake = FakeDocker(box="running")
    box = make_box(tmp_path, fake)
    failed = box.exec("client", "exit 7", 30)
    assert (failed.exit_code, failed.error) == (7, "")
    fake.nodes["client"] = "missing"
    gone = box.exec("client", "true", 30)
    assert "could not run the command on client" in gone.error
    assert "registry-lab-client-1 is not running" in gone.error
    fake.box = "exited"
    assert "labgen-ws1-alice is not running" in box.exec("registry", "true", 30).error


def test_repair_starts_a_missing_or_stopped_node_with_compose_in_the_box(tmp_path: Path) -> None:
    fake = FakeDocker(network=True, volume=True, box="running")
    fake.nodes = {"registry": "exited", "client": "missing"}
    lines: list[str] = []
    box = make_box(tmp_path, fake)
    assert box.repair(lines.append) == [
        "registry (exited) started again",
        "client (missing) started again",
    ]
    assert fake.stdin.count(COMPOSE_UP) == 1
    assert lines == [
        "repairing registry (exited), client (missing): docker compose up -d in the box"
    ]
    assert box.repair(lines.append) == []  # nothing left to repair
    assert fake.stdin.count(COMPOSE_UP) == 1


def test_repair_restarts_a_box_whose_own_engine_died(tmp_path: Path) -> None:
    fake = FakeDocker(network=True, volume=True, box="running")
    fake.engine_dead = True
    assert make_box(tmp_path, fake).repair(lambda _: None) == ["the box's engine (box restarted)"]
    assert "restart labgen-ws1-alice" in fake.verbs()


def test_repair_leaves_a_box_that_is_still_booting_alone(tmp_path: Path) -> None:
    fake = FakeDocker(box="running")
    fake.boot = "booting"
    fake.nodes = {"registry": "missing", "client": "missing"}
    assert make_box(tmp_path, fake).repair(lambda _: None) == []
    assert COMPOSE_UP not in fake.stdin


def test_down_removes_exactly_what_carries_the_students_labels(tmp_path: Path) -> None:
    fake = FakeDocker(box="running")
    fake.listed = {"ps": "c1\n", "volume": "v1\nv2\n", "network": "n1\n"}
    make_box(tmp_path, fake).down(lambda _: None)
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


def test_every_student_owning_something_of_the_class_is_found() -> None:
    fake = FakeDocker()
    fake.listed = {"ps": "alice\nbob\n", "volume": "carol\n", "network": "alice\n\n"}
    assert labelled_students("ws1", fake) == {"alice", "bob", "carol"}
    for call in fake.calls:
        assert "label=labgen.class=ws1" in call


def test_status_reads_the_nodes_of_the_lab_project_only() -> None:
    lines = "\n".join(
        [
            '{"Labels":"com.docker.compose.project=registry-lab,com.docker.compose.service=registry","State":"running"}',
            '{"Labels":"com.docker.compose.project=other,com.docker.compose.service=client","State":"running"}',
            "WARNING: not a listing line",
            '{"Labels":"com.docker.compose.service=client,com.docker.compose.project=registry-lab","State":"exited"}',
        ]
    )
    assert node_states(lines, "registry-lab") == {"registry": "running", "client": "exited"}


def test_status_and_address_of_a_box(tmp_path: Path) -> None:
    fake = FakeDocker(box="running")
    fake.nodes = {"registry": "running", "client": "exited"}
    box = make_box(tmp_path, fake)
    assert [(h.host, h.state, h.engine) for h in box.status()] == [
        ("registry", "running", True),
        ("client", "exited", False),
    ]
    assert box.address() == ("127.0.0.1", 2201)
    assert make_box(tmp_path, FakeDocker()).state() == "not created"


def test_a_repair_compose_cannot_do_is_one_line_naming_the_nodes() -> None:
    """The one repair every kind of box (container, VM, pod) uses."""
    from labgen.backends.labbox import repair_nodes
    from labgen.spec.parse import parse_spec

    hosts = parse_spec({})[0].hosts
    said: list[str] = []
    with pytest.raises(LabgenError) as raised:
        repair_nodes(
            "alice",
            hosts,
            {"registry": "running"},
            "the VM",
            said.append,
            lambda: ExecResult(1, "", "first\nno space left on device\n", 0.1),
        )
    assert str(raised.value) == (
        "alice: repairing client (missing) failed: no space left on device"
    )
    assert said == ["repairing client (missing): docker compose up -d in the VM"]
    running = {host.name: "running" for host in hosts}
    assert repair_nodes("alice", hosts, running, "the box", said.append, pytest.fail) == []
