"""A hosted class of three on the sandboxed engine: one lab box per student.

The class folder comes from `labgen class create`. alice does the whole tutorial through
her own SSH command (`ssh -p PORT alice@SERVER`, then `lab HOST CMD`, as her handout
says), bob does its first half, carol nothing. `class check` (the single lab's checker,
grade mode, through each box) and `class report` must give exactly that matrix. Also: a
student's node cannot reach another student's box, `up` repairs only what is missing,
and `down` leaves no container, network or volume of the class.
SSH goes to 127.0.0.1 inside the sandbox's network namespace: nothing leaves the machine.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import (
    MIRROR,
    RUNTIME,
    SANDBOX_NETNS,
    SOLVE_STATUSES,
    StudentShell,
    labgen,
)

from helpers import REPO_ROOT, tool_or_skip
from labgen.backends.base import ExecResult
from labgen.backends.box import CLASS_LABEL, BoxSpec, Runtime
from labgen.backends.labbox import LabBox
from labgen.check import runner
from labgen.check.results import CheckReport
from labgen.classroom.boxes import box_spec
from labgen.classroom.grading import grade_seat
from labgen.classroom.hosted import run_hosted
from labgen.classroom.model import Class, Seat, open_class
from labgen.classroom.workshop import check_class, report_class_folder
from labgen.steps.scenario import load_scenario

pytestmark = pytest.mark.e2e
RUNTIME_WRAPPER = Runtime(RUNTIME, REPO_ROOT / "sandbox/labgen-runc")

CLASS = "e2e"
STUDENTS = ("alice", "bob", "carol")
# What grading finds: bob pushed through localhost but configured nothing yet.
BOB_FAILS = {
    ("client-has-image", "client"),
    ("daemon-json-insecure", "client"),
    ("daemon-json-insecure", "registry"),
    ("engine-insecure", "client"),
    ("engine-insecure", "registry"),
}


@pytest.fixture(scope="module")
def labbox_image(engine: dict[str, str]) -> dict[str, str]:
    subprocess.run(["bash", str(REPO_ROOT / "sandbox/images.sh"), "labbox"], check=True, env=engine)
    return engine


def write_spec(folder: Path, students: list[str]) -> Path:
    spec = folder / "class-spec.yaml"
    raw = {
        "name": CLASS,
        "delivery": "hosted",
        "students": students,
        "lab": {"mirror": MIRROR},
        "hosted": {"server": "127.0.0.1", "ssh_ports": "2201-2210"},
    }
    spec.write_text(json.dumps(raw), encoding="utf-8")
    return spec


def class_create(folder: Path, students: list[str], *extra: str) -> None:
    """`labgen class create` as a teacher runs it."""
    spec = write_spec(folder.parent, students)
    done = labgen(
        dict(os.environ),
        "class",
        "create",
        str(spec),
        "--out",
        str(folder),
        *extra,
        cwd=folder.parent,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def class_dir(tmp_path: Path) -> Path:
    """The class folder, as `labgen class create` writes it."""
    folder = tmp_path / "class"
    class_create(folder, list(STUDENTS))
    return folder


@pytest.fixture
def hosted(
    labbox_image: dict[str, str], class_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[LabBox]]:
    """Three boxes, up; taken down at the end whatever happens."""
    tool_or_skip("sshpass")
    tool_or_skip("ssh")
    for key, value in labbox_image.items():
        monkeypatch.setenv(key, value)
    cls = open_class(class_dir)
    try:
        outcomes = run_hosted(cls, "up", 3, None, RUNTIME_WRAPPER, out=io.StringIO())
        assert [o.ok for o in outcomes] == [True] * 3, outcomes
        yield [LabBox(box_spec(cls, seat, RUNTIME_WRAPPER)) for seat in cls.seats]
    finally:
        run_hosted(open_class(class_dir), "down", 3, None, out=io.StringIO())


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def grade(box: LabBox) -> CheckReport:
    scenario = load_scenario(box.lab.spec)
    return runner.grade(box, scenario, box.spec.student, 60, lambda *_: None, lambda _: None)


def seat_of(cls: Class, box: LabBox) -> Seat:
    return next(seat for seat in cls.seats if seat.student == box.spec.student)


class DyingBox(LabBox):
    """A real lab box that kills itself (its engine, or the box) after its first goal command."""

    def __init__(self, spec: BoxSpec, kill: Callable[[LabBox], object]) -> None:
        super().__init__(spec)
        self.kill = kill
        self.killed = False
        self.goals = {goal.run for goal in load_scenario(self.lab.spec).goals}

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        done = super().exec(host, command, timeout)
        if command in self.goals and not self.killed:
            self.killed = True
            self.kill(self)
        return done


def failing(report: CheckReport) -> set[tuple[str, str]]:
    return {(r.id, r.host) for r in report.results if r.status != "pass"}


def test_hosted_class_of_three(hosted: list[LabBox], class_dir: Path) -> None:
    alice, bob, carol = hosted
    cls = open_class(class_dir)
    a_seat, b_seat, c_seat = cls.seats
    scenario = load_scenario(alice.lab.spec)
    every_goal = {(g.id, h.name) for g in scenario.goals for h in g.hosts}

    # Per-student credentials: each student's own password opens their box, bob's not alice's.
    for seat in cls.seats:
        assert StudentShell(seat, netns=SANDBOX_NETNS).login("true").exit_code == 0, seat.student
    assert StudentShell(a_seat, b_seat.password, netns=SANDBOX_NETNS).login("true").exit_code != 0
    # Login and node shells are UTF-8: the handout's Chinese typed there must arrive whole.
    assert (
        StudentShell(a_seat, netns=SANDBOX_NETNS).login("locale charmap").stdout.strip() == "UTF-8"
    )
    assert (
        StudentShell(a_seat, netns=SANDBOX_NETNS)
        .exec("registry", "locale charmap", 60)
        .stdout.strip()
        == "UTF-8"
    )

    # The box's limits hold for the lab's nodes too: their cgroups nest inside the box's.
    limits = docker(
        "inspect",
        "-f",
        "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
        alice.container,
    )
    assert limits.split() == ["1000000000", str(768 * 2**20), "1024"]
    box_id = docker("inspect", "-f", "{{.Id}}", alice.container).strip()
    cgroups = alice.exec("registry", "cat /proc/1/cgroup", 30).stdout
    limited = [line for line in cgroups.splitlines() if ":memory:" in line or ":pids:" in line]
    assert len(limited) == 2 and all(box_id in line for line in limited), cgroups

    # alice: the whole tutorial, each step typed in her own SSH session, judged by the checker.
    shell = StudentShell(a_seat, netns=SANDBOX_NETNS)
    solved = runner.solve(shell, scenario, "alice", 180, lambda *_: None, lambda _: None)
    assert solved.ok, [(r.id, r.host, r.status, r.excerpt) for r in solved.results]
    statuses = {(r.id, r.host): r.status for r in solved.results if r.status != "pass"}
    assert statuses == SOLVE_STATUSES
    # bob: the first half, through his SSH command too.
    for step in scenario.steps[:5]:
        done = StudentShell(b_seat, netns=SANDBOX_NETNS).exec(step.hosts[0].name, step.run, 120)
        assert done.exit_code == 0, (step.id, done.output)

    # A node removed inside a running box (one command from the student's own shell) is
    # started again by `up`, quickly, and `up` says so.
    assert carol.exec("client", "true", 30).error == ""
    docker("exec", carol.container, "docker", "rm", "--force", carol.node("client"))
    gone = carol.exec("client", "true", 30)
    assert gone.error, gone
    start = time.monotonic()
    outcomes = run_hosted(cls, "up", 3, None, RUNTIME_WRAPPER, out=io.StringIO())
    assert time.monotonic() - start < 90, outcomes
    assert [o.ok for o in outcomes] == [True] * 3, outcomes
    assert "repaired: client (missing) started again" in outcomes[2].detail
    assert carol.exec("client", "true", 30).exit_code == 0

    # `up` again repairs only what is missing: carol's box is recreated, alice's untouched.
    # Her nodes' engines die with the box; a stale pid file naming a live process (pid 1,
    # the worst case) must not keep them from starting again.
    started = docker("inspect", "-f", "{{.State.StartedAt}}", alice.container)
    assert carol.exec("registry", "echo 1 >/var/run/docker.pid", 30).exit_code == 0
    docker("rm", "--force", carol.container)
    outcomes = run_hosted(cls, "up", 3, None, RUNTIME_WRAPPER, out=io.StringIO())
    assert [o.ok for o in outcomes] == [True] * 3, outcomes
    assert docker("inspect", "-f", "{{.State.StartedAt}}", alice.container) == started
    assert carol.state() == "running"

    # The existing checker, through each lab box, gives exactly the class's matrix...
    assert failing(grade(alice)) == set()
    assert failing(grade(bob)) == BOB_FAILS
    assert failing(grade(carol)) == every_goal
    # ... and so do `class check` and `class report`, from the class folder alone.
    assert check_class(cls, jobs=3, students=None, timeout=60)
    report_class_folder(cls, None, None)
    matrix = json.loads((class_dir / "report.json").read_text(encoding="utf-8"))
    not_done = {
        row["id"]: {goal for goal, cell in row["goals"].items() if cell["state"] != "done"}
        for row in matrix["students"]
    }
    assert not_done == {
        "alice": set(),
        "bob": {goal for goal, _ in BOB_FAILS},
        "carol": {goal for goal, _ in every_goal},
    }

    # Every student's registry is at 192.168.56.101 in their own box, and only there.
    catalog = "curl -sS --max-time 5 http://192.168.56.101:5000/v2/_catalog"
    assert "nginx" in alice.exec("client", catalog, 30).stdout
    assert "nginx" in bob.exec("client", catalog, 30).stdout
    assert carol.exec("client", catalog, 30).exit_code != 0
    # Nor can a node reach another student's box: bob's box answers bob's nodes, not alice's.
    bob_ip = docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", bob.container
    ).strip()
    probe = f"curl -sS --max-time 5 http://{bob_ip}:5555/v2/"
    assert bob.exec("registry", probe, 30).exit_code == 0
    assert alice.exec("registry", probe, 30).exit_code != 0

    # A box whose engine (alice) or whose whole container (bob) dies during the check is
    # "could not check" with the reason, never a goal not done.
    killers = {
        "alice": lambda box: docker(
            "exec", box.container, "sh", "-c", "kill $(cat /run/labbox/dockerd.pid)"
        ),
        "bob": lambda box: docker("kill", box.container),
    }
    for box in (alice, bob):
        dying = DyingBox(box.spec, killers[box.spec.student])
        record = grade_seat(cls, seat_of(cls, box), dying, 60)
        assert dying.killed, "the box was not killed during the check"
        assert (record.state, record.report) == ("unreachable", None), record
        assert record.error.endswith("during the check"), record.error
    # ... and `up` brings both back with their work (their volumes keep the engines' data).
    outcomes = run_hosted(cls, "up", 3, None, RUNTIME_WRAPPER, out=io.StringIO())
    assert [o.ok for o in outcomes] == [True] * 3, outcomes
    assert failing(grade(alice)) == set()

    # `class status` sees every lab running.
    assert all(o.ok for o in run_hosted(cls, "status", 3, None, out=io.StringIO()))

    # Students come and go: dan is inserted before bob, carol leaves. Everyone else keeps
    # their port, box and work; carol's box goes with the next `up`, and her password
    # opens nothing (dan now has her old port, and no account of hers).
    ports = {seat.student: seat.ssh_port for seat in cls.seats}
    started = {
        box.spec.student: docker("inspect", "-f", "{{.State.StartedAt}}", box.container)
        for box in (alice, bob)
    }
    class_create(class_dir, ["alice", "dan", "bob"], "--force")
    cls = open_class(class_dir)
    new_ports = {seat.student: seat.ssh_port for seat in cls.seats}
    assert new_ports == {"alice": ports["alice"], "dan": ports["carol"], "bob": ports["bob"]}
    outcomes = run_hosted(cls, "up", 3, None, RUNTIME_WRAPPER, out=io.StringIO())
    carol_out = outcomes[0]
    assert (carol_out.student, carol_out.ok, carol_out.detail) == (
        "carol",
        True,
        "not on the roster any more: box removed",
    ), outcomes
    assert [(o.student, o.ok) for o in outcomes[1:]] == [
        ("alice", True),
        ("dan", True),
        ("bob", True),
    ], outcomes
    assert docker("ps", "--all", "--quiet", "--filter", f"name=^{carol.container}$") == ""
    for box in (alice, bob):
        assert (
            docker("inspect", "-f", "{{.State.StartedAt}}", box.container)
            == started[box.spec.student]
        )
    assert failing(grade(alice)) == set()
    assert failing(grade(bob)) == BOB_FAILS
    dan = next(seat for seat in cls.seats if seat.student == "dan")
    assert StudentShell(dan, netns=SANDBOX_NETNS).login("true").exit_code == 0
    carol_seat = Seat(CLASS, "carol", ports["carol"], c_seat.password)
    assert StudentShell(carol_seat, netns=SANDBOX_NETNS).login("true").exit_code != 0

    # down leaves nothing of the class behind.
    outcomes = run_hosted(cls, "down", 3, None, out=io.StringIO())
    assert [o.ok for o in outcomes] == [True] * 3, outcomes
    label = f"label={CLASS_LABEL}={CLASS}"
    assert docker("ps", "--all", "--quiet", "--filter", label) == ""
    assert docker("network", "ls", "--quiet", "--filter", label) == ""
    assert docker("volume", "ls", "--quiet", "--filter", label) == ""
