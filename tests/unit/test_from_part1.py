"""Part 2 continuing from part 1 (spec `from_part1`): the option, the steps it adds, the
part-1 state provisioning sets up once, and auto mode's idea of a fresh lab."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import run_with_stub_docker
from labgen.backends.base import ExecResult
from labgen.check import runner
from labgen.errors import SpecError
from labgen.render.plan import plan_lab
from labgen.spec.parse import parse_spec, spec_to_data
from labgen.steps.scenario import load_scenario

PASSWORD = "Lab-pass.2026"
REGISTRY = "192.168.56.101:5000"
# The steps only a lab that continues from part 1 has.
PART1_ONLY = ["remove-part1-registry", "remove-insecure", "restart-docker", "http-refused"]


def spec_data(**extra: object) -> dict[str, object]:
    return {"scenario": "secure", "from_part1": True, "auth": {"password": PASSWORD}, **extra}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            {"from_part1": True},
            "from_part1: starting from part 1's end state applies to scenario secure (part 2) "
            "only; remove from_part1 or set scenario: secure",
        ),
        (spec_data(from_part1="yes"), "from_part1: 'yes' is not valid; use true or false"),
    ],
)
def test_from_part1_is_refused_where_it_means_nothing(data: dict[str, object], says: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(data)
    assert raised.value.problems == [says]


def test_lab_yaml_carries_from_part1_only_when_set() -> None:
    spec, _ = parse_spec(spec_data())
    assert spec.from_part1 and spec_to_data(spec)["from_part1"] is True
    assert parse_spec(spec_to_data(spec))[0] == spec
    plain, _ = parse_spec(spec_data(from_part1=False))
    assert "from_part1" not in spec_to_data(plain)


def test_the_steps_that_take_part_one_apart_come_first_and_tls_only_last() -> None:
    continued = load_scenario(parse_spec(spec_data())[0])
    plain = load_scenario(parse_spec(spec_data(from_part1=False))[0])
    ids = [step.id for step in continued.steps]
    assert ids[:3] == PART1_ONLY[:3] and ids[-1] == "http-refused"
    assert [i for i in ids if i not in PART1_ONLY] == [step.id for step in plain.steps]
    assert continued.goals == plain.goals
    removal = next(step for step in continued.steps if step.id == "remove-insecure")
    assert removal.run == f"sudo labgen-node daemon-json remove insecure-registries {REGISTRY}"
    assert removal.selector == "all" and removal.solution
    refused = continued.steps[-1]
    assert refused.post.error == "Client sent an HTTP request to an HTTPS server."
    assert not refused.solution
    assert plain.setup == () and plain.start is None
    assert continued.start and REGISTRY in continued.start.en


def test_setup_is_part_ones_solution_on_the_registry_and_its_config_on_clients() -> None:
    continued = load_scenario(parse_spec(spec_data())[0])
    part1 = load_scenario(parse_spec({})[0])
    assert [step.id for step in continued.setup] == [
        step.id for step in part1.steps if step.solution and step.selector != "clients"
    ]
    on_client = [s.id for s in continued.setup if any(h.name == "client" for h in s.hosts)]
    assert on_client == ["allow-insecure", "restart-docker"]
    assert "push-lan" in [step.id for step in continued.setup]  # pushed under the LAN address


def test_handouts_say_where_the_lab_starts_only_when_it_continues() -> None:
    files = {str(f.path): f.content for f in plan_lab(parse_spec(spec_data())[0])}
    plain = {str(f.path): f.content for f in plan_lab(parse_spec(spec_data(from_part1=False))[0])}
    assert "This lab starts where part 1 ended" in files["handout.en.md"]
    assert "本实验从第一部分结束时的状态开始" in files["handout.zh.md"]
    for handout in ("handout.en.md", "handout.zh.md"):
        assert "daemon-json remove insecure-registries" in files[handout]
        assert "daemon-json remove" not in plain[handout]
    assert "part 1 ended" not in plain["handout.en.md"]
    # The TLS-only text is labgen's measurement: the documentation does not claim it.
    refused = "this fails with `Client sent an HTTP request to an HTTPS server.`"
    assert f"labgen's measurement: {refused}" in files["handout.en.md"]
    assert f"The documentation: {refused}" not in files["handout.en.md"]
    assert "labgen 的实测：执行失败，报错 `Client sent" in files["handout.zh.md"]  # noqa: RUF001


def test_provisioning_sets_part_one_up_once_and_only_when_continuing() -> None:
    node = {str(f.path): f.content for f in plan_lab(parse_spec(spec_data())[0])}
    script = node["provision/node.sh"]
    assert "PART1_MARKER=/var/lib/labgen/part1-done" in script
    assert 'if [ -e "$PART1_MARKER" ]; then' in script
    assert "run_step allow-insecure" in script and "run_step remove-insecure" in script
    plain = {str(f.path): f.content for f in plan_lab(parse_spec(spec_data(from_part1=False))[0])}
    assert "PART1_MARKER" not in plain["provision/node.sh"]
    assert "allow-insecure" not in plain["provision/node.sh"]


@pytest.mark.parametrize(
    ("content", "done"),
    [
        (None, True),
        ("", True),
        ('{"registry-mirrors": ["http://192.168.56.1:5555"]}', True),
        ('{"insecure-registries": ["10.0.0.1:5000"]}', True),
        (f'{{"insecure-registries": ["{REGISTRY}"]}}', False),
        (f'{{"insecure-registries": ["http://{REGISTRY}"], "debug": true}}', False),
        ("{]", False),  # a file it cannot read is not taken for done: the step says why
    ],
)
def test_removal_is_done_exactly_where_no_entry_is_left(
    tmp_path: Path, require_tool: Callable[[str], str], content: str | None, done: bool
) -> None:
    """remove-insecure's done_if, and the goal's daemon.json half, with real jq on a file."""
    require_tool("jq")
    scenario = load_scenario(parse_spec(spec_data())[0])
    done_if = next(s.done_if for s in scenario.steps if s.id == "remove-insecure")
    assert done_if
    path = tmp_path / "daemon.json"
    if content is not None:
        path.write_text(content)
    local = done_if.replace("/etc/docker/daemon.json", str(path))
    ran = subprocess.run([require_tool("bash"), "-c", local], capture_output=True, check=False)
    assert (ran.returncode == 0) is done


class ProbeBackend:
    name = "probe"

    def __init__(self, code: int) -> None:
        self.code = code
        self.commands: list[str] = []

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        self.commands.append(command)
        return ExecResult(self.code, "", "", 0.01)


def test_auto_mode_asks_whether_the_registry_is_part_ones() -> None:
    backend = ProbeBackend(runner.FRESH)
    assert runner.choose_mode(backend, "registry", 5, from_part1=True) == "solve"
    assert backend.commands == [runner.PART1_REGISTRY_PROBE]
    assert runner.choose_mode(ProbeBackend(0), "registry", 5, from_part1=True) == "grade"


@pytest.mark.parametrize(
    ("inspect", "code"),
    [
        ("printf 'PATH=/usr/bin\\n\\n'", runner.FRESH),  # part 1's: run without TLS
        ("printf 'REGISTRY_HTTP_TLS_CERTIFICATE=/certs/domain.crt\\nPATH=/bin\\n'", 0),
        ("echo 'Cannot connect to the Docker daemon' >&2; exit 1", runner.ENGINE_DOWN),
    ],
)
def test_part_one_probe_in_a_real_shell(
    tmp_path: Path, require_tool: Callable[[str], str], inspect: str, code: int
) -> None:
    """The probe as the hosts' sh runs it; a stand-in docker lists a registry container
    and answers `container inspect` with its environment."""
    docker = f'case "$2" in ls) echo registry ;; inspect) {inspect} ;; esac'
    done = run_with_stub_docker(tmp_path, require_tool("sh"), docker, runner.PART1_REGISTRY_PROBE)
    assert done.returncode == code, done.stderr
