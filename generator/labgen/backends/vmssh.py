"""Commands on a lab VM over OpenSSH, without starting Vagrant for each one.

`vagrant ssh HOST -c CMD` starts Ruby, Vagrant and its plugins for every command
(~2 s). This module reads `vagrant ssh-config` once, keeps it in the lab's
`.labgen/ssh-config` while the machines stay the same (their ids under
`.vagrant/machines/`), and runs each command with the system's `ssh` over one
multiplexed connection per host (ControlMaster/ControlPersist). Each host takes the
first route that works, in this order:

  mux      one background master per host, each command a new session on it;
  ssh      plain `ssh -F ssh-config` per command (no ControlMaster, e.g. Windows' OpenSSH);
  vagrant  `vagrant ssh HOST -c CMD`, as before (no usable ssh, or no ssh-config).

Every route runs the command as `vagrant ssh -c` would: as the box's ssh user, in a
login bash (Vagrant's default `config.ssh.shell`), without a tty, with exit code, stdout
and stderr kept apart; but the command goes on stdin (`bash -l -s`), never in an argv
that `ps` shows, wrapped so that ssh failing is told from the command failing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from labgen.backends.base import ExecResult, run_process, unwrap, wrap


class Runner(Protocol):
    """run_process's shape: argv, timeout, working folder, text for stdin."""

    def __call__(
        self, argv: Sequence[str], timeout: float, cwd: Path | None = None, stdin: str | None = None
    ) -> ExecResult: ...


Detach = Callable[[Sequence[str], Path, float], bool]
Note = Callable[[str], None]

ROUTES = ("mux", "ssh", "vagrant")
# Vagrant's default `config.ssh.shell`; `vagrant ssh -c CMD` runs `bash -l -c 'CMD'`.
LOGIN_SHELL = "bash -l"
# The same shell, reading the (wrapped) command on stdin.
STDIN_SHELL = f"{LOGIN_SHELL} -s"
# A master lives this long after its last session: long enough to span `labgen up`
# then `check`; `labgen down` ends it at once, and ServerAlive* ends it ~30 s after
# its VM disappears any other way.
CONTROL_PERSIST = "10m"
# sun_path holds 108 bytes on Linux, 104 on macOS; stay below both.
MAX_SOCKET_PATH = 100
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-T", "-q")


def remote_command(command: str) -> str:
    """The command line `vagrant ssh -c` sends: the command in a login bash."""
    return f"{LOGIN_SHELL} -c {shlex.quote(command)}"


def ssh_config_hosts(text: str) -> list[str]:
    """The `Host` names in `vagrant ssh-config` output."""
    hosts = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0].lower() == "host":
            hosts.append(words[1])
    return hosts


def machines_fingerprint(lab: Path) -> str:
    """Which machines Vagrant has created for the lab (their provider ids): the ssh
    config read for one set of machines is not reused for another."""
    ids = sorted(
        f"{path.parent.parent.name}/{path.parent.name}={path.read_text(errors='replace').strip()}"
        for path in (lab / ".vagrant" / "machines").glob("*/*/id")
    )
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def control_dir(lab: Path, base: Path | None = None) -> Path:
    """A short per-lab folder for the control sockets (a lab's own path may be too
    long for a unix socket)."""
    root = base or (Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir()))
    digest = hashlib.sha256(str(lab.resolve()).encode()).hexdigest()[:10]
    return root / f"labgen-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest}"


