"""The lab box: one student's whole lab in one container on this Docker engine.

A box runs the student's own Docker Engine and, inside it, the lab's nodes from the
lab's own docker-compose.yml. Every student therefore sees the tutorial's addresses
(the registry at 192.168.56.101) in the box's own network namespace, and no two labs
collide. The box publishes one SSH port; the student logs in and types `lab HOST` to
get a shell on a lab host. The checker reaches a host as `docker exec -i BOX docker exec
-i NODE sh`, the command on stdin, so `check.runner.grade` runs against a student's lab
unchanged and no secret in a command shows in `ps`.

The class layer renders the lab folder and gives its path in the `BoxSpec`; the box gets
a copy, so it needs nothing from the server once it is created.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from labgen.backends.base import (
    ExecResult,
    HostStatus,
    Progress,
    host_statuses,
    last_line,
    ready_command,
    run_process,
    unwrap,
    wrap,
)
from labgen.backends.box import CLASS_LABEL, STUDENT_LABEL, BoxSpec
from labgen.backends.compose import runtime_override
from labgen.errors import LabgenError
from labgen.lab import Lab, open_lab
from labgen.spec import rules
from labgen.spec.model import Host

# The box's boot script reports here how starting the lab went.
BOX_READY = (
    "test -f /run/labbox/ready && exit 0; "
    "test -f /run/labbox/failed && { cat /run/labbox/failed; exit 3; }; exit 1"
)
# An offline box image carries a hub for Docker Hub names, served on this port of the
# box (labbox-boot); the nodes reach it at the lab's gateway.
HUB_PORT = 5555
HUB_FOLDER = "/opt/labbox/hub/docker"
# The lab's compose project as the boot script starts it (with labgen's overrides).
COMPOSE_UP = (
    "set -- --project-directory /lab -f /lab/docker-compose.yml\n"
    'for extra in /lab/.labgen/compose.*.yml; do [ -f "$extra" ] && set -- "$@" -f "$extra"; done\n'
    'docker compose "$@" up -d --quiet-pull 2>&1\n'
)
# Docker's words for a container that exists but does not run.
STOPPED = ("exited", "dead", "paused", "restarting", "removing")


class DockerRun(Protocol):
    def __call__(
        self, argv: Sequence[str], timeout: float, *, stdin: str | None = None
    ) -> ExecResult: ...


def box_image(lab: Lab) -> str:
    """The box image whose engine holds the node image of the lab's `os`
    (`sandbox/images.sh labbox SUITE` builds it)."""
    return f"labgen/labbox:{rules.OS_SUITES[lab.spec.os]}"


def labelled_students(class_name: str, run: DockerRun = run_process) -> set[str]:
    """Every student of `class_name` that owns a box, volume or network on this engine,
    on the roster or not (a student removed from the class keeps nothing running)."""
    found: set[str] = set()
    for listing in (["ps", "--all"], ["volume", "ls"], ["network", "ls"]):
        done = run(
            [
                "docker",
                *listing,
                "--filter",
                f"label={CLASS_LABEL}={class_name}",
                "--format",
                f'{{{{.Label "{STUDENT_LABEL}"}}}}',
            ],
            60,
        )
        if done.exit_code != 0:
            raise LabgenError(
                f"docker {' '.join(listing)}: {last_line(done.output)}; is the engine running?"
            )
        found.update(line.strip() for line in done.stdout.splitlines() if line.strip())
    return found


class LabBox:
    name = "labbox"

    def __init__(
        self,
        spec: BoxSpec,
        *,
        image: str | None = None,
        ready_timeout: float = 300.0,
        run: DockerRun = run_process,
    ) -> None:
        self.spec = spec
        self.lab = open_lab(spec.lab)
        self.image = image or box_image(self.lab)
        self.ready_timeout = ready_timeout
        self.run = run
        self.container = spec.prefix
        self.network = spec.prefix
        self.volume = f"{spec.prefix}-docker"

    def _label_args(self) -> list[str]:
        return [
            arg for key, value in self.spec.labels.items() for arg in ("--label", f"{key}={value}")
        ]

    def _docker(self, *args: str, timeout: float = 120, stdin: str | None = None) -> ExecResult:
        return self.run(["docker", *args], timeout, stdin=stdin)

    def _must(self, *args: str, timeout: float = 120) -> ExecResult:
        done = self._docker(*args, timeout=timeout)
        if done.exit_code != 0:
            raise LabgenError(
                f"{self.spec.student}: docker {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                f"{last_line(done.output)}"
            )
        return done

    def _docker_state(self) -> str:
        done = self._docker("container", "inspect", "-f", "{{.State.Status}}", self.container)
        return done.stdout.strip() if done.exit_code == 0 else "not created"

    def state(self) -> str:
        """running, stopped, not created, or "half made" (created, never started: its copy-in
        may have failed, so the next `up` makes it again)."""
        state = self._docker_state()
        if state == "created":
            return "half made"
        return "stopped" if state in STOPPED else state

    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.spec.ssh_port

    # ------------------------------------------------------------------ up
    def up(self, progress: Progress) -> None:
        """Create what is missing (network, volume, box), start the box, wait for the lab."""
        if self._docker("network", "inspect", self.network).exit_code != 0:
            progress(f"network {self.network}")
            self._must("network", "create", *self._label_args(), self.network)
        if self._docker("volume", "inspect", self.volume).exit_code != 0:
            self._must("volume", "create", *self._label_args(), self.volume)
        state = self.state()
        if state == "half made":
            progress(f"box {self.container} was never started (half made): making it again")
            self._must("rm", "--force", self.container)
            state = "not created"
        if state == "not created":
            progress(f"creating box {self.container} (ssh port {self.spec.ssh_port})")
            self._create()
        if state != "running":
            progress("starting the box")
            self._must("start", self.container)
        self._wait_ready(progress)

    def _create(self) -> None:
        # Refused rather than pointed at the box's hub behind the teacher's back: the nodes'
        # daemon.json and the handout are made from the class spec at `class create`, and
        # must both say where the nodes pull from.
        if not self.lab.spec.mirror and self._carries_hub():
            raise LabgenError(
                f"{self.spec.student}: the box image {self.image} carries a hub for an offline "
                "server, and the lab names no mirror, so no node could pull from Docker Hub; "
                f"write `mirror: http://{self.lab.spec.gateway}:{HUB_PORT}` under `lab:` in the "
                "class spec, then run `labgen class create --force` and `labgen class up`"
            )
        limits = self.spec.limits
        argv = [
            "create",
            "--name",
            self.container,
            "--hostname",
            f"{self.spec.student}-lab",
            *self._label_args(),
            "--network",
            self.network,
            # The box runs a Docker Engine whose nodes run Docker Engines: a VM's root.
            "--privileged",
            "--cpus",
            f"{limits.cpus:g}",
            "--memory",
            limits.memory,
            "--memory-swap",
            limits.memory,
            "--pids-limit",
            str(limits.pids),
            "--publish",
            f"{self.spec.ssh_port}:22",
            "--volume",
            f"{self.volume}:/var/lib/docker",
            "--env",
            f"LABBOX_USER={self.spec.student}",
            "--env",
            f"LABBOX_LAB_GATEWAY={self.lab.spec.gateway}",
        ]
        if self.spec.runtime:
            argv += ["--runtime", self.spec.runtime.name]
        self._must(*argv, self.image)
        try:
            with tempfile.TemporaryDirectory(prefix="labgen-box-") as staging:
                self._copy_in(Path(staging))
        except LabgenError:
            # A box without its lab or account must never start: remove it (if that fails
            # too, it stays "half made" and the next `up` makes it again).
            self._docker("rm", "--force", self.container)
            raise

    def _carries_hub(self) -> bool:
        probe = self._docker("run", "--rm", "--entrypoint", "test", self.image, "-d", HUB_FOLDER)
        return probe.exit_code == 0

    def _copy_in(self, staging: Path) -> None:
        """The lab folder, the student's account and the runtime wrapper, into the created box."""
        self._must("cp", f"{self.lab.path}/.", f"{self.container}:/lab")
        account = staging / "student"
        account.touch(mode=0o600)
        account.write_text(self.spec.account, encoding="utf-8")
        self._must("cp", str(account), f"{self.container}:/etc/labbox/student")
        state = staging / ".labgen"
        state.mkdir()
        (state / "compose.labbox.yml").write_text(box_override(self.lab), encoding="utf-8")
        runtime = self.spec.runtime
        if runtime:
            override = runtime_override(self.lab, runtime.name)
            (state / "compose.runtime.yml").write_text(override, encoding="utf-8")
        self._must("cp", str(state), f"{self.container}:/lab/.labgen")
        if runtime:
            self._must(
                "cp", str(runtime.script), f"{self.container}:/etc/labbox/runtimes/{runtime.name}"
            )

    def _wait_ready(self, progress: Progress) -> None:
        container = self.container

        def gone() -> str | None:
            state = self.state()
            if state == "running":
                return None
            logs = self._docker("logs", "--tail", "5", container).output
            return (
                f"box {container} is {state} (last log: {last_line(logs)}); "
                f"see `docker logs {container}`"
            )

        wait_for_lab(
            LabWait(
                student=self.spec.student,
                engine="the box's engine",
                log_hint=f"see `docker exec {container} cat /run/labbox/compose.log`",
                gone=gone,
                shell=lambda command, timeout: self._docker(
                    "exec", container, "sh", "-c", command, timeout=timeout
                ),
                node=self.exec,
            ),
            self.lab.spec.hosts,
            time.monotonic(),
            self.ready_timeout,
            progress,
        )

    def repair(self, progress: Progress) -> list[str]:
        """Start again, with `docker compose up -d` in the box, every node that stopped or
        went missing since the box started its lab. Returns what was repaired."""
        booted = self._docker("exec", self.container, "sh", "-c", BOX_READY, timeout=30)
        if booted.exit_code != 0:
            return []  # still starting (or failed): the wait in `up` says which
        listed = self._docker(*self._listing())
        if listed.exit_code != 0:
            # The box's own engine is gone (killed, crashed): starting the box again runs
            # its boot (engine, then the lab) anew; its data is on the box's volume.
            progress("the box's engine does not answer: restarting the box")
            self._must("restart", self.container, timeout=180)
            return ["the box's engine (box restarted)"]
        return repair_nodes(
            self.spec.student,
            self.lab.spec.hosts,
            node_states(listed.stdout, self.lab.spec.name),
            "the box",
            progress,
            lambda: self._docker(
                "exec", "-i", self.container, "sh", "-s", timeout=300, stdin=COMPOSE_UP
            ),
        )

    # ------------------------------------------------------------------ use
    def node(self, host: str) -> str:
        """The container of `host` inside the box (compose's name: PROJECT-SERVICE-1)."""
        return f"{self.lab.spec.name}-{host}-1"

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        argv = ["docker", "exec", "-i", self.container, "docker", "exec", "-i", self.node(host)]
        ran = self.run([*argv, "sh"], timeout, stdin=wrap(command))
        return unwrap(ran, host, f"docker exec (box {self.container})")

    def _listing(self) -> list[str]:
        return ["exec", self.container, "docker", "ps", "--all", "--format", "{{json .}}"]

    def _node_states(self) -> dict[str, str]:
        listed = self._docker(*self._listing())
        return node_states(listed.stdout, self.lab.spec.name) if listed.exit_code == 0 else {}

    def status(self) -> list[HostStatus]:
        states = self._node_states() if self.state() == "running" else {}
        return host_statuses(self, self.lab.spec.hosts, states)

    # ------------------------------------------------------------------ down
    def down(self, progress: Progress) -> None:
        """Remove every container, volume and network labelled as this student's of this class."""
        progress(f"removing box {self.container} and what it owns")
        filters = [
            arg
            for key, value in self.spec.labels.items()
            for arg in ("--filter", f"label={key}={value}")
        ]
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
                        f"{self.spec.student}: could not remove {kind} {' '.join(found)}: "
                        f"{last_line(done.output)}"
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


