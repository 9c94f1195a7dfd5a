"""What a backend asks a host to learn whether its engine answers: podman hosts have no
Docker, so asking `docker info` there reported a working podman host as broken."""

from __future__ import annotations

from labgen.backends.base import ExecResult, host_statuses, ready_command
from labgen.spec.parse import parse_spec

SPEC = {
    "os": "debian-13",
    "hosts": [
        {"name": "registry", "ip": "192.168.56.101", "role": "registry"},
        {"name": "client", "ip": "192.168.56.102", "role": "client", "engine": "podman"},
    ],
}


class Asked:
    """A backend whose hosts answer only the engine each really runs."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        self.calls.append((host, command))
        engine = "podman" if host == "client" else "docker"
        answers = command == f"{engine} info >/dev/null 2>&1"
        return ExecResult(0 if answers else 1, "", "", 0.0)


def test_each_host_is_asked_about_its_own_engine() -> None:
    spec, _ = parse_spec(SPEC)
    backend = Asked()
    statuses = host_statuses(backend, spec.hosts, {"registry": "running", "client": "running"})
    assert [(s.host, s.state, s.engine) for s in statuses] == [
        ("registry", "running", True),
        ("client", "running", True),
    ]
    assert backend.calls == [
        ("registry", "docker info >/dev/null 2>&1"),
        ("client", "podman info >/dev/null 2>&1"),
    ]


def test_a_host_not_running_is_not_asked() -> None:
    spec, _ = parse_spec(SPEC)
    backend = Asked()
    statuses = host_statuses(backend, spec.hosts, {"registry": "exited"})
    assert [(s.state, s.engine) for s in statuses] == [("exited", False), ("not created", False)]
    assert backend.calls == []


def test_ready_means_provisioned_and_the_hosts_engine_answers() -> None:
    spec, _ = parse_spec(SPEC)
    registry, client = spec.hosts
    assert ready_command(registry) == (
        "test -f /run/labgen/provisioned && docker info >/dev/null 2>&1"
    )
    assert ready_command(client) == (
        "test -f /run/labgen/provisioned && podman info >/dev/null 2>&1"
    )
