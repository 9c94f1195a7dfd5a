"""`labgen schema`: valid JSON Schema that agrees with the parser, and documented in README."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from spec_cases import GOOD_SPECS, TWO_HOSTS, default_data, hosts, with_hosts

from labgen.errors import SpecError
from labgen.spec.parse import parse_spec, spec_to_data
from labgen.spec.schema import spec_schema


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_default_spec_validates(validator: Draft202012Validator) -> None:
    assert list(validator.iter_errors(default_data())) == []
    assert list(validator.iter_errors(spec_to_data(parse_spec({})[0]))) == []


def test_schema_defaults_are_the_default_spec() -> None:
    properties = spec_schema()["properties"]
    for key, value in default_data().items():
        assert properties[key]["default"] == value, key
    for parent in ("registry", "vagrant"):
        for key, value in default_data()[parent].items():
            assert properties[parent]["properties"][key]["default"] == value, f"{parent}.{key}"


@pytest.mark.parametrize("data", GOOD_SPECS.values(), ids=GOOD_SPECS.keys())
def test_good_specs_validate(validator: Draft202012Validator, data: dict[str, Any]) -> None:
    assert [e.message for e in validator.iter_errors(data)] == []
    assert [e.message for e in validator.iter_errors(spec_to_data(parse_spec(data)[0]))] == []


def _with(**fields: Any) -> dict[str, Any]:
    data = default_data()
    data.update(fields)
    return data


# Bad specs that the schema alone can tell are bad (no cross-field rules such as "IP in subnet").
SCHEMA_BAD: dict[str, dict[str, Any]] = {
    "unknown-top-key": _with(nmae="lab"),
    "unknown-nested-key": _with(registry={"port": 5000, "prot": 1}),
    "unknown-host-key": {"hosts": [{**hosts(TWO_HOSTS[0])[0], "x": 1}, hosts(TWO_HOSTS[1])[0]]},
    "port-string": _with(registry={"port": "5000"}),
    "port-bool": _with(registry={"port": True}),
    "port-70000": _with(registry={"port": 70000}),
    "name-uppercase": _with(name="Lab"),
    "host-name-reserved": with_hosts(("node", "192.168.56.101", "registry"), TWO_HOSTS[1]),
    "registry-image-injection": _with(registry={"image": "registry:2 ; rm -rf /"}),
    "push-image-digest": _with(push_image="nginx@sha256:" + "0" * 64),
    "push-image-host": _with(push_image="host:5000/x"),
    "push-image-unicode-tag": _with(push_image="nginx:\u00e4"),
    "mirror-ftp": _with(mirror="ftp://x"),
    "mirror-command": _with(mirror="http://x/$(id)"),
    "mode-unknown": _with(mode="teacher"),
    "hosts-one": with_hosts(TWO_HOSTS[0]),
    "memory-small": _with(vagrant={"memory": 1}),
    "cpu-model-quote": _with(vagrant={"libvirt_cpu_model": "qemu64'"}),
    "driver-unknown": _with(vagrant={"libvirt_driver": "xen"}),
    "two-registries": with_hosts(
        TWO_HOSTS[0], ("other", "192.168.56.103", "registry"), TWO_HOSTS[1]
    ),
    "no-registry": with_hosts(("a", "192.168.56.101", "client"), TWO_HOSTS[1]),
    "subnet-word": _with(subnet="lan"),
    "subnet-8": _with(subnet="10.0.0.0/8"),
    "subnet-30": _with(subnet="192.168.56.0/30"),
    "port-ssh": _with(registry={"port": 22}),
    "push-image-ghcr": _with(push_image="ghcr.io/x/y"),
    "push-image-localhost": _with(push_image="localhost/x"),
    # jsonschema, like msgspec, uses Python's re.search, where `$` matches before a final newline.
    "name-newline": _with(name="lab\n"),
    "subnet-newline": _with(subnet="192.168.56.0/24\n"),
    "box-newline": _with(vagrant={"box": "debian/bookworm64\n"}),
    "host-ip-newline": with_hosts(TWO_HOSTS[0], ("client", "192.168.56.102\n", "client")),
}


@pytest.mark.parametrize("data", SCHEMA_BAD.values(), ids=SCHEMA_BAD.keys())
def test_bad_specs_rejected_by_schema_and_parser(
    validator: Draft202012Validator, data: dict[str, Any]
) -> None:
    assert list(validator.iter_errors(data)), "the schema accepts it"
    with pytest.raises(SpecError):
        parse_spec(data)


def _properties(schema: dict[str, Any], parent: str = "") -> Iterator[tuple[str, str]]:
    """(parent, field) for every property, nested ones (objects, arrays of objects) included."""
    for name, sub in schema.get("properties", {}).items():
        yield parent, name
        if "properties" in sub:
            yield from _properties(sub, name)
        if "items" in sub:
            yield from _properties(sub["items"], name)


def test_schema_covers_every_spec_field() -> None:
    fields = set(_properties(spec_schema()))
    expected = {("", key) for key in default_data()} | {("", "auth"), ("", "from_part1")}
    expected |= {("registry", key) for key in default_data()["registry"]}
    expected |= {("vagrant", key) for key in default_data()["vagrant"]}
    expected |= {("hosts", key) for key in default_data()["hosts"][0]}
    assert fields == expected


def test_every_schema_property_is_in_the_readme(repo_root: Path) -> None:
    """README.md's spec table names each field as `field` or `parent.field` (`hosts[].ip` too)."""
    readme = repo_root / "README.md"
    assert readme.is_file(), "README.md is missing: it must document every spec field"
    text = readme.read_text(encoding="utf-8")
    undocumented = []
    for parent, name in _properties(spec_schema()):
        spellings = [f"`{name}`", f"`{parent}.{name}`", f"`{parent}[].{name}`"]
        if not any(s in text for s in spellings):
            undocumented.append(f"{parent}.{name}" if parent else name)
    assert not undocumented, f"README.md does not document: {', '.join(undocumented)}"