@dataclass(frozen=True)
class LabWait:
    """What `wait_for_lab` needs of a box (a lab box's container or a student's VM)."""

    student: str
    engine: str  # "the box's engine", for the progress line
    log_hint: str  # where compose's log is, for the timeout error
    gone: Callable[[], str | None]  # why the box stopped, or None while it runs
    shell: Callable[[str, float], ExecResult]  # a command in the box itself
    node: Callable[[str, str, float], ExecResult]  # a command on one of the lab's hosts


def wait_for_lab(
    box: LabWait,
    hosts: Sequence[Host],
    start: float,
    timeout: float,
    progress: Progress,
    pause: float = 1.0,
) -> None:
    """Wait, from `start` (time.monotonic()) for at most `timeout` seconds, until the box's
    boot script has started the lab (BOX_READY), then until every node's engine answers.
    Raises, in one line, when the box stops, its boot fails or the time is up."""
    ready = {host.name: ready_command(host) for host in hosts}
    waiting = list(ready)
    said = ""
    while True:
        elapsed = time.monotonic() - start
        stopped = box.gone()
        if stopped:
            raise LabgenError(f"{box.student}: {stopped}")
        booted = box.shell(BOX_READY, 30)
        if booted.exit_code == 3:
            raise LabgenError(f"{box.student}: {last_line(booted.output)}")
        if booted.exit_code == 0:
            waiting = [h for h in waiting if box.node(h, ready[h], 30).exit_code != 0]
            if not waiting:
                progress(f"every node's engine answers ({elapsed:.0f} s)")
                return
        if elapsed > timeout:
            raise LabgenError(
                f"{box.student}: the lab was not ready after {elapsed:.0f} s; {box.log_hint}"
            )
        now = (
            f"waiting for {', '.join(waiting)}"
            if booted.exit_code == 0
            else f"waiting for {box.engine} and lab"
        )
        if now != said:  # one line per change, not one a second
            progress(now)
            said = now
        time.sleep(pause)


