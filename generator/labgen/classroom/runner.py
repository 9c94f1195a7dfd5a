"""The per-student runner: one piece of work for each chosen student, `jobs` at a time.

Every class command that acts on students' labs (up, status, down, check, watch) goes
through `for_each_student`. Each event is a line of the progress board on stderr (time,
student, what happens); a summary table closes the run. One student's failure, even a
bug of labgen's, is reported in their row while the others go on. On Ctrl-C the work not
started is cancelled, the work in flight is told to stop (`stop` is set: it keeps
nothing, e.g. writes no result file), and KeyboardInterrupt goes on to the caller.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TextIO

from labgen.backends.base import Progress
from labgen.classroom.model import Seat
from labgen.errors import LabgenError, UsageError

# What is done for one student: (ok, one-line detail). `stop` is set on Ctrl-C.
Work = Callable[[Seat, Progress, threading.Event], tuple[bool, str]]


@dataclass(frozen=True)
class StudentOutcome:
    student: str
    ok: bool
    detail: str
    seconds: float


class Board:
    """The progress board: one line per event, safe to call from every worker thread."""

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

    def summary(self, outcomes: Sequence[StudentOutcome]) -> None:
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


def for_each_student(
    seats: Sequence[Seat], work: Work, jobs: int, out: TextIO | None = None
) -> list[StudentOutcome]:
    """Do `work` for every seat, `jobs` at a time; one outcome per seat, in their order."""
    if jobs < 1:
        raise UsageError("--jobs: must be at least 1")
    out = out or sys.stderr
    board = Board(out, max([len("student"), *(len(seat.student) for seat in seats)]))
    stop = threading.Event()
    # Work in flight, counted by the workers themselves: Ctrl-C may come while the pool is
    # still starting a thread it does not know yet, so its shutdown alone cannot wait for it.
    in_flight = [0]
    changed = threading.Condition()

    def one(seat: Seat) -> StudentOutcome:
        start = time.monotonic()
        with changed:
            in_flight[0] += 1
        try:
            if stop.is_set():
                return StudentOutcome(seat.student, False, "interrupted", 0.0)
            ok, detail = work(seat, lambda message: board.line(seat.student, message), stop)
        except LabgenError as error:
            ok, detail = False, _first_line(error)
        except Exception as error:  # a bug of labgen's, in one student's work: the rest go on
            ok, detail = False, f"labgen error: {type(error).__name__}: {_first_line(error)}"
        finally:
            with changed:
                in_flight[0] -= 1
                changed.notify_all()
        board.line(seat.student, ("done: " if ok else "FAILED: ") + detail)
        return StudentOutcome(seat.student, ok, detail, time.monotonic() - start)

    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = []
    try:
        futures += [pool.submit(one, seat) for seat in seats]
        # Waiting in short turns: the main thread must wake to take Ctrl-C (SIGINT may be
        # delivered to a worker thread; Python runs its handler in the main thread only).
        while wait(futures, timeout=0.1).not_done:
            pass
        outcomes = [future.result() for future in futures]
    except KeyboardInterrupt:
        stop.set()
        print("interrupted: stopping; nothing of this run is kept", file=out, flush=True)
        pool.shutdown(wait=True, cancel_futures=True)
        with changed:
            changed.wait_for(lambda: in_flight[0] == 0)
        raise
    pool.shutdown()
    board.summary(outcomes)
    return outcomes


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
