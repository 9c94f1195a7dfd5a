"""Check a scenario file's shape before anything uses it: it drives provisioning and grading.

`validate_scenario(text, name)` is pure (text in, mapping or ScenarioError out) and reports
every problem, one line each, naming the file and the step or goal:
`insecure.yaml: steps[3] (tag-local).hosts: 'client' is not valid; use registry, clients or all`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from labgen.errors import ScenarioError
from labgen.spec.model import Engine

# The `{name}` placeholders a scenario may use (`placeholders()` gives their values).
PLACEHOLDERS = (
    "registry_image",
    "registry_ip",
    "registry_host",
    "registry_addr",
    "port",
    "push_image",
    "repository",
    "tag",
    "local_ref",
    "lan_ref",
    "lan_repo",
    "registry_user",
    "registry_password",
    "ca_port",
)
SELECTORS = ("registry", "clients", "all")
SOURCES = ("post", "labgen")
# What a step's `when` may name: the spec options under which the step is part of the lab.
CONDITIONS = ("from_part1",)
ENGINES: tuple[Engine, ...] = ("docker", "podman")
# A `real` key: the engine, or the engine and its major version (docker-26).
REAL_KEY = re.compile(r"(docker|podman)(-[1-9][0-9]{0,2})?")

# A field's check: (where, value) → problems; `where` names the field in messages.
Check = Callable[[str, Any], Iterator[str]]


def validate_scenario(text: str, name: str) -> dict[str, Any]:
    """The scenario file's content, or ScenarioError listing every problem in it."""
    try:
        # libyaml's loader where PyYAML has it: the scenario files are labgen's own, and the
        # pure-Python loader took most of `labgen create`'s own time reading them.
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ScenarioError([f"{name}{line}: {problem}; fix the YAML syntax"]) from None
    problems = [f"{name}: {problem}" for problem in _file(raw)]
    if problems:
        raise ScenarioError(problems)
    assert isinstance(raw, dict)
    return raw


def _file(raw: Any) -> Iterator[str]:
    if not isinstance(raw, dict):
        yield f"expected a mapping with title, intro, claims, added, steps and goals, got {_kind(raw)}"
        return
    yield from _fields("", raw, FILE_REQUIRED, FILE_OPTIONAL)
    for section, required, optional in (
        ("steps", STEP_REQUIRED, STEP_OPTIONAL),
        ("goals", GOAL_REQUIRED, GOAL_OPTIONAL),
    ):
        items = raw.get(section)
        if not isinstance(items, list):
            continue
        first_of: dict[str, str] = {}
        for index, item in enumerate(items):
            where = f"{section}[{index}]"
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                where += f" ({item['id']})"
                if item["id"] in first_of:
                    yield f"{where}: duplicate id {item['id']!r} (also {first_of[item['id']]})"
                first_of.setdefault(item["id"], f"{section}[{index}]")
            if not isinstance(item, dict):
                yield f"{where}: expected a mapping, got {_kind(item)}"
                continue
            yield from _fields(where, item, required, optional)
            if item.get("when") == "from_part1" and "from_part1" not in raw:
                yield f"{where}.when: the file has no from_part1 note for the handout; add one"
            yield from _engine_keys(where, item)


def _fields(
    where: str, item: dict[Any, Any], required: dict[str, Check], optional: dict[str, Check]
) -> Iterator[str]:
    """Missing and unknown keys, then each present field's own check."""
    known = {**required, **optional}
    prefix = f"{where}: " if where else ""
    for key in required:
        if key not in item:
            yield f"{prefix}{key!r} is missing"
    for key, value in item.items():
        check = known.get(key) if isinstance(key, str) else None
        if check is None:
            yield f"{prefix}unknown key {_short(key)}; use one of {', '.join(known)}"
        else:
            yield from check(f"{where}.{key}" if where else key, value)


def _string(where: str, value: Any) -> Iterator[str]:
    """A string whose `{name}` placeholders are all known (`{{`/`}}` are literal braces)."""
    if not isinstance(value, str):
        yield f"{where}: expected text, got {_kind(value)}"
        return
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError as error:
        yield f"{where}: {error}; write {{{{ and }}}} for a literal brace"
        return
    for field in fields:
        if field not in PLACEHOLDERS:
            yield f"{where}: unknown placeholder {{{field}}}; use one of {', '.join(PLACEHOLDERS)}"


def _plain(where: str, value: Any) -> Iterator[str]:
    """Text that is used as it is (ids)."""
    if not isinstance(value, str) or not value:
        yield f"{where}: expected non-empty text, got {_kind(value)}"


def _text(where: str, value: Any) -> Iterator[str]:
    """The same sentence in both languages: {en: ..., zh: ...}."""
    if not isinstance(value, dict):
        yield f"{where}: expected {{en: text, zh: text}}, got {_kind(value)}"
        return
    yield from _fields(where, value, {"en": _string, "zh": _string}, {})


def _list(where: str, value: Any) -> Iterator[str]:
    if not isinstance(value, list):
        yield f"{where}: expected a list, got {_kind(value)}"