def repair_nodes(
    student: str,
    hosts: Sequence[Host],
    states: Mapping[str, str],
    where: str,
    progress: Progress,
    compose_up: Callable[[], ExecResult],
) -> list[str]:
    """Start again, with `compose_up` (`docker compose up -d` run in the box, VM or pod:
    `where`), every node of `hosts` not running in `states`. Returns what was repaired, and
    raises, in one line, when compose could not do it. Every kind of box repairs this way."""
    broken = [
        f"{host.name} ({states.get(host.name, 'missing')})"
        for host in hosts
        if states.get(host.name) != "running"
    ]
    if not broken:
        return []
    progress(f"repairing {', '.join(broken)}: docker compose up -d in {where}")
    done = compose_up()
    if done.exit_code != 0:
        raise LabgenError(
            f"{student}: repairing {', '.join(broken)} failed: {last_line(done.output)}"
        )
    return [f"{item} started again" for item in broken]


def node_states(text: str, project: str) -> dict[str, str]:
    """`docker ps --format '{{json .}}'` lines → {service: state} for the lab's project."""
    states: dict[str, str] = {}
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # not a listing line (a warning of the box's engine)
        if not isinstance(item, dict):
            continue
        labels = dict(
            part.split("=", 1) for part in str(item.get("Labels", "")).split(",") if "=" in part
        )
        if labels.get("com.docker.compose.project") == project:
            service = labels.get("com.docker.compose.service", "")
            states[service] = str(item.get("State", ""))
    return states
