"""Load a scenario's steps and goals (`scenarios/<name>.yaml`) and fill in a lab's values.

The YAML holds the post's commands with placeholders such as `{lan_ref}`; this module
substitutes the lab's real values and resolves `hosts` (registry | clients | all) to
the lab's hosts. The handout, the provisioning and the checker all read the result.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import msgspec

from labgen.errors import LabgenError
from labgen.spec import rules
from labgen.spec.model import Engine, Host, LabSpec
from labgen.steps.validate import ENGINES, validate_scenario

HostSelector = Literal["registry", "clients", "all"]
Source = Literal["post", "labgen"]

# The engine major version each os ships (Debian's packages, measured on the nodes):
# the version a lab's handout and solved mode expect before the checker probes the host.
OS_ENGINE_MAJOR: dict[str, dict[str, int]] = {
    "debian-12": {"docker": 20},
    "debian-13": {"docker": 26, "podman": 5},
}


@dataclass(frozen=True)
class Text:
    """The same sentence in the handout's two languages."""

    en: str
    zh: str


@dataclass(frozen=True)
class Outcome:
    """What a command does: succeed, or fail with an error containing `error`."""

    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Deviation:
    """What real Docker does where the post claims otherwise, and why."""

    outcome: Outcome
    why: Text


def real_for(reals: dict[str, Deviation], engine: str, major: int | None) -> Deviation | None:
    """The deviation measured on this engine and major version: `ENGINE-MAJOR` first, then
    `ENGINE`. None: nothing was measured there, so the claim is expected to hold."""
    if major is not None and f"{engine}-{major}" in reals:
        return reals[f"{engine}-{major}"]
    return reals.get(engine)


@dataclass(frozen=True)
class Step:
    """One step as it runs on the hosts of one engine (a step that differs per engine
    gives one Step per engine the lab has, with the same id)."""

    id: str
    selector: HostSelector
    hosts: tuple[Host, ...]
    engine: Engine
    run: str
    title: Text
    post: Outcome
    claims: Text  # who claims `post`: the scenario's source, or labgen for a step it adds
    real: Deviation | None  # on the engine version the lab's os ships
    reals: dict[str, Deviation]  # every measured deviation, keyed ENGINE or ENGINE-MAJOR
    source: Source
    solution: bool
    done_if: str | None
    stdout_lacks: str | None
    retries: int
    shows: Text | None


@dataclass(frozen=True)
class Goal:
    """A state a finished lab is in; grading checks these without changing anything.
    Like a Step, one Goal per engine where the check differs."""

    id: str
    selector: HostSelector
    hosts: tuple[Host, ...]
    engine: Engine
    run: str
    title: Text
    hint: Text


@dataclass(frozen=True)
class Scenario:
    name: str
    title: Text
    intro: Text
    claims: Text  # who makes the claims: "The post", "The documentation"
    added: Text  # how the handout marks a step labgen adds
    steps: tuple[Step, ...]
    goals: tuple[Goal, ...]
    # Texts no report may show: the lab password and the base64 form docker login stores.
    secrets: tuple[str, ...] = ()
    # A lab that continues from part 1 (spec from_part1): part 1's solution steps, which
    # provisioning does once in every mode so that part 2 starts where part 1 ended, and
    # the handout's note on that starting state.
    setup: tuple[Step, ...] = ()
    start: Text | None = None


# Who claims the outcome of a step labgen adds: what labgen measured, not the source's.
LABGEN_CLAIMS = Text(en="labgen's measurement", zh="labgen 的实测")

# What every text a user sees (reports, progress, provisioning's log) shows for a secret.
MASK = "********"


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by MASK."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def placeholders(spec: LabSpec) -> dict[str, str]:
    """The values the scenario's `{name}` placeholders stand for in this lab."""
    image = spec.push_ref
    registry_addr = spec.registry_address
    login = spec.login
    return {
        "registry_image": spec.registry.image,
        "registry_ip": str(spec.registry_host.ip),
        "registry_host": spec.registry_host.name,
        "registry_addr": registry_addr,
        "port": str(spec.registry.port),
        "push_image": str(image),
        "repository": image.repository,
        "tag": image.tag,
        "local_ref": f"localhost:{spec.registry.port}/{image}",
        "lan_ref": f"{registry_addr}/{image}",
        "lan_repo": f"{registry_addr}/{image.repository}",
        "registry_user": login.user,
        "registry_password": login.password or "",
        "ca_port": str(rules.CA_SHARE_PORT),
    }


def lab_secrets(spec: LabSpec) -> tuple[str, ...]:
    """The password, and `user:password` in base64 as ~/.docker/config.json holds it."""
    login = spec.login
    if spec.scenario != "secure" or not login.password:
        return ()
    stored = base64.b64encode(f"{login.user}:{login.password}".encode()).decode()
    return (login.password, stored)


