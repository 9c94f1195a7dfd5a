"""The scenario's steps are the post's own commands, filled in with the lab's values."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import SEED_POST
from labgen.spec.parse import parse_spec
from labgen.steps.scenario import Scenario, Text, load_scenario, placeholders

# The step whose command the post does not have: the post edits /etc/docker/daemon.json by
# hand (an editor, then the JSON it shows); the lab does the same edit with labgen-node.
HAND_EDITED = {"allow-insecure"}


@pytest.fixture(scope="module")
def default_scenario() -> Scenario:
    return load_scenario(parse_spec({})[0])


@pytest.fixture(scope="module")
def custom_scenario() -> Scenario:
    spec, _ = parse_spec(
        {
            "hosts": [
                {"name": "reg", "ip": "192.168.56.10", "role": "registry"},
                {"name": "c1", "ip": "192.168.56.11", "role": "client"},
                {"name": "c2", "ip": "192.168.56.12", "role": "client"},
            ],
            "registry": {"port": 5050},
            "push_image": "busybox:1.36",
        }
    )
    return load_scenario(spec)


def test_default_steps_load(default_scenario: Scenario) -> None:
    ids = [step.id for step in default_scenario.steps]
    assert len(ids) == len(set(ids)), "step ids must be unique"
    assert ids[0] == "pull-registry-image"
    assert ids[-1] == "pull-lan-final"
    assert default_scenario.goals
    assert default_scenario.name == "insecure"


def test_seed_excerpt_is_the_posts_own_lines(seed_post: str) -> None:
    """The excerpt the tests compare with holds lines of the post, unchanged."""
    if not SEED_POST.is_file():
        pytest.skip(f"the whole post is not at {SEED_POST}; the excerpt cannot be compared")
    post_lines = set(SEED_POST.read_text(encoding="utf-8").splitlines())
    excerpt = [line for line in seed_post.splitlines() if not line.startswith("# ")]
    assert len(excerpt) >= 15
    assert [line for line in excerpt if line not in post_lines] == []


def test_post_steps_are_the_posts_commands(default_scenario: Scenario, seed_post: str) -> None:
    post_steps = [s for s in default_scenario.steps if s.source == "post"]
    assert len(post_steps) >= 10
    missing = [
        f"{s.id}: {s.run}" for s in post_steps if s.id not in HAND_EDITED and s.run not in seed_post
    ]
    assert not missing, "steps the post does not have:\n" + "\n".join(missing)


def test_hand_edited_step_is_the_posts_json(default_scenario: Scenario, seed_post: str) -> None:
    (step,) = [s for s in default_scenario.steps if s.id in HAND_EDITED]
    assert step.run not in seed_post
    assert '"insecure-registries" : ["http://192.168.56.101:5000"]' in seed_post
    assert "http://192.168.56.101:5000" in step.run


def test_labgen_steps_are_not_in_the_post(default_scenario: Scenario, seed_post: str) -> None:
    added = [s for s in default_scenario.steps if s.source == "labgen"]
    assert {s.id for s in added} == {"wait-registry", "push-lan"}
    for step in added:
        assert step.run not in seed_post


def test_quoted_errors_appear_in_the_post(default_scenario: Scenario, seed_post: str) -> None:
    errors = [s.post.error for s in default_scenario.steps if s.post.error]
    assert errors == [
        "http: server gave HTTP response to HTTPS client",
        "manifest for 192.168.56.101:5000/nginx:alpine not found: manifest unknown: "
        "manifest unknown",
    ]
    for error in errors:
        assert error in seed_post


def _texts(value: Any) -> Iterator[str]:
    """Every string inside a step/goal dataclass (titles, commands, errors, notes)."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            if field.name != "hosts":
                yield from _texts(getattr(value, field.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _texts(item)


def test_placeholders_filled_for_custom_spec(custom_scenario: Scenario) -> None:
    by_id = {s.id: s for s in custom_scenario.steps}
    assert by_id["run-registry"].run == (
        "docker run -d -p 5050:5000 --restart=always --name registry registry:2"
    )
    assert by_id["tag-local"].run == "docker tag busybox:1.36 localhost:5050/busybox:1.36"
    assert by_id["pull-lan-final"].run == "docker pull 192.168.56.10:5050/busybox:1.36"
    assert by_id["push-lan-untagged"].run == "docker push 192.168.56.10:5050/busybox"
    assert by_id["list-images"].stdout_lacks == "busybox "
    assert by_id["allow-insecure"].run.endswith("http://192.168.56.10:5050")
    texts = list(_texts(custom_scenario))
    assert len(texts) > 100
    for text in texts:
        # A `{name}` placeholder left; jq and Go templates (`{{json .X}}`) keep their braces.
        assert not re.search(r"\{[a-z_]+\}", text), text
    joined = "\n".join(texts)
    for value in ("nginx", "5000:5000", "192.168.56.101", "localhost:5000"):
        assert value not in joined


def test_placeholder_values() -> None:
    spec, _ = parse_spec({"registry": {"port": 5050}, "push_image": "library/busybox"})
    assert placeholders(spec) == {
        "registry_image": "registry:2",
        "registry_ip": "192.168.56.101",
        "registry_host": "registry",
        "registry_addr": "192.168.56.101:5050",
        "port": "5050",
        "push_image": "library/busybox:latest",
        "repository": "library/busybox",
        "tag": "latest",
        "local_ref": "localhost:5050/library/busybox:latest",
        "lan_ref": "192.168.56.101:5050/library/busybox:latest",
        "lan_repo": "192.168.56.101:5050/library/busybox",
        "registry_user": "student",
        "registry_password": "",
        "ca_port": "8000",
    }


def test_solution_defaults(default_scenario: Scenario) -> None:
    solution = {s.id: s.solution for s in default_scenario.steps}
    # Steps that really fail are not part of the solution; nor are the post's clean-up steps.
    assert solution["pull-lan-before-config"] is False
    assert solution["push-lan-untagged"] is False
    for step_id in ("remove-original", "remove-local-tag", "list-images"):
        assert solution[step_id] is False
    # A step the post says fails but which really succeeds is part of it.
    assert solution["pull-lan-after-config"] is True
    for step_id in ("pull-registry-image", "run-registry", "allow-insecure", "push-lan"):
        assert solution[step_id] is True


def test_deviations_say_why_in_both_languages(default_scenario: Scenario) -> None:
    deviations = {s.id: s.real for s in default_scenario.steps if s.real}
    assert set(deviations) == {"pull-lan-after-config", "push-lan-untagged"}
    assert deviations["pull-lan-after-config"].outcome.ok is True
    untagged = deviations["push-lan-untagged"]
    # Measured with Docker 20.10.24 (Debian's docker.io) in the end-to-end test.
    assert untagged.outcome.error == "tag does not exist: 192.168.56.101:5000/nginx:latest"
    for deviation in deviations.values():
        assert isinstance(deviation.why, Text)
        assert deviation.why.en and deviation.why.zh


def test_steps_and_goals_resolve_hosts(custom_scenario: Scenario) -> None:
    names = {"registry": ("reg",), "clients": ("c1", "c2"), "all": ("reg", "c1", "c2")}
    for item in (*custom_scenario.steps, *custom_scenario.goals):
        assert tuple(h.name for h in item.hosts) == names[item.selector], item.id
    goals = {g.id: g for g in custom_scenario.goals}
    assert [h.name for h in goals["client-has-image"].hosts] == ["c1", "c2"]
    assert goals["registry-answers"].run == "curl -fsS http://localhost:5050/v2/"
    assert "{{.State.Running}}" in goals["registry-running"].run


def test_retries_and_done_if(default_scenario: Scenario) -> None:
    by_id = {s.id: s for s in default_scenario.steps}
    assert by_id["wait-registry"].retries == 30
    assert by_id["push-local"].retries == 1
    assert by_id["push-local"].done_if is None
    assert by_id["run-registry"].done_if == "docker container inspect registry >/dev/null 2>&1"