def _choice(*allowed: str) -> Check:
    def check(where: str, value: Any) -> Iterator[str]:
        if value not in allowed:
            choices = " or ".join(filter(None, (", ".join(allowed[:-1]), allowed[-1])))
            yield f"{where}: {_short(value)} is not valid; use {choices}"

    return check


def _outcome(where: str, value: Any) -> Iterator[str]:
    """ok, or {error: text the post quotes}."""
    if value == "ok":
        return
    if not isinstance(value, dict):
        yield f"{where}: expected ok or {{error: text}}, got {_short(value)}"
        return
    yield from _fields(where, value, {"error": _string}, {})


def _engine_keyed(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= set(ENGINES)


def _per_engine(check: Check) -> Check:
    """The same value on every engine, or a mapping {docker: value, podman: value}."""

    def per_engine(where: str, value: Any) -> Iterator[str]:
        if not _engine_keyed(value):
            yield from check(where, value)
            return
        for engine, item in value.items():
            yield from check(f"{where}.{engine}", item)

    return per_engine


def _engine_keys(where: str, item: dict[Any, Any]) -> Iterator[str]:
    """An engine-keyed field names every engine the item exists on, and no other."""
    engines = item.get("engines", list(ENGINES))
    if not isinstance(engines, list):
        return
    for key in ("run", "post", "done_if"):
        value = item.get(key)
        if isinstance(value, dict) and _engine_keyed(value) and set(value) != set(engines):
            yield (
                f"{where}.{key}: keyed by {', '.join(value)} but the step exists on "
                f"{', '.join(engines)}; give one value per engine, or one for all"
            )


def _engines(where: str, value: Any) -> Iterator[str]:
    if not isinstance(value, list) or not value or not set(value) <= set(ENGINES):
        yield f"{where}: {_short(value)} is not valid; use a list of {' and '.join(ENGINES)}"


def _reals(where: str, value: Any) -> Iterator[str]:
    """{ENGINE or ENGINE-MAJOR: what that engine really does}, measured there."""
    if not isinstance(value, dict) or not value:
        yield f"{where}: expected a mapping such as {{docker-26: {{outcome, why}}}}, got {_kind(value)}"
        return
    bad = [key for key in value if not isinstance(key, str) or not REAL_KEY.fullmatch(key)]
    if bad:
        yield (
            f"{where}: {', '.join(map(_short, bad))} "
            f"{'is not a valid key' if len(bad) == 1 else 'are not valid keys'}; key each deviation by the engine and major version it was measured "
            "on, such as docker-26 or podman-5"
        )
    for key, entry in value.items():
        if key not in bad:
            yield from _real(f"{where}.{key}", entry)


def _real(where: str, value: Any) -> Iterator[str]:
    """{outcome: ok | error, error: text (with outcome error only), why: {en, zh}}."""
    if not isinstance(value, dict):
        yield f"{where}: expected {{outcome, error, why}}, got {_kind(value)}"
        return
    yield from _fields(
        where, value, {"outcome": _choice("ok", "error"), "why": _text}, {"error": _string}
    )
    if value.get("outcome") == "error" and "error" not in value:
        yield f"{where}: outcome error needs the error text it shows"
    if value.get("outcome") == "ok" and "error" in value:
        yield f"{where}: outcome ok has no error text; remove error"


def _flag(where: str, value: Any) -> Iterator[str]:
    if not isinstance(value, bool):
        yield f"{where}: expected true or false, got {_short(value)}"


def _retries(where: str, value: Any) -> Iterator[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        yield f"{where}: expected a whole number of attempts, at least 1, got {_short(value)}"


# intro: the handout's opening paragraph; claims: who makes the claims (the post, the
# documentation); added: how the handout marks a step labgen adds.
FILE_REQUIRED: dict[str, Check] = {
    "title": _text,
    "intro": _text,
    "claims": _text,
    "added": _text,
    "steps": _list,
    "goals": _list,
}
# from_part1: the handout's note on the state a lab starting from part 1's end is in.
FILE_OPTIONAL: dict[str, Check] = {"from_part1": _text}
STEP_REQUIRED: dict[str, Check] = {
    "id": _plain,
    "hosts": _choice(*SELECTORS),
    "run": _per_engine(_string),
    "title": _text,
    "post": _per_engine(_outcome),
}
STEP_OPTIONAL: dict[str, Check] = {
    "engines": _engines,
    "real": _reals,
    "source": _choice(*SOURCES),
    "solution": _flag,
    "done_if": _per_engine(_string),
    "stdout_lacks": _string,
    "retries": _retries,
    "shows": _text,
    "when": _choice(*CONDITIONS),
}
GOAL_REQUIRED: dict[str, Check] = {
    "id": _plain,
    "hosts": _choice(*SELECTORS),
    "run": _per_engine(_string),
    "title": _text,
    "hint": _text,
}
GOAL_OPTIONAL: dict[str, Check] = {"engines": _engines}


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), _short(value)
    )


def _short(value: Any) -> str:
    """A value for a message: its repr, cut short (a message never carries a huge value)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
