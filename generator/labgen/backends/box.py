"""A box: one student's whole lab behind one door, as a hosted class runs it.

A box is a `Backend` (up, exec, status, down for the lab's hosts inside it) with a
lifecycle of its own: its state, a repair of what broke inside it while it runs, and the
address where the student's SSH answers. The class layer describes a box with a plain
`BoxSpec` (backends never import the class layer) and gets one from
`classroom.boxes.box_for`, the only place that knows the kinds: a container on this
Docker engine (`labbox.LabBox`), a VM, a Kubernetes pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from labgen.backends.base import Backend, Progress

CLASS_LABEL = "labgen.class"
STUDENT_LABEL = "labgen.student"


@dataclass(frozen=True)
class Limits:
    """What one box may use on the server (CPUs, memory with a unit, processes)."""

    cpus: float = 1.0
    memory: str = "768M"
    pids: int = 1024


@dataclass(frozen=True)
class Runtime:
    """An OCI runtime wrapper this machine needs for privileged containers (machine-specific).

    The box runs under it on the server's engine, and the box's own engine gets a copy
    of the script, under the same name, for the lab's nodes.
    """

    name: str
    script: Path


@dataclass(frozen=True)
class BoxSpec:
    """Everything a box needs to know about its student, in plain values."""

    class_name: str
    student: str
    ssh_port: int  # the server port the student's SSH answers on
    account: str  # "STUDENT:PASSWORD\n": goes into the box as a file, never on a command line
    lab: Path  # the rendered lab folder (lab.yaml, docker-compose.yml, provision/)
    limits: Limits = Limits()
    runtime: Runtime | None = None

    @property
    def prefix(self) -> str:
        """The name of the box and of what it owns: labgen-CLASS-STUDENT."""
        return f"labgen-{self.class_name}-{self.student}"

    @property
    def labels(self) -> dict[str, str]:
        """Labels on everything the box owns: how `down` finds it, even off the roster."""
        return {CLASS_LABEL: self.class_name, STUDENT_LABEL: self.student}


class Box(Backend, Protocol):
    spec: BoxSpec

    def state(self) -> str:
        """ "running", "stopped", "not created", or the platform's own word for it."""

    def repair(self, progress: Progress) -> list[str]:
        """In a running box, start again what stopped or went missing (a node); say what."""

    def address(self) -> tuple[str, int]:
        """Where the student's sshd answers, from this server (SSH and the web workspace)."""
