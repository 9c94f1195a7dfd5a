"""Each student's terminal: one SSH shell into their lab box, kept by the server.

The browser is only a window on it. A page reload or a dropped connection detaches that
window; the shell keeps running for `grace` seconds, and a window that attaches again in
that time gets the same shell with what it printed lately (the scrollback). Several
windows may watch one shell (the student's second tab, the teacher's read-only view);
only the student's windows type into it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import asyncssh

CONNECT_TIMEOUT = 10.0


class Window(Protocol):
    """Where a terminal's output goes (a WebSocket, in the server)."""

    async def output(self, data: bytes) -> None: ...

    async def notice(self, kind: str, text: str) -> None: ...


@dataclass(frozen=True)
class Login:
    """Where a student's shell is and how to log in to it."""

    host: str
    port: int
    user: str
    password: str


class Shell(Protocol):
    """A running interactive shell (an SSH session with a PTY)."""

    async def read(self) -> bytes:
        """The next output; b"" when the shell has ended."""

    def write(self, data: bytes) -> None: ...

    def resize(self, cols: int, rows: int) -> None: ...

    def close(self) -> None: ...


Opener = Callable[[Login, int, int], Awaitable[Shell]]


class SshShell:
    """A login shell over asyncssh: the same `lab` shell the student's own SSH gives."""

    def __init__(
        self, conn: asyncssh.SSHClientConnection, process: asyncssh.SSHClientProcess[bytes]
    ) -> None:
        self.conn = conn
        self.process = process

    async def read(self) -> bytes:
        try:
            return await self.process.stdout.read(65536)
        except (asyncssh.Error, OSError):
            return b""

    def write(self, data: bytes) -> None:
        with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
            self.process.stdin.write(data)

    def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            self.process.change_terminal_size(cols, rows)

    def close(self) -> None:
        self.process.close()
        self.conn.close()


async def open_ssh(login: Login, cols: int, rows: int) -> Shell:
    """Log in to the lab box's sshd with the student's password and open a PTY shell.

    The boxes are made on this server by `labgen class up`, each with a host key of its
    own made at its first start, and are reached on a local address; there is no key to
    pin in advance, so host keys are not checked (as the e2e test's ssh does)."""
    conn = await asyncio.wait_for(
        asyncssh.connect(
            login.host,
            login.port,
            username=login.user,
            password=login.password,
            known_hosts=None,
            client_keys=None,
            agent_path=None,
            preferred_auth=("password", "keyboard-interactive"),
        ),
        CONNECT_TIMEOUT,
    )
    try:
        process = await conn.create_process(
            term_type="xterm-256color", term_size=(cols, rows), encoding=None
        )
    except BaseException:
        conn.close()
        raise
    return SshShell(conn, process)


def why_not(error: BaseException, login: Login) -> str:
    """One line for the student's pane: what went wrong and what to do."""
    where = f"{login.host}:{login.port}"
    if isinstance(error, asyncssh.PermissionDenied):
        return f"your lab at {where} refused your password; tell your teacher"
    if isinstance(error, ConnectionRefusedError):
        return f"your lab at {where} does not answer (connection refused); tell your teacher, then reload"
    if isinstance(error, TimeoutError):
        return f"your lab at {where} does not answer (no reply in {CONNECT_TIMEOUT:g} s); tell your teacher"
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return f"your lab at {where} does not answer ({reason}); tell your teacher, then reload"


class Terminal:
    """One student's shell and the windows on it."""

    def __init__(self, shell: Shell, scrollback: int, on_end: Callable[[Terminal], None]) -> None:
        self.shell = shell
        self.scrollback = scrollback
        self.buffer = bytearray()
        self.windows: set[Window] = set()
        self.typists: set[Window] = set()
        self.on_end = on_end
        self.reaper: asyncio.TimerHandle | None = None
        self.pump = asyncio.get_running_loop().create_task(self._pump())
        self.ended = False
        self.closed = False

    async def _pump(self) -> None:
        while True:
            data = await self.shell.read()
            if not data:
                break
            self.buffer += data
            if len(self.buffer) > self.scrollback:
                # Cut at a line start so a replay does not begin inside an escape sequence.
                cut = self.buffer.find(b"\n", len(self.buffer) - self.scrollback)
                del self.buffer[: cut + 1 if cut >= 0 else len(self.buffer) - self.scrollback]
            for window in list(self.windows):
                await _send(window, data)
        self.ended = True
        for window in list(self.windows):
            with contextlib.suppress(Exception):
                await window.notice("ended", "the shell has ended; reload the page for a new one")
        self.close()

    async def attach(self, window: Window, typist: bool) -> None:
        if self.reaper is not None:
            self.reaper.cancel()
            self.reaper = None
        self.windows.add(window)
        if typist:
            self.typists.add(window)
        if self.buffer:
            await _send(window, bytes(self.buffer))

    def detach(self, window: Window, grace: float) -> None:
        """Forget a window; the last typist gone, the shell ends after `grace` seconds."""
        self.windows.discard(window)
        self.typists.discard(window)
        if not self.typists and not self.ended and self.reaper is None:
            self.reaper = asyncio.get_running_loop().call_later(grace, self.close)

    def type(self, window: Window, data: bytes) -> None:
        if window in self.typists:
            self.shell.write(data)

    def resize(self, window: Window, cols: int, rows: int) -> None:
        if window in self.typists:
            self.shell.resize(cols, rows)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = self.ended = True
        if self.reaper is not None:
            self.reaper.cancel()
            self.reaper = None
        self.shell.close()
        if not self.pump.done() and self.pump is not asyncio.current_task():
            self.pump.cancel()
        self.on_end(self)


async def _send(window: Window, data: bytes) -> None:
    # A window that went away is detached by its own handler; the others must not wait.
    with contextlib.suppress(Exception):
        await window.output(data)


class Terminals:
    """The open terminals, one per student; opening is serialised per student, so two tabs
    opened at once share one shell."""

    def __init__(self, opener: Opener, grace: float, scrollback: int) -> None:
        self.opener = opener
        self.grace = grace
        self.scrollback = scrollback
        self.open: dict[str, Terminal] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def get(self, student: str, login: Login, cols: int, rows: int) -> Terminal:
        """The student's terminal, opening a shell if there is none; raises what the
        connection raised (the caller turns it into a message with `why_not`)."""
        async with self.locks.setdefault(student, asyncio.Lock()):
            terminal = self.open.get(student)
            if terminal is not None and not terminal.ended:
                return terminal
            shell = await self.opener(login, cols, rows)
            terminal = Terminal(shell, self.scrollback, lambda ended: self._forget(student, ended))
            self.open[student] = terminal
            return terminal

    def watching(self, student: str) -> Terminal | None:
        terminal = self.open.get(student)
        return terminal if terminal is not None and not terminal.ended else None

    def _forget(self, student: str, terminal: Terminal) -> None:
        if self.open.get(student) is terminal:  # not a newer shell opened since
            del self.open[student]

    def close_all(self) -> None:
        for terminal in list(self.open.values()):
            terminal.close()
