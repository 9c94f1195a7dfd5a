"""Who is logged in: password checks in constant time, login rate limits, and sessions.

Sessions live in the server's memory only: a restart logs everyone out, which is what a
classroom server that is restarted wants (nothing to steal from disk).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

TEACHER = "teacher"  # a session's role; a student's session names the student


def same_secret(given: str, expected: str) -> bool:
    """Compare in constant time (for equal lengths), so timing tells nothing of the secret."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class RateLimiter:
    """At most `limit` failures per key in the last `window` seconds."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        times = self.failures.setdefault(key, deque())
        while times and times[0] <= self.clock() - self.window:
            times.popleft()
        if not times:
            del self.failures[key]  # the table does not grow with every name ever tried
            return deque()
        return times

    def blocked(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may now)."""
        times = self._recent(key)
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - self.clock())

    def failed(self, key: str) -> None:
        self._recent(key)
        self.failures.setdefault(key, deque()).append(self.clock())


@dataclass
class Session:
    who: str  # TEACHER or a student id
    role: str  # "teacher" or "student"
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    expires: float = 0.0


class Sessions:
    """Random session tokens -> sessions, each valid for `lifetime` seconds."""

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.items: dict[str, Session] = {}

    def start(self, who: str, role: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(who, role, expires=self.clock() + self.lifetime)
        self.items[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self.items.get(token)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self.items[token]
            return None
        return session

    def end(self, token: str | None) -> None:
        if token:
            self.items.pop(token, None)
