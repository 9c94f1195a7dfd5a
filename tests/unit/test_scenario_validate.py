"""Scenario files are validated: every problem one line, naming the file and the step or goal."""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from labgen.errors import LabgenError, ScenarioError
from labgen.spec.parse import parse_spec
from labgen.steps import scenario
from labgen.steps.scenario import placeholders
from labgen.steps.validate import PLACEHOLDERS, validate_scenario

TEXT = {"en": "Pull {push_image}", "zh": "拉取 {push_image}"}


def text() -> dict[str, str]:
    """A fresh {en, zh} each time: a test edits one field, not every one sharing a dict."""
    return dict(TEXT)


VALID: dict[str, Any] = {
    "title": {"en": "A lab", "zh": "一个实验"},
    "intro": {"en": "You run a lab.", "zh": "你做一个实验。"},
    "claims": {"en": "The post", "zh": "原文"},
    "added": {"en": "labgen adds it", "zh": "labgen 增加"},
    "steps": [
        {"id": "pull", "hosts": "registry", "run": "docker pull {push_image}", "title": text(),
         "post": "ok"},
        {"id": "pull-lan", "hosts": "clients", "run": "docker pull {lan_ref}", "title": text(),
         "post": {"error": "http: server gave HTTP response to HTTPS client"},
         "real": {"docker-20": {"outcome": "ok", "why": text()}}, "retries": 3, "solution": True,
         "done_if": "docker image inspect {lan_ref}", "source": "post",
         "stdout_lacks": "{repository} ", "shows": text()},
        {"id": "info", "hosts": "all", "post": "ok", "title": text(),
         "run": "docker info --format '{{{{json .RegistryConfig}}}}'"},
    ],
    "goals": [
        {"id": "has-image", "hosts": "clients", "run": "docker image inspect {lan_ref}",
         "title": text(), "hint": text()},
    ],
}  # fmt: skip


def problems(change: Callable[[dict[str, Any]], object]) -> list[str]:
    """The problems validation finds in VALID after `change` edits (a copy of) it."""
    data = copy.deepcopy(VALID)
    change(data)
    with pytest.raises(ScenarioError) as raised:
        validate_scenario(yaml.safe_dump(data, allow_unicode=True), "test.yaml")
    assert isinstance(raised.value, LabgenError)
    assert str(raised.value).splitlines() == raised.value.problems
    return raised.value.problems


def test_a_valid_file_passes_unchanged() -> None:
    text = yaml.safe_dump(VALID, allow_unicode=True)
    assert validate_scenario(text, "test.yaml") == VALID


def test_the_shipped_scenario_is_valid() -> None:
    text = resources.files("labgen").joinpath("scenarios", "insecure.yaml").read_text("utf-8")
    assert validate_scenario(text, "insecure.yaml")["steps"]


def test_the_allowed_placeholders_are_the_ones_filled_in() -> None:
    assert set(PLACEHOLDERS) == set(placeholders(parse_spec({})[0]))


def test_unknown_host_selector() -> None:
    assert problems(lambda d: d["steps"][1].update(hosts="client")) == [
        "test.yaml: steps[1] (pull-lan).hosts: 'client' is not valid; use registry, clients or all"
    ]
    assert problems(lambda d: d["goals"][0].update(hosts=["registry"])) == [
        "test.yaml: goals[0] (has-image).hosts: ['registry'] is not valid; "
        "use registry, clients or all"
    ]


