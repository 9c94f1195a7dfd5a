"""What a check found: plain data, kept apart from how it is printed (report.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# "unknown": the check could not be made (the host did not answer, the command timed out
# or was cut off); it says nothing about the lab, so it is neither good nor a failure.
Status = Literal["pass", "expected-failure", "deviation", "fail", "skipped", "unknown"]
# Statuses that mean "the lab behaves as labgen documents it".
GOOD: tuple[Status, ...] = ("pass", "expected-failure", "deviation")


@dataclass(frozen=True)
class CheckResult:
    """One step or goal, on one host."""

    id: str
    host: str
    title: str
    command: str
    status: Status
    duration: float
    expected: str  # what the post (or the goal) says should happen
    detail: str = ""  # why it failed, or the deviation's cause
    exit_code: int | None = None
    excerpt: str = ""  # the real output, shortened around what matters
    attempts: int = 1
    engine: str = ""  # the host's engine and version the verdict is for: "docker 26.1.5"


@dataclass
class CheckReport:
    lab: str
    mode: Literal["solve", "grade"]
    backend: str
    results: list[CheckResult] = field(default_factory=list)
    duration: float = 0.0
    engines: dict[str, str] = field(default_factory=dict)  # host -> engine and version

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status in GOOD for r in self.results)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)
