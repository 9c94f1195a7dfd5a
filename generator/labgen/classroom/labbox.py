"""The lab box: one student's whole lab in one container, behind the Backend interface.

A box runs the student's own Docker Engine and, inside it, the lab's nodes from the
lab's own docker-compose.yml. Every student therefore sees the tutorial's addresses
(the registry at 192.168.56.101) in the box's own network namespace, and no two labs
collide. The box publishes one SSH port; the student logs in and types `lab HOST` to
get a shell on a lab host. The checker reaches a host as `docker exec BOX docker exec
NODE sh -c CMD`, so `check.runner.grade` runs against a student's lab unchanged.

The caller renders the lab folder (backends never import the renderer) and gives its
path; the box gets a copy, so it needs nothing from the server once it is created.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labgen.backends.base import (
    ExecResult,
    HostStatus,
    Progress,
    host_statuses,
    ready_command,
    run_process,
)
from labgen.backends.compose import runtime_override
from labgen.errors import LabgenError
from labgen.lab import Lab
from labgen.spec import rules

CLASS_LABEL = "labgen.class"
STUDENT_LABEL = "labgen.student"
# The box's boot script reports here how starting the lab went.
BOX_READY = (
    "test -f /run/labbox/ready && exit 0; "
    "test -f /run/labbox/failed && { cat /run/labbox/failed; exit 3; }; exit 1"
)


def box_image(lab: Lab) -> str:
    """The box image whose engine holds the node image of the lab's `os`
    (`sandbox/images.sh labbox SUITE` builds it)."""
    return f"labgen/labbox:{rules.OS_SUITES[lab.spec.os]}"


Runner = Callable[[Sequence[str], float], ExecResult]


def _run(argv: Sequence[str], timeout: float) -> ExecResult:
    return run_process(argv, timeout)


@dataclass(frozen=True)
class Limits:
    """What one box may use on the server (docker run --cpus/--memory/--pids-limit)."""

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
class Seat:
    """One student's place in a class: who logs in, where, and with which password."""

    class_name: str
    student: str
    ssh_port: int
    password: str

    @property
    def prefix(self) -> str:
        return f"labgen-{self.class_name}-{self.student}"