def test_unknown_keys() -> None:
    assert problems(lambda d: d["steps"][0].update(retry=3)) == [
        "test.yaml: steps[0] (pull): unknown key 'retry'; use one of id, hosts, run, title, post, "
        "engines, real, source, solution, done_if, stdout_lacks, retries, shows"
    ]
    assert problems(lambda d: d["goals"][0]["title"].update(fr="Tirer")) == [
        "test.yaml: goals[0] (has-image).title: unknown key 'fr'; use one of en, zh"
    ]
    assert problems(lambda d: d.update(version=2)) == [
        "test.yaml: unknown key 'version'; use one of title, intro, claims, added, steps, goals"
    ]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        (
            "retries",
            "three",
            ".retries: expected a whole number of attempts, at least 1, got 'three'",
        ),
        ("retries", 0, ".retries: expected a whole number of attempts, at least 1, got 0"),
        ("retries", True, ".retries: expected a whole number of attempts, at least 1, got True"),
        ("solution", "yes", ".solution: expected true or false, got 'yes'"),
        ("run", 5, ".run: expected text, got 5"),
        ("run", None, ".run: expected text, got nothing"),
        ("done_if", ["a"], ".done_if: expected text, got a list"),
        ("title", "Pull", ".title: expected {en: text, zh: text}, got text"),
        ("shows", {"en": "x"}, ".shows: 'zh' is missing"),
        ("id", "", ".id: expected non-empty text, got text"),
        ("source", "blog", ".source: 'blog' is not valid; use post or labgen"),
    ],
)
def test_wrong_types(field: str, value: Any, says: str) -> None:
    found = problems(lambda d: d["steps"][0].update({field: value}))
    where = "test.yaml: steps[0] (pull)" if field != "id" else "test.yaml: steps[0]"
    assert found == [where + says]


def test_wrong_types_of_the_sections() -> None:
    assert problems(lambda d: d.update(steps={"id": "x"})) == [
        "test.yaml: steps: expected a list, got a mapping"
    ]
    assert problems(lambda d: d["goals"].append("check it")) == [
        "test.yaml: goals[1]: expected a mapping, got text"
    ]
    with pytest.raises(ScenarioError) as raised:
        validate_scenario("- just\n- a list\n", "test.yaml")
    assert raised.value.problems == [
        "test.yaml: expected a mapping with title, intro, claims, added, steps and goals, got a list"
    ]


def test_missing_required_fields() -> None:
    assert problems(lambda d: d["steps"][0].pop("run")) == [
        "test.yaml: steps[0] (pull): 'run' is missing"
    ]
    assert problems(lambda d: [d["goals"][0].pop(k) for k in ("id", "hint")]) == [
        "test.yaml: goals[0]: 'id' is missing",
        "test.yaml: goals[0]: 'hint' is missing",
    ]
    assert problems(lambda d: d.pop("goals")) == ["test.yaml: 'goals' is missing"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"post": "fine"},
            "steps[1] (pull-lan).post: expected ok or {error: text}, got 'fine'",
        ),
        (
            {"post": {"error": 404}},
            "steps[1] (pull-lan).post.error: expected text, got 404",
        ),
        (
            {"real": {"docker-20": {"outcome": "maybe", "why": TEXT}}},
            "steps[1] (pull-lan).real.docker-20.outcome: 'maybe' is not valid; use ok or error",
        ),
        (
            {"real": {"docker-26": {"outcome": "error", "why": TEXT}}},
            "steps[1] (pull-lan).real.docker-26: outcome error needs the error text it shows",
        ),
        (
            {"real": {"podman-5": {"outcome": "ok", "error": "x", "why": TEXT}}},
            "steps[1] (pull-lan).real.podman-5: outcome ok has no error text; remove error",
        ),
        (
            {"real": "ok"},
            "steps[1] (pull-lan).real: expected a mapping such as {docker-26: {outcome, why}}, got text",
        ),
        (
            {"real": {"outcome": "ok", "why": TEXT}},
            "steps[1] (pull-lan).real: 'outcome', 'why' are not valid keys; key each deviation "
            "by the engine and major version it was measured on, such as docker-26 or podman-5",
        ),
        (
            {"real": {"docker-26": "ok"}},
            "steps[1] (pull-lan).real.docker-26: expected {outcome, error, why}, got text",
        ),
    ],
)
def test_bad_outcome_shapes(change: dict[str, Any], says: str) -> None:
    assert problems(lambda d: d["steps"][1].update(change)) == [f"test.yaml: {says}"]


