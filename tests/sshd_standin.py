"""A stand-in for a lab box's sshd (an asyncssh server on 127.0.0.1): password logins per
user, a PTY "shell" that echoes what is typed, shows its own id in the prompt, reports
window size changes and Ctrl-C, and prints whatever UTF-8 it gets. Used where the real
lab box is not needed: the workspace's unit tests and the terminal benchmark."""

from __future__ import annotations

import asyncio
import itertools

import asyncssh

HOST_KEY = asyncssh.generate_private_key("ssh-ed25519")


class _Server(asyncssh.SSHServer):
    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return self.passwords.get(username) == password


class StandInSshd:
    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords
        self.server: asyncssh.SSHAcceptor | None = None
        self.shells = itertools.count(1)
        self.open = 0

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.get_port())

    async def start(self, port: int = 0) -> StandInSshd:
        self.server = await asyncssh.create_server(
            lambda: _Server(self.passwords),
            "127.0.0.1",
            port,
            server_host_keys=[HOST_KEY],
            process_factory=self._shell,
            line_editor=False,
        )
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _shell(self, process: asyncssh.SSHServerProcess[str]) -> None:
        number = next(self.shells)
        self.open += 1
        user = process.get_extra_info("username")
        process.stdout.write(f"{user} shell-{number}$ ")
        try:
            while True:
                try:
                    data = await process.stdin.read(4096)
                except asyncssh.TerminalSizeChanged as change:
                    process.stdout.write(f"[size {change.width}x{change.height}]")
                    continue
                if not data:
                    break
                if "\x03" in data:
                    process.stdout.write("^C\r\n")
                if "\x04" in data:
                    break
                process.stdout.write(data.replace("\r", "\r\n").replace("\x03", ""))
        except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncio.CancelledError):
            pass
        finally:
            self.open -= 1
            process.exit(0)