class LabBox:
    name = "labbox"

    def __init__(
        self,
        lab: Lab,
        seat: Seat,
        limits: Limits,
        *,
        image: str | None = None,
        runtime: Runtime | None = None,
        ready_timeout: float = 300.0,
        run: Runner = _run,
    ) -> None:
        self.lab = lab
        self.seat = seat
        self.limits = limits
        self.image = image or box_image(lab)
        self.runtime = runtime
        self.ready_timeout = ready_timeout
        self.run = run
        self.container = seat.prefix
        self.network = seat.prefix
        self.volume = f"{seat.prefix}-docker"

    @property
    def labels(self) -> list[str]:
        return [f"{CLASS_LABEL}={self.seat.class_name}", f"{STUDENT_LABEL}={self.seat.student}"]

    def _label_args(self) -> list[str]:
        return [arg for label in self.labels for arg in ("--label", label)]

    def _docker(self, *args: str, timeout: float = 120) -> ExecResult:
        return self.run(["docker", *args], timeout)

    def _must(self, *args: str, timeout: float = 120) -> ExecResult:
        done = self._docker(*args, timeout=timeout)
        if done.exit_code != 0:
            raise LabgenError(
                f"{self.seat.student}: docker {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                f"{_last_line(done.output)}"
            )
        return done

    def box_state(self) -> str:
        """The box container's state (running, exited, ...), or "not created"."""
        done = self._docker("container", "inspect", "-f", "{{.State.Status}}", self.container)
        return done.stdout.strip() if done.exit_code == 0 else "not created"

    # ------------------------------------------------------------------ up
    def up(self, progress: Progress) -> None:
        """Create what is missing (network, volume, box), start the box, wait for the lab."""
        if self._docker("network", "inspect", self.network).exit_code != 0:
            progress(f"network {self.network}")
            self._must("network", "create", *self._label_args(), self.network)
        if self._docker("volume", "inspect", self.volume).exit_code != 0:
            self._must("volume", "create", *self._label_args(), self.volume)
        state = self.box_state()
        if state == "not created":
            progress(f"creating box {self.container} (ssh port {self.seat.ssh_port})")
            self._create()
        if state != "running":
            progress("starting the box")
            self._must("start", self.container)
        self._wait_ready(progress)

    def _create(self) -> None:
        argv = [
            "create",
            "--name",
            self.container,
            "--hostname",
            f"{self.seat.student}-lab",
            *self._label_args(),
            "--network",
            self.network,
            # The box runs a Docker Engine whose nodes run Docker Engines: a VM's root.
            "--privileged",
            "--cpus",
            f"{self.limits.cpus:g}",
            "--memory",
            self.limits.memory,
            "--memory-swap",
            self.limits.memory,
            "--pids-limit",
            str(self.limits.pids),
            "--publish",
            f"{self.seat.ssh_port}:22",
            "--volume",
            f"{self.volume}:/var/lib/docker",
            "--env",
            f"LABBOX_USER={self.seat.student}",
            "--env",
            f"LABBOX_LAB_GATEWAY={self.lab.spec.gateway}",
        ]
        if self.runtime:
            argv += ["--runtime", self.runtime.name]
        self._must(*argv, self.image)
        with tempfile.TemporaryDirectory(prefix="labgen-box-") as staging:
            self._copy_in(Path(staging))

    def _copy_in(self, staging: Path) -> None:
        """The lab folder, the student's account and the runtime wrapper, into the created box."""
        self._must("cp", f"{self.lab.path}/.", f"{self.container}:/lab")
        account = staging / "student"
        account.touch(mode=0o600)
        account.write_text(f"{self.seat.student}:{self.seat.password}\n", encoding="utf-8")
        self._must("cp", str(account), f"{self.container}:/etc/labbox/student")
        state = staging / ".labgen"
        state.mkdir()
        (state / "compose.labbox.yml").write_text(box_override(self.lab), encoding="utf-8")
        if self.runtime:
            override = runtime_override(self.lab, self.runtime.name)
            (state / "compose.runtime.yml").write_text(override, encoding="utf-8")
        self._must("cp", str(state), f"{self.container}:/lab/.labgen")
        if self.runtime:
            self._must(
                "cp",
                str(self.runtime.script),
                f"{self.container}:/etc/labbox/runtimes/{self.runtime.name}",
            )

    def _wait_ready(self, progress: Progress) -> None:
        start = time.monotonic()
        ready = {host.name: ready_command(host) for host in self.lab.spec.hosts}
        waiting = list(ready)
        while True:
            elapsed = time.monotonic() - start
            state = self.box_state()
            if state != "running":
                logs = self._docker("logs", "--tail", "5", self.container).output
                raise LabgenError(
                    f"{self.seat.student}: box {self.container} is {state} "
                    f"(last log: {_last_line(logs)}); see `docker logs {self.container}`"
                )
            box = self._docker("exec", self.container, "sh", "-c", BOX_READY, timeout=30)
            if box.exit_code == 3:
                raise LabgenError(f"{self.seat.student}: {_last_line(box.output)}")
            if box.exit_code == 0:
                waiting = [h for h in waiting if self.exec(h, ready[h], 20).exit_code != 0]
                if not waiting:
                    progress(f"every node's engine answers ({elapsed:.0f} s)")
                    return
            if elapsed > self.ready_timeout:
                raise LabgenError(
                    f"{self.seat.student}: the lab was not ready after {elapsed:.0f} s; "
                    f"see `docker exec {self.container} cat /run/labbox/compose.log`"
                )
            progress(
                f"waiting for {', '.join(waiting)}"
                if box.exit_code == 0
                else "waiting for the box's engine and lab"
            )
            time.sleep(1)

    # ------------------------------------------------------------------ use
    def node(self, host: str) -> str:
        """The container of `host` inside the box (compose's name: PROJECT-SERVICE-1)."""
        return f"{self.lab.spec.name}-{host}-1"

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        node = self.node(host)
        return self.run(
            ["docker", "exec", self.container, "docker", "exec", node, "sh", "-c", command], timeout
        )

    def status(self) -> list[HostStatus]:
        states: dict[str, str] = {}
        if self.box_state() == "running":
            listed = self._docker(
                "exec", self.container, "docker", "ps", "--all", "--format", "{{json .}}"
            )
            states = _node_states(listed.stdout, self.lab.spec.name)
        return host_statuses(self, self.lab.spec.hosts, states)

    # ------------------------------------------------------------------ down
    def down(self, progress: Progress) -> None:
        """Remove every container, volume and network labelled as this student's of this class."""
        progress(f"removing box {self.container} and what it owns")
        filters = [arg for label in self.labels for arg in ("--filter", f"label={label}")]
        for kind, listing, removal in (
            ("container", ["ps", "--all", "--quiet"], ["rm", "--force", "--volumes"]),
            ("volume", ["volume", "ls", "--quiet"], ["volume", "rm", "--force"]),
            ("network", ["network", "ls", "--quiet"], ["network", "rm"]),
        ):
            found = self._must(*listing, *filters).stdout.split()
            if found:
                done = self._docker(*removal, *found, timeout=300)
                if done.exit_code != 0:
                    raise LabgenError(
                        f"{self.seat.student}: could not remove {kind} {' '.join(found)}: "
                        f"{_last_line(done.output)}"
                    )


def box_override(lab: Lab) -> str:
    """A compose override for the nodes in a box: /run on tmpfs.

    A box that is stopped or removed (its data kept) kills its nodes' engines; when the
    nodes start again, a stale /run/docker.pid whose number a new process holds makes
    dockerd refuse to start. A fresh /run each start also re-runs the (idempotent)
    provisioning, as a rebooted VM would.
    """
    lines = ["# Written by labgen's lab box: each node starts with a clean /run.", "services:"]
    for host in lab.spec.hosts:
        lines += [f"  {json.dumps(host.name)}:", '    tmpfs: ["/run"]']
    return "\n".join(lines) + "\n"


def _node_states(text: str, project: str) -> dict[str, str]:
    """`docker ps --format '{{json .}}'` lines → {service: state} for the lab's project."""
    states: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        labels = dict(
            part.split("=", 1) for part in item.get("Labels", "").split(",") if "=" in part
        )
        if labels.get("com.docker.compose.project") == project:
            service = labels.get("com.docker.compose.service", "")
            states[service] = item.get("State", "")
    return states


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