def test_a_wrong_key_is_named_and_the_right_one_missed() -> None:
    assert problems(lambda d: d["steps"][1].update(post={"err": "x"})) == [
        "test.yaml: steps[1] (pull-lan).post: 'error' is missing",
        "test.yaml: steps[1] (pull-lan).post: unknown key 'err'; use one of error",
    ]


def test_unknown_or_broken_placeholders() -> None:
    assert problems(lambda d: d["steps"][0].update(run="docker pull {lan_reff}")) == [
        "test.yaml: steps[0] (pull).run: unknown placeholder {lan_reff}; use one of "
        + ", ".join(PLACEHOLDERS)
    ]
    assert problems(lambda d: d["goals"][0]["hint"].update(zh="{}")) == [
        "test.yaml: goals[0] (has-image).hint.zh: unknown placeholder {}; use one of "
        + ", ".join(PLACEHOLDERS)
    ]
    assert problems(lambda d: d["steps"][2].update(run="docker info --format '{{json .X}'")) == [
        "test.yaml: steps[2] (info).run: Single '}' encountered in format string; "
        "write {{ and }} for a literal brace"
    ]


def test_duplicate_ids() -> None:
    def duplicate(data: dict[str, Any]) -> None:
        data["steps"][2]["id"] = "pull"
        data["goals"].append(copy.deepcopy(data["goals"][0]))

    assert problems(duplicate) == [
        "test.yaml: steps[2] (pull): duplicate id 'pull' (also steps[0])",
        "test.yaml: goals[1] (has-image): duplicate id 'has-image' (also goals[0])",
    ]


def test_every_problem_is_reported_at_once() -> None:
    def break_three(data: dict[str, Any]) -> None:
        data["steps"][0]["hosts"] = "client"
        data["steps"][1]["retries"] = -1
        data["goals"][0]["run"] = "curl {registry}"

    found = problems(break_three)
    assert [line.split(":")[1].strip() for line in found] == [
        "steps[0] (pull).hosts",
        "steps[1] (pull-lan).retries",
        "goals[0] (has-image).run",
    ]


def test_yaml_syntax_error_is_one_line() -> None:
    with pytest.raises(ScenarioError) as raised:
        validate_scenario("title: {en: x\nsteps: [\n", "test.yaml")
    (line,) = raised.value.problems
    assert line.startswith("test.yaml (line ") and line.endswith("; fix the YAML syntax")


def test_a_huge_value_is_not_repeated_in_the_message() -> None:
    (line,) = problems(lambda d: d["steps"][0].update(hosts="x" * 10_000))
    assert len(line) < 150 and line.endswith("... is not valid; use registry, clients or all")


def test_loading_a_lab_validates_its_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before validation, a step on hosts 'client' quietly ran on every host.
    (tmp_path / "scenarios").mkdir()
    broken = copy.deepcopy(VALID)
    broken["steps"][0]["hosts"] = "client"
    (tmp_path / "scenarios" / "insecure.yaml").write_text(yaml.safe_dump(broken))
    monkeypatch.setattr(scenario.resources, "files", lambda package: tmp_path)
    with pytest.raises(ScenarioError) as raised:
        scenario.load_scenario(parse_spec({})[0])
    assert raised.value.problems == [
        "insecure.yaml: steps[0] (pull).hosts: 'client' is not valid; use registry, clients or all"
    ]


