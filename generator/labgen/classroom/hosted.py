"""A hosted class: every student's lab box on one server, brought up, shown and removed together.

Work runs in up to `jobs` threads; each event is a line of the progress table on stderr
(time, student, what happens), and a summary table closes the run. One student's failure
is reported in their row while the others go on; the caller exits non-zero if any failed.
"""

from __future__ import annotations

import csv
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TextIO, TypeVar

from labgen.backends.base import HostStatus, Progress
from labgen.classroom.labbox import LabBox, Limits, Runtime, Seat
from labgen.errors import LabgenError, UsageError
from labgen.lab import Lab, open_lab
from labgen.render.plan import plan_lab
from labgen.render.write import write_lab
from labgen.spec.model import LabSpec

Action = Literal["up", "status", "down"]


class SeatLike(Protocol):
    @property
    def student(self) -> str: ...
    @property
    def ssh_port(self) -> int: ...


class HostedBox(Protocol):
    """A student's box, on the server's Docker Engine (LabBox) or as a pod (PodBox)."""

    @property
    def seat(self) -> SeatLike: ...
    def up(self, progress: Progress) -> None: ...
    def box_state(self) -> str: ...
    def status(self) -> list[HostStatus]: ...
    def down(self, progress: Progress) -> None: ...


B = TypeVar("B", bound=HostedBox)


@dataclass(frozen=True)
class Outcome:
    student: str
    ok: bool
    detail: str
    seconds: float


class Board:
    """The progress table: one line per event, safe to call from every worker thread."""

    def __init__(self, out: TextIO, width: int) -> None:
        self.out = out
        self.width = width
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def line(self, student: str, message: str) -> None:
        with self.lock:
            elapsed = time.monotonic() - self.start
            print(
                f"[{elapsed:6.1f}s] {student:<{self.width}}  {message}", file=self.out, flush=True
            )

    def summary(self, outcomes: Sequence[Outcome]) -> None:
        with self.lock:
            print(f"{'student':<{self.width}}  result  {'time':>6}  detail", file=self.out)
            for item in outcomes:
                result = "ok" if item.ok else "FAILED"
                print(
                    f"{item.student:<{self.width}}  {result:<6}  {item.seconds:5.1f}s  {item.detail}",
                    file=self.out,
                )
            failed = sum(1 for item in outcomes if not item.ok)
            print(f"{len(outcomes) - failed} ok, {failed} failed", file=self.out, flush=True)


def render_lab(spec: LabSpec, folder: Path) -> Lab:
    """The lab folder every box gets a copy of: the single lab's compose files, as `labgen create` writes them."""
    write_lab(plan_lab(spec, "compose"), folder, force=True)
    return Lab(path=folder, spec=spec)


def read_seats(credentials: Path, class_name: str) -> list[Seat]:
    """The seats of a class folder's secrets/credentials.csv (id,ssh_port,password)."""
    with credentials.open(encoding="utf-8", newline="") as handle:
        return [
            Seat(class_name, row["id"], int(row["ssh_port"]), row["password"])
            for row in csv.DictReader(handle)
        ]


def make_boxes(
    lab: Lab, seats: Sequence[Seat], limits: Limits, runtime: Runtime | None = None
) -> list[LabBox]:
    return [LabBox(lab, seat, limits, runtime=runtime) for seat in seats]


def class_boxes(
    folder: Path, class_name: str, limits: Limits, runtime: Runtime | None = None
) -> list[LabBox]:
    """The boxes of a class folder made by `labgen class create`: its lab/ and its seats."""
    seats = read_seats(folder / "secrets" / "credentials.csv", class_name)
    return make_boxes(open_lab(folder / "lab"), seats, limits, runtime)


def pick(boxes: Sequence[B], students: Sequence[str] | None) -> list[B]:
    """The boxes of the named students (all when none are named); an unknown name is an error."""
    if not students:
        return list(boxes)
    known = {box.seat.student for box in boxes}
    unknown = [name for name in students if name not in known]
    if unknown:
        raise UsageError(
            f"--students: {', '.join(unknown)} not in this class; use ids from its roster"
        )
    return [box for box in boxes if box.seat.student in students]


def run_class(
    boxes: Sequence[HostedBox], action: Action, jobs: int, out: TextIO = sys.stderr
) -> list[Outcome]:
    """Do `action` for every box, `jobs` at a time; returns one outcome per box, in order."""
    if jobs < 1:
        raise UsageError("--jobs: must be at least 1")
    width = max([len("student"), *(len(box.seat.student) for box in boxes)])
    board = Board(out, width)
    work: Callable[[HostedBox, Board], tuple[bool, str]] = {
        "up": _up,
        "status": _status,
        "down": _down,
    }[action]

    def one(box: HostedBox) -> Outcome:
        start = time.monotonic()
        try:
            ok, detail = work(box, board)
        except LabgenError as error:
            ok, detail = False, str(error).splitlines()[0]
        board.line(box.seat.student, ("done: " if ok else "FAILED: ") + detail)
        return Outcome(box.seat.student, ok, detail, time.monotonic() - start)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(one, boxes))
    board.summary(outcomes)
    return outcomes


def _up(box: HostedBox, board: Board) -> tuple[bool, str]:
    box.up(lambda message: board.line(box.seat.student, message))
    return True, f"up, ssh port {box.seat.ssh_port}"


def _down(box: HostedBox, board: Board) -> tuple[bool, str]:
    box.down(lambda message: board.line(box.seat.student, message))
    return True, "removed"


def _status(box: HostedBox, board: Board) -> tuple[bool, str]:
    state = box.box_state()
    if state != "running":
        return False, f"box {state}"
    hosts = box.status()
    shown = ", ".join(
        f"{h.host} {h.state}{'' if h.engine else ' (engine does not answer)'}" for h in hosts
    )
    return all(h.engine for h in hosts), f"ssh port {box.seat.ssh_port}: {shown}"
