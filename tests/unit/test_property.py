"""Property: any spec either fails with field-path problems, or is free of hostile text.

Specs mix valid values with hostile strings (shell, Ruby, YAML, Jinja metacharacters,
newlines, Unicode) and random types in every field. `parse_spec` must raise SpecError
(every line `path: problem; fix`) or accept a spec that holds no hostile character, which
then renders. No other exception may escape. Validation is the first wall; the second,
quoting at the templates, is tested on its own with hostile values in test_quoting.py.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from labgen.errors import SpecError
from labgen.render.plan import plan_lab
from labgen.spec.parse import default_data, parse_spec

# Markers no valid value can contain; if one reaches a rendered file, a wall is missing.
HOSTILE = ["$(id)", "`id`", "'", '"', "\n", ";", "#{x}", "{{", "}}", "{%", "\u00e4", "\u4e2d", "\\"]
HOSTILE_CHARS = re.compile(r"[$`'\";#{}\\\n\u0080-\U0010ffff]")

PROBLEM_LINE = re.compile(r"^[^\s:][^:\n]*: [^\n]*; [^\n]+$")

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def hostile_around(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value with a hostile string before, after or in place of it."""
    bad = st.sampled_from(HOSTILE)
    return st.one_of(
        bad,
        st.builds(lambda v, h: v + h, valid, bad),
        st.builds(lambda v, h: h + v, valid, bad),
        st.builds(lambda v, h: v[: len(v) // 2] + h + v[len(v) // 2 :], valid, bad),
    )


host_rows = st.sampled_from(
    [
        [("registry", "192.168.56.101", "registry"), ("client", "192.168.56.102", "client")],
        [("reg", "192.168.56.10", "registry"), ("c1", "192.168.56.11", "client")],
        [("r", "192.168.56.20", "registry"), ("a", "192.168.56.21", "client"),
         ("b", "192.168.56.22", "client")],
    ]
)  # fmt: skip

# Valid values of every text field, by path: what specs are built from, and the base
# that hostile strings are put around.
TEXT_VALUES: dict[tuple[Any, ...], list[Any]] = {
    ("name",): ["registry-lab", "lab", "a1", "my-lab-2"],
    ("scenario",): ["insecure"],
    ("mode",): ["student", "solved"],
    ("subnet",): ["192.168.56.0/24", "192.168.48.0/20", "192.168.0.0/16"],
    ("registry", "image"): ["registry:2", "registry:2.8.3", "ghcr.io/distribution/registry:3.0"],
    ("push_image",): ["nginx:alpine", "busybox:1.36", "library/alpine", "nginx"],
    ("mirror",): [None, "http://192.168.56.1:5555", "https://mirror.example.com/"],
    ("vagrant", "box"): ["debian/bookworm64", "generic/debian12", "local-box"],
    ("vagrant", "libvirt_driver"): ["kvm", "qemu"],
    ("vagrant", "libvirt_cpu_model"): [None, "qemu64", "Skylake-Client-IBRS"],
}
HOST_TEXT_VALUES = {
    "name": ["registry", "client", "c1", "web-2"],
    "ip": ["192.168.56.101", "192.168.56.102", "192.168.56.20"],
    "role": ["registry", "client"],
}
VALID: dict[tuple[Any, ...], st.SearchStrategy[Any]] = {
    **{path: st.sampled_from(values) for path, values in TEXT_VALUES.items()},
    ("registry", "port"): st.integers(min_value=1, max_value=65535),
    ("vagrant", "memory"): st.integers(min_value=256, max_value=65536),
    ("vagrant", "cpus"): st.integers(min_value=1, max_value=64),
}
HOST_VALID = {key: st.sampled_from(values) for key, values in HOST_TEXT_VALUES.items()}


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec: each field either left out (default) or set to a valid value."""
    raw: dict[str, Any] = {}
    for path, strategy in VALID.items():
        if draw(st.booleans()):
            parent = raw
            for key in path[:-1]:
                parent = parent.setdefault(key, {})
            parent[path[-1]] = draw(strategy)
    if draw(st.booleans()):
        rows = draw(host_rows)
        raw["hosts"] = [{"name": n, "ip": i, "role": r} for n, i, r in rows]
    return raw


def bad_value(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Hostile text around a valid value, or a value of any other type."""
    text = valid.map(lambda v: "x" if v is None else str(v))
    return st.one_of(hostile_around(text), hostile_around(text), junk)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec with 0-3 fields spoiled; about half of them stay valid and render."""
    raw = draw(valid_specs())
    if draw(st.booleans()):
        return raw
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["field"] * 5 + ["host", "section", "key"]))
        if kind == "field":
            path = draw(st.sampled_from(sorted(VALID)))
            parent = raw
            for key in path[:-1]:
                parent = parent.setdefault(key, {})
            if isinstance(parent, dict):
                parent[path[-1]] = draw(bad_value(VALID[path]))
        elif kind == "host":
            hosts = raw.setdefault("hosts", [dict(h) for h in default_data()["hosts"]])
            if not isinstance(hosts, list):
                continue
            host = {k: draw(st.one_of(v, v, bad_value(v))) for k, v in HOST_VALID.items()}
            if draw(st.booleans()):
                del host[draw(st.sampled_from(sorted(host)))]
            if hosts and draw(st.booleans()):
                hosts[draw(st.integers(0, len(hosts) - 1))] = host
            else:
                hosts.append(host)
        elif kind == "section":
            raw[draw(st.sampled_from(["hosts", "registry", "vagrant"]))] = draw(junk)
        else:
            # Unknown keys, hostile ones included: a key with a newline must still give
            # one line per problem.
            section = draw(st.sampled_from(["", "registry", "vagrant"]))
            target = raw.setdefault(section, {}) if section else raw
            if isinstance(target, dict):
                target[draw(st.sampled_from(["unknown", "Name", *HOSTILE]))] = draw(junk)
    return raw


def strings(value: Any) -> list[str]:
    """Every string value (and key) inside raw spec data."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(specs())
def test_spec_fails_cleanly_or_holds_nothing_hostile(raw: dict[str, Any]) -> None:
    try:
        spec, _warnings = parse_spec(raw)
    except SpecError as error:
        assert error.problems
        for line in str(error).split("\n"):
            assert PROBLEM_LINE.match(line), f"not `path: problem; fix`: {line!r}"
        return
    hostile = [s for s in strings(raw) if HOSTILE_CHARS.search(s)]
    assert not hostile, f"accepted a spec holding {hostile!r}"
    event("accepted")
    assert plan_lab(spec)


def test_every_hostile_string_in_every_text_field() -> None:
    """Exhaustively: each hostile marker alone, before, inside and after each valid value."""
    cases = list(TEXT_VALUES.items())
    cases += [(("hosts", 0, key), values) for key, values in HOST_TEXT_VALUES.items()]
    checked = 0
    for path, values in cases:
        for valid in (str(v) for v in values if v is not None):
            middle = len(valid) // 2
            for marker in HOSTILE:
                for value in {
                    marker,
                    valid + marker,
                    marker + valid,
                    valid[:middle] + marker + valid[middle:],
                }:
                    raw: dict[str, Any] = {"hosts": [dict(h) for h in default_data()["hosts"]]}
                    parent: Any = raw
                    for key in path[:-1]:
                        parent = parent.setdefault(key, {}) if isinstance(key, str) else parent[key]
                    parent[path[-1]] = value
                    try:
                        parse_spec(raw)
                    except SpecError as error:
                        bad = [line for line in error.problems if not PROBLEM_LINE.match(line)]
                        assert not bad, bad
                        checked += 1
                        continue
                    raise AssertionError(f"{path}: accepted {value!r}")
    assert checked > 1000
