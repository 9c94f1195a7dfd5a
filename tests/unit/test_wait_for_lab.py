"""`wait_for_lab`, the one wait of the lab box and the student VM, on scripted answers:
what it waits for, what it says while waiting, and each way it gives up in one line."""

from __future__ import annotations

import time

import pytest

from labgen.backends.base import ExecResult
from labgen.backends.labbox import BOX_READY, LabWait, wait_for_lab
from labgen.errors import LabgenError
from labgen.spec.model import Host

HOSTS = [
    Host(name="registry", ip="192.168.56.101", role="registry"),
    Host(name="client", ip="192.168.56.102", role="client"),
]


class Script:
    """A box whose boot script and nodes answer from lists, one answer per poll."""

    def __init__(self, boots: list[int], answers: dict[str, list[int]], stopped_at: int = -1):
        self.boots = boots
        self.answers = answers
        self.stopped_at = stopped_at
        self.polls = 0
        self.asked: list[str] = []

    def gone(self) -> str | None:
        self.polls += 1
        return "box lab-alice is exited (last log: oops)" if self.polls == self.stopped_at else None

    def shell(self, command: str, timeout: float) -> ExecResult:
        assert command == BOX_READY
        code = self.boots.pop(0) if len(self.boots) > 1 else self.boots[0]
        return ExecResult(code, "", "compose up failed: no space left" if code == 3 else "", 0.0)

    def node(self, host: str, command: str, timeout: float) -> ExecResult:
        self.asked.append(host)
        codes = self.answers[host]
        return ExecResult(codes.pop(0) if len(codes) > 1 else codes[0], "", "", 0.0)

    def box(self) -> LabWait:
        return LabWait(
            student="alice",
            engine="the box's engine",
            log_hint="see compose.log",
            gone=self.gone,
            shell=self.shell,
            node=self.node,
        )


def wait(script: Script, timeout: float = 60.0) -> list[str]:
    said: list[str] = []
    wait_for_lab(script.box(), HOSTS, time.monotonic(), timeout, said.append, pause=0)
    return said


def test_it_waits_for_the_boot_then_for_each_node_and_says_each_change_once() -> None:
    script = Script(boots=[1, 1, 0], answers={"registry": [1, 0], "client": [1, 1, 1, 0]})
    said = wait(script)
    assert said[:3] == [
        "waiting for the box's engine and lab",
        "waiting for registry, client",
        "waiting for client",
    ]
    assert said[-1].startswith("every node's engine answers (")
    assert len(said) == 4  # the repeated polls said nothing new
    # A node that answered is not asked again.
    assert script.asked.count("registry") == 2 and script.asked.count("client") == 4


def test_a_failed_boot_is_one_line_with_the_boot_scripts_reason() -> None:
    with pytest.raises(LabgenError, match=r"^alice: compose up failed: no space left$"):
        wait(Script(boots=[1, 3], answers={"registry": [0], "client": [0]}))


def test_a_box_that_stops_while_waiting_says_so() -> None:
    script = Script(boots=[1], answers={"registry": [0], "client": [0]}, stopped_at=3)
    with pytest.raises(LabgenError, match=r"^alice: box lab-alice is exited \(last log: oops\)$"):
        wait(script)
    assert script.polls == 3


def test_the_time_limit_names_the_nodes_log() -> None:
    script = Script(boots=[0], answers={"registry": [0], "client": [1]})
    with pytest.raises(
        LabgenError, match=r"^alice: the lab was not ready after \d+ s; see compose.log$"
    ):
        wait(script, timeout=-1)
