"""The compose backend: each lab host is a Docker-in-Docker node of the lab's compose project."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

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
from labgen.errors import LabgenError
from labgen.lab import Lab


def runtime_override(lab: Lab, runtime: str) -> str:
    """A compose override that runs every node under another OCI runtime.

    Some machines cannot grant a privileged container every capability (e.g. no
    CAP_SYS_RESOURCE in the bounding set); a runtime wrapper that drops it is
    machine-specific, so it lives in this override, never in docker-compose.yml.
    """
    lines = [
        "# Written by `labgen up --runtime`: machine-specific, not part of the lab.",
        "services:",
    ]
    for host in lab.spec.hosts:
        lines += [f"  {json.dumps(host.name)}:", f"    runtime: {json.dumps(runtime)}"]
    return "\n".join(lines) + "\n"


class ComposeBackend:
    name = "compose"

    def __init__(self, lab: Lab, extra_files: list[str], ready_timeout: float = 300.0) -> None:
        self.lab = lab
        self.files = ["docker-compose.yml", *extra_files]
        self.ready_timeout = ready_timeout

    def _compose(self, *args: str) -> list[str]:
        argv = ["docker", "compose", "--project-directory", str(self.lab.path)]
        for file in self.files:
            argv += ["-f", str(self.lab.path / file)]
        return [*argv, *args]

    def preflight(self) -> None:
        """Fail early, in one line with the fix, when the engine or compose is missing."""
        if not (self.lab.path / "docker-compose.yml").exists():
            raise LabgenError(
                f"{self.lab.path}: no docker-compose.yml; re-create the lab with --backend compose or all"
            )
        docker = run_process(["docker", "version", "--format", "{{.Server.Version}}"], 20)
        if docker.exit_code == 127:
            raise LabgenError(
                "the docker command is missing; install Docker (e.g. apt-get install docker.io)"
            )
        if docker.exit_code != 0:
            host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            raise LabgenError(
                f"no Docker engine answers at {host}; start Docker, or run `sudo make demo` "
                "for labgen's sandboxed engine"
            )
        if run_process(["docker", "compose", "version"], 20).exit_code != 0:
            raise LabgenError(
                "Docker Compose v2 (`docker compose`) is missing; install the docker-compose-plugin "
                "package, or run `sudo sandbox/engine.sh deps`"
            )

    def up(self, progress: Progress) -> None:
        self.preflight()
        progress("starting the nodes (docker compose up; builds the node image if it is missing)")
        started = run_process(self._compose("up", "-d", "--quiet-pull"), 1800)
        if started.exit_code != 0:
            raise LabgenError(
                f"docker compose up failed: {last_line(started.output)}; the node image "
                f"{self.lab.spec.node_image} is built from node/ (Debian + apt: needs internet); "
                "offline, build it first with `sandbox/images.sh build`"
            )
        self._wait_ready(progress)

    def _wait_ready(self, progress: Progress) -> None:
        start = time.monotonic()
        ready = {host.name: ready_command(host) for host in self.lab.spec.hosts}
        waiting = list(ready)
        while waiting:
            waiting = [h for h in waiting if self.exec(h, ready[h], 20).exit_code != 0]
            elapsed = time.monotonic() - start
            states = _service_states(
                run_process(self._compose("ps", "--all", "--format", "json"), 30).stdout
            )
            for host in waiting:
                if states.get(host) in ("exited", "dead"):
                    logs = run_process(self._compose("logs", "--tail", "5", host), 30).output
                    raise LabgenError(
                        f"{host} stopped while provisioning (last log: {last_line(logs)}); "
                        f"see `docker compose logs {host}` in {self.lab.path}"
                    )
            if not waiting:
                progress(f"every node's engine answers ({elapsed:.0f} s)")
                return
            if elapsed > self.ready_timeout:
                host = waiting[0]
                logs = run_process(self._compose("logs", "--tail", "5", host), 30).output
                raise LabgenError(
                    f"{host} was not ready after {elapsed:.0f} s (last log: {last_line(logs)}); "
                    f"see `docker compose logs {host}` in {self.lab.path}"
                )
            progress(f"waiting for {', '.join(waiting)} to finish provisioning ({elapsed:.0f} s)")
            time.sleep(2)

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        # The script goes on stdin, never in argv: `ps` here or in the node shows no secret.
        ran = run_process(self._compose("exec", "-T", host, "sh"), timeout, stdin=wrap(command))
        return unwrap(ran, host, "docker compose exec")

    def status(self) -> list[HostStatus]:
        listed = run_process(self._compose("ps", "--all", "--format", "json"), 30)
        return host_statuses(self, self.lab.spec.hosts, _service_states(listed.stdout))

    def down(self, progress: Progress) -> None:
        progress("removing the nodes and their volumes (docker compose down)")
        done = run_process(
            self._compose("down", "--volumes", "--remove-orphans", "--timeout", "20"), 300
        )
        if done.exit_code != 0:
            raise LabgenError(f"docker compose down failed: {last_line(done.output)}")


def _service_states(text: str) -> dict[str, str]:
    """`docker compose ps --format json` prints one JSON object per line (or one list, before v2.21)."""
    text = text.strip()
    if not text:
        return {}
    try:
        items = (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(line) for line in text.splitlines()]
        )
        return {str(item["Service"]): str(item["State"]) for item in items}
    except (ValueError, KeyError, TypeError) as error:
        raise LabgenError(
            f"`docker compose ps --format json` printed output labgen cannot read "
            f"({type(error).__name__}: {error}); labgen needs Docker Compose v2: "
            "check `docker compose version`"
        ) from None


def write_override(lab: Lab, runtime: str) -> str:
    """Write the runtime override into the lab's state folder; returns its path relative to the lab."""
    relative = Path(".labgen") / "compose.runtime.yml"
    target = lab.path / relative
    target.parent.mkdir(exist_ok=True)
    target.write_text(runtime_override(lab, runtime), encoding="utf-8")
    return str(relative)