def private_dir(path: Path) -> str | None:
    """Make `path` a folder only this user can enter; why not, or None when it is one."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as error:
        return f"cannot make {path}: {error.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a folder"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"{path} belongs to another user"
    if info.st_mode & 0o077:
        return f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def multiplexing_unsupported(version: str) -> str | None:
    """Why this ssh client (its `ssh -V`) cannot multiplex, or None."""
    if os.name == "nt" or "for_windows" in version.lower():
        return "this OpenSSH (Windows) has no ControlMaster"
    if "openssh" not in version.lower():
        return f"not OpenSSH ({version.strip() or 'no version'})"
    return None


@dataclass
class Route:
    kind: str  # one of ROUTES
    reason: str


class VmShell:
    """Runs commands on the lab's VMs, choosing a route per host on first use."""

    def __init__(
        self,
        lab: Path,
        hosts: Sequence[str],
        *,
        run: Runner = run_process,
        detach: Detach | None = None,
        note: Note | None = None,
        force: str | None = None,
        socket_base: Path | None = None,
    ) -> None:
        # Absolute: ssh runs in the lab folder, and `-F` is read relative to it.
        self.lab = lab.resolve()
        self.hosts = list(hosts)
        self.run = run
        self.detach = detach or start_detached
        self.note = note or (lambda _: None)
        self.force = force
        self.config_file = self.lab / ".labgen" / "ssh-config"
        self.sockets = control_dir(lab, socket_base)
        self.routes: dict[str, Route] = {}
        self._config_hosts: list[str] | None = None
        self._config_fresh = False
        self._ssh_version: str | None = None
        self._choosing = threading.Lock()

    # ---------------------------------------------------------------- exec
    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        # The script goes on stdin, never in argv: `ps` here or on the VM shows no secret.
        route = self.route(host)
        if route.kind == "vagrant":
            return self.vagrant_exec(host, command, timeout)
        argv = [*self._ssh(host, route.kind), STDIN_SHELL]
        result = unwrap(self.run(argv, timeout, self.lab, wrap(command)), host, "ssh")
        # ssh's own failure (exit 255, the script never ended): with the master gone, the
        # next command chooses its route again instead of failing the same way.
        if route.kind == "mux" and result.error and not self._master_alive(host):
            self.routes.pop(host, None)
        return result

    def vagrant_exec(self, host: str, command: str, timeout: float) -> ExecResult:
        # Vagrant's ssh inherits labgen's stdin; `-- -q` keeps ssh's banner lines out of stderr.
        argv = ["vagrant", "ssh", host, "--no-tty", "-c", STDIN_SHELL, "--", "-q"]
        return unwrap(self.run(argv, timeout, self.lab, wrap(command)), host, "vagrant ssh")

    def socket(self, host: str) -> Path:
        return self.sockets / host

    def _ssh(self, host: str, kind: str) -> list[str]:
        argv = ["ssh", "-F", str(self.config_file), *SSH_OPTIONS]
        if kind == "mux":
            argv += ["-o", "ControlMaster=no", "-o", f"ControlPath={self.socket(host)}"]
        else:
            argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        return [*argv, host]

    # ---------------------------------------------------------------- routes
    def route(self, host: str) -> Route:
        # The checker runs hosts in threads; choosing a route writes the shared ssh-config.
        with self._choosing:
            if host not in self.routes:
                self.routes[host] = self._choose(host)
                chosen = self.routes[host]
                self.note(f"{host}: exec via {describe(chosen.kind)} ({chosen.reason})")
            return self.routes[host]

    def _choose(self, host: str) -> Route:
        if self.force == "vagrant":
            return Route("vagrant", "asked for")
        version = self.ssh_version()
        if version is None:
            return Route("vagrant", "no ssh client found")
        # A cached config may predate this machine's start: read it again once.
        if host not in self.config_hosts() and (
            self._config_fresh or not self._refresh_config(host)
        ):
            return Route("vagrant", "`vagrant ssh-config` gives no entry for it")
        if self.force == "ssh":
            why_not: str | None = "asked for"
        else:
            why_not = multiplexing_unsupported(version) or private_dir(self.sockets)
            if why_not is None and len(str(self.socket(host))) > MAX_SOCKET_PATH:
                why_not = f"control socket path {self.socket(host)} is too long"
            if why_not is None:
                if self._master(host):
                    return Route("mux", f"control socket {self.socket(host)}")
                why_not = "the master connection did not start"
        if self._probe(host):
            return Route("ssh", f"no multiplexing: {why_not}")
        return Route("vagrant", "ssh with `vagrant ssh-config` does not connect")

    def _master(self, host: str) -> bool:
        """An open master connection for `host`: the one a previous labgen command
        left, or a new one. A failure with a reused ssh-config re-reads it once
        (the VM may have a new address), then tries again."""
        if self._master_alive(host):
            return True
        for attempt in range(2):
            if attempt and (self._config_fresh or not self._refresh_config(host)):
                return False
            if self._start_master(host):
                return True
        return False

    def _master_alive(self, host: str) -> bool:
        if not self.socket(host).exists():
            return False
        check = ["ssh", "-F", str(self.config_file), "-o", f"ControlPath={self.socket(host)}"]
        return self.run([*check, "-O", "check", host], 15, self.lab).exit_code == 0

    def _start_master(self, host: str) -> bool:
        argv = [
            "ssh", "-F", str(self.config_file), *SSH_OPTIONS,
            "-o", "ControlMaster=yes",
            "-o", f"ControlPath={self.socket(host)}",
            "-o", f"ControlPersist={CONTROL_PERSIST}",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=6",
            "-N", "-f", host,
        ]  # fmt: skip
        # With -f the master goes to the background holding its stdout and stderr:
        # they must not be pipes this process waits on.
        self.socket(host).unlink(missing_ok=True)  # a dead master's: ssh would not replace it
        started = self.detach(argv, self.sockets / f"{host}.log", 60)
        return started and self._master_alive(host)

    def _probe(self, host: str) -> bool:
        return (
            self.run([*self._ssh(host, "ssh"), remote_command("true")], 60, self.lab).exit_code == 0
        )

    def ssh_version(self) -> str | None:
        if self._ssh_version is None:
            done = self.run(["ssh", "-V"], 15, None)
            self._ssh_version = (done.stderr + done.stdout).strip() if done.exit_code == 0 else ""
        return self._ssh_version or None

    # ---------------------------------------------------------------- ssh-config cache
    def config_hosts(self) -> list[str]:
        if self._config_hosts is None:
            cached = self._read_cache()
            if cached is None:
                self._refresh_config(None)
            else:
                self._config_hosts = cached
        return self._config_hosts or []

    def _read_cache(self) -> list[str] | None:
        try:
            text = self.config_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        first, _, rest = text.partition("\n")
        if first != f"# labgen machines {machines_fingerprint(self.lab)}":
            # Other machines now: masters to the old ones must go.
            self.stop_masters()
            return None
        return ssh_config_hosts(rest)

    def _refresh_config(self, host: str | None) -> bool:
        """Read `vagrant ssh-config` (for every host, or one) into the cache."""
        self._config_fresh = True
        done = self.run(["vagrant", "ssh-config", *([host] if host else [])], 120, self.lab)
        # A machine that is not running makes vagrant exit non-zero, after printing the others.
        hosts = ssh_config_hosts(done.stdout)
        if host is not None and host not in hosts:
            return False
        text = done.stdout
        if host is not None and self.config_file.exists():
            text = _replace_host(self.config_file.read_text(encoding="utf-8"), host, done.stdout)
        else:
            text = f"# labgen machines {machines_fingerprint(self.lab)}\n{text}"
        self._write_config(text)
        self._config_hosts = ssh_config_hosts(text)
        return True

    def _write_config(self, text: str) -> None:
        self.config_file.parent.mkdir(exist_ok=True)
        temp = self.config_file.with_name(self.config_file.name + ".tmp")
        # ssh refuses a config file other users can write.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, self.config_file)

    # ---------------------------------------------------------------- cleanup
    def stop_masters(self) -> None:
        """End every master connection of this lab (before its VMs go away)."""
        for host in self.hosts:
            if self.socket(host).exists():
                argv = ["ssh", "-F", os.devnull, "-o", f"ControlPath={self.socket(host)}"]
                self.run([*argv, "-O", "exit", host], 15, None)
        self.routes.clear()

    def forget(self) -> None:
        """Stop the masters and drop what this module keeps for the lab."""
        self.stop_masters()
        self.config_file.unlink(missing_ok=True)
        for host in self.hosts:
            (self.sockets / f"{host}.log").unlink(missing_ok=True)
        if self.sockets.is_dir() and not self.sockets.is_symlink():
            # A socket still in it keeps it: that master ends on its own (ControlPersist).
            with contextlib.suppress(OSError):
                self.sockets.rmdir()


def describe(kind: str) -> str:
    return {
        "mux": "multiplexed ssh",
        "ssh": "plain ssh",
        "vagrant": "vagrant ssh (slow)",
    }[kind]


def start_detached(argv: Sequence[str], log: Path, timeout: float) -> bool:
    """Run a command that forks into the background, with its output going to `log`."""
    try:
        with open(log, "w", encoding="utf-8") as out:
            done = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                timeout=timeout,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _replace_host(config: str, host: str, block: str) -> str:
    """`config` with its `Host <host>` block replaced by `block`."""
    out: list[str] = []
    skipping = False
    for line in config.splitlines(keepends=True):
        words = line.split()
        if len(words) == 2 and words[0].lower() == "host":
            skipping = words[1] == host
        if not skipping:
            out.append(line)
    text = "".join(out)
    return text + ("" if text.endswith("\n") else "\n") + block
