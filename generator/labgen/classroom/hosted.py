"""`class up|status|down` for a hosted class: every chosen student's box, through the
per-student runner. `up` and `down` also remove the boxes of students no longer on the
roster, so a removed student's password opens nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TextIO

from labgen.backends.base import Progress
from labgen.backends.box import Box, Runtime
from labgen.classroom.boxes import BoxFor, box_for, leftover_seats, require_hosted
from labgen.classroom.kubernetes import ClassOnCluster, on_kubernetes
from labgen.classroom.model import Class, Seat
from labgen.classroom.runner import StudentOutcome, for_each_student
from labgen.errors import UsageError

Action = Literal["up", "status", "down"]


def run_hosted(
    cls: Class,
    action: Action,
    jobs: int,
    students: str | None,
    runtime: Runtime | None = None,
    boxes: BoxFor | None = None,
    leftovers: Callable[[Class], list[Seat]] | None = None,
    out: TextIO | None = None,
) -> list[StudentOutcome]:
    """Do `action` for the chosen students' boxes; one outcome per box. For the whole
    class, the boxes of students off the roster come first: up and down remove them
    (their ports may now be a new student's), status names them as failed."""
    require_hosted(cls)
    if runtime and cls.hosted.isolation == "vm" and not on_kubernetes(cls):
        raise UsageError(
            "--runtime: for container boxes; with hosted.isolation: vm each student's "
            "engine runs inside their own VM, whose runtime is its own"
        )
    box_of: BoxFor = boxes or (lambda seat: box_for(cls, seat, runtime))
    seats = cls.select(students)
    # On Kubernetes the class has objects of its own: made before the pods, deleted after.
    cluster = ClassOnCluster(cls) if on_kubernetes(cls) and boxes is None else None
    if cluster and runtime:
        raise UsageError(
            "--runtime: for a Docker server; on Kubernetes, name a RuntimeClass in "
            "hosted.kubernetes.runtime_class"
        )
    if cluster and action == "up":
        cluster.prepare()
    removed: list[StudentOutcome] = []
    gone = (leftovers or leftover_seats)(cls) if students is None else []
    if gone:
        # status only shows them: a box off the roster still opens to its password
        off = _gone if action in ("up", "down") else _still_here
        removed = for_each_student(
            gone, lambda seat, progress, _: off(box_of(seat), progress), jobs, out
        )
    work = {"up": _up, "status": _status, "down": _down}[action]
    outcomes = removed + for_each_student(
        seats, lambda seat, progress, _: work(box_of(seat), progress), jobs, out
    )
    if cluster and action == "down" and students is None and all(o.ok for o in outcomes):
        cluster.finish()
    return outcomes


def _gone(box: Box, progress: Progress) -> tuple[bool, str]:
    box.down(progress)
    return True, "not on the roster any more: box removed"


def _still_here(box: Box, progress: Progress) -> tuple[bool, str]:
    return False, (
        f"not on the roster any more, but its box is {box.state()}; "
        "`labgen class up` or `labgen class down` removes it"
    )


def _up(box: Box, progress: Progress) -> tuple[bool, str]:
    repaired = box.repair(progress) if box.state() == "running" else []
    box.up(progress)
    detail = f"up, ssh port {box.address()[1]}"
    return True, detail + (f"; repaired: {', '.join(repaired)}" if repaired else "")


def _down(box: Box, progress: Progress) -> tuple[bool, str]:
    box.down(progress)
    return True, "removed"


def _status(box: Box, progress: Progress) -> tuple[bool, str]:
    state = box.state()
    if state != "running":
        return False, f"box {state}"
    hosts = box.status()
    shown = ", ".join(
        f"{h.host} {h.state}{'' if h.engine else ' (engine does not answer)'}" for h in hosts
    )
    return all(h.engine for h in hosts), f"ssh port {box.address()[1]}: {shown}"