def test_fields_keyed_by_engine_are_valid() -> None:
    data = copy.deepcopy(VALID)
    data["steps"][1].update(
        run={"docker": "docker pull {lan_ref}", "podman": "podman pull {lan_ref}"},
        post={"docker": "ok", "podman": {"error": "http: server gave HTTP response"}},
        done_if={"docker": "docker image inspect {lan_ref}", "podman": "podman image exists x"},
        real={
            "docker-20": {"outcome": "ok", "why": text()},
            "podman": {"outcome": "ok", "why": text()},
        },
    )
    data["steps"][2]["engines"] = ["podman"]
    data["goals"][0].update(
        run={"docker": "docker image inspect x", "podman": "podman image exists x"}
    )
    assert validate_scenario(yaml.safe_dump(data, allow_unicode=True), "test.yaml") == data


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"run": {"docker": "docker pull {lan_ref}"}},
            "steps[1] (pull-lan).run: keyed by docker but the step exists on docker, podman; "
            "give one value per engine, or one for all",
        ),
        (
            {"engines": ["podman"], "post": {"docker": "ok"}},
            "steps[1] (pull-lan).post: keyed by docker but the step exists on podman; "
            "give one value per engine, or one for all",
        ),
        (
            {"run": {"docker": "docker pull {nope}", "podman": "podman pull {lan_ref}"}},
            "steps[1] (pull-lan).run.docker: unknown placeholder {nope}",
        ),
        (
            {"post": {"docker": "ok", "podman": "fine"}},
            "steps[1] (pull-lan).post.podman: expected ok or {error: text}, got 'fine'",
        ),
        (
            {"engines": ["docker", "lxc"]},
            "steps[1] (pull-lan).engines: ['docker', 'lxc'] is not valid",
        ),
        ({"engines": []}, "steps[1] (pull-lan).engines: [] is not valid"),
        (
            {"real": {"docker-x": {"outcome": "ok", "why": TEXT}}},
            "steps[1] (pull-lan).real: 'docker-x' is not a valid key",
        ),
    ],
)
def test_bad_engine_keys(change: dict[str, Any], says: str) -> None:
    found = problems(lambda d: d["steps"][1].update(change))
    assert any(line.startswith(f"test.yaml: {says}") for line in found), found


def test_a_step_keyed_by_engine_becomes_one_step_per_engine_of_the_lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = copy.deepcopy(VALID)
    data["steps"][1].update(
        run={"docker": "docker pull {lan_ref}", "podman": "podman pull {lan_ref}"},
        real={
            "docker-20": {"outcome": "error", "error": "old", "why": text()},
            "docker-26": {"outcome": "ok", "why": text()},
            "podman": {"outcome": "error", "error": "any podman", "why": text()},
        },
    )
    data["steps"][2]["engines"] = ["podman"]
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "insecure.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setattr(scenario.resources, "files", lambda package: tmp_path)
    hosts = [
        {"name": "registry", "ip": "192.168.56.101", "role": "registry"},
        {"name": "c1", "ip": "192.168.56.102", "role": "client"},
        {"name": "c2", "ip": "192.168.56.103", "role": "client", "engine": "podman"},
    ]
    loaded = scenario.load_scenario(parse_spec({"os": "debian-13", "hosts": hosts})[0])
    steps = [(s.id, s.engine, [h.name for h in s.hosts], s.run) for s in loaded.steps]
    assert steps == [
        ("pull", "docker", ["registry"], "docker pull nginx:alpine"),
        ("pull-lan", "docker", ["c1"], "docker pull 192.168.56.101:5000/nginx:alpine"),
        ("pull-lan", "podman", ["c2"], "podman pull 192.168.56.101:5000/nginx:alpine"),
        ("info", "podman", ["c2"], VALID["steps"][2]["run"].replace("{{", "{").replace("}}", "}")),
    ]
    docker, podman = loaded.steps[1:3]
    # the handout's deviation is the one measured on the version the lab's os ships
    assert docker.real is not None and docker.real.outcome.ok
    assert podman.real is not None and podman.real.outcome.error == "any podman"
    assert set(docker.reals) == {"docker-20", "docker-26"} and set(podman.reals) == {"podman"}
    assert scenario.real_for(docker.reals, "docker", 20).outcome.error == "old"  # type: ignore[union-attr]
    assert scenario.real_for(docker.reals, "docker", 27) is None
    assert scenario.real_for(podman.reals, "podman", 6) is podman.reals["podman"]