def load_scenario(spec: LabSpec) -> Scenario:
    """The steps and goals of `spec.scenario`, with this lab's values filled in."""
    source = resources.files("labgen").joinpath("scenarios", f"{spec.scenario}.yaml")
    raw = validate_scenario(source.read_text(encoding="utf-8"), f"{spec.scenario}.yaml")
    if spec.scenario == "secure" and not spec.login.password:
        raise LabgenError(
            "spec: scenario secure needs auth.password; set it, or let `labgen create` make one"
        )
    values = placeholders(spec)

    def fill(text: str) -> str:
        return text.format(**values)

    def text(raw_text: dict[str, str]) -> Text:
        return Text(en=fill(raw_text["en"]), zh=fill(raw_text["zh"]))

    def hosts(selector: HostSelector) -> tuple[Host, ...]:
        if selector == "registry":
            return (spec.registry_host,)
        if selector == "clients":
            return spec.clients
        return spec.hosts

    def outcome(raw_outcome: Any) -> Outcome:
        if raw_outcome == "ok":
            return Outcome(ok=True)
        return Outcome(ok=False, error=fill(raw_outcome["error"]))

    def deviation(claimed: dict[str, Any]) -> Deviation:
        error = claimed.get("error")
        return Deviation(
            outcome=Outcome(ok=claimed["outcome"] == "ok", error=fill(error) if error else None),
            why=text(claimed["why"]),
        )

    def per_engine(item: dict[str, Any]) -> list[tuple[Engine, tuple[Host, ...]]]:
        """(engine, its hosts) for each engine the item exists on among its hosts."""
        allowed = item.get("engines", ENGINES)
        chosen = hosts(item["hosts"])
        return [
            (engine, tuple(h for h in chosen if h.engine == engine))
            for engine in ENGINES
            if engine in allowed and any(h.engine == engine for h in chosen)
        ]

    def steps(item: dict[str, Any]) -> list[Step]:
        made = []
        for engine, engine_hosts in per_engine(item):

            def of(key: str, engine: str = engine) -> Any:
                return _for_engine(item.get(key), engine)

            reals = {
                key: deviation(value)
                for key, value in item.get("real", {}).items()
                if key.split("-")[0] == engine
            }
            real = real_for(reals, engine, OS_ENGINE_MAJOR[spec.os].get(engine))
            post = outcome(of("post"))
            source = item.get("source", "post")
            really_ok = real.outcome.ok if real else post.ok
            made.append(
                Step(
                    id=item["id"],
                    selector=item["hosts"],
                    hosts=engine_hosts,
                    engine=engine,
                    run=fill(of("run")),
                    title=text(item["title"]),
                    post=post,
                    claims=text(raw["claims"]) if source == "post" else LABGEN_CLAIMS,
                    real=real,
                    reals=reals,
                    source=source,
                    solution=item.get("solution", really_ok),
                    done_if=fill(of("done_if")) if of("done_if") is not None else None,
                    stdout_lacks=fill(item["stdout_lacks"]) if "stdout_lacks" in item else None,
                    retries=item.get("retries", 1),
                    shows=text(item["shows"]) if "shows" in item else None,
                )
            )
        return made

    def goals(item: dict[str, Any]) -> list[Goal]:
        return [
            Goal(
                id=item["id"],
                selector=item["hosts"],
                hosts=engine_hosts,
                engine=engine,
                run=fill(_for_engine(item["run"], engine)),
                title=text(item["title"]),
                hint=text(item["hint"]),
            )
            for engine, engine_hosts in per_engine(item)
        ]

    def applies(item: dict[str, Any]) -> bool:
        """Whether a step belongs to this lab: its `when` names a spec option that is on."""
        return item.get("when") != "from_part1" or spec.from_part1

    setup: tuple[Step, ...] = ()
    start = None
    if spec.from_part1:
        part1 = msgspec.structs.replace(spec, scenario="insecure", from_part1=False, auth=None)
        # Not the pulls on clients: part 2 does not build on the image, and in solved mode
        # they would race the registry host's part 2 (which removes the plain-HTTP
        # registry); without part 1's copy, part 2's pull on a client counts. A podman
        # client's registries.conf edit is part 1's end state, and stays.
        setup = tuple(
            s
            for s in load_scenario(part1).steps
            if s.solution and not (s.selector == "clients" and s.run.split()[1:2] == ["pull"])
        )
        start = text(raw["from_part1"]) if "from_part1" in raw else None
    return Scenario(
        name=spec.scenario,
        title=text(raw["title"]),
        intro=text(raw["intro"]),
        claims=text(raw["claims"]),
        added=text(raw["added"]),
        steps=tuple(step for item in raw["steps"] if applies(item) for step in steps(item)),
        goals=tuple(goal for item in raw["goals"] for goal in goals(item)),
        secrets=lab_secrets(spec),
        setup=setup,
        start=start,
    )


def _for_engine(value: Any, engine: str) -> Any:
    """A field that is the same on every engine, or a mapping keyed by engine."""
    if isinstance(value, dict) and set(value) <= set(ENGINES) and value:
        return value.get(engine)
    return value
