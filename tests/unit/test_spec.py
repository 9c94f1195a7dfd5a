"""The lab spec's validation: good specs parse, every bad one says where and how to fix it."""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from spec_cases import BAD_SPECS, GOOD_SPECS, hosts, with_hosts

from labgen.errors import SpecError
from labgen.spec.model import LabSpec
from labgen.spec.parse import default_data, load_spec, parse_spec, spec_to_data

# `path: what is wrong; how to fix it` on one line.
PROBLEM_LINE = re.compile(r"^(?P<path>[^:\s]+): (?P<what>[^\n;]+); (?P<fix>[^\n]+)$")


def problems_of(data: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    problems = caught.value.problems
    assert str(caught.value) == "\n".join(problems)
    return problems


# ---------------------------------------------------------------- good specs


@pytest.mark.parametrize("data", GOOD_SPECS.values(), ids=GOOD_SPECS.keys())
def test_good_spec_parses(data: dict[str, Any]) -> None:
    spec, _warnings = parse_spec(data)
    assert isinstance(spec, LabSpec)
    assert len([h for h in spec.hosts if h.role == "registry"]) == 1
    assert spec.clients


def test_default_spec_is_the_tutorials_lab() -> None:
    spec, warnings = parse_spec({})
    assert warnings == []
    assert spec.name == "registry-lab"
    assert spec.mode == "student"
    assert spec.network == IPv4Network("192.168.56.0/24")
    assert spec.registry_host.address == IPv4Address("192.168.56.101")
    assert [h.name for h in spec.clients] == ["client"]
    assert spec.registry_address == "192.168.56.101:5000"
    assert spec.registry.image == "registry:2"
    assert str(spec.push_image) == "nginx:alpine"
    assert spec.gateway == IPv4Address("192.168.56.1")
    assert spec.mirror is None
    assert spec.vagrant.libvirt_cpu_model is None


def test_three_hosts() -> None:
    spec, _ = parse_spec(GOOD_SPECS["three-hosts"])
    assert [h.name for h in spec.hosts] == ["registry", "client-a", "client-b"]
    assert [h.name for h in spec.clients] == ["client-a", "client-b"]


def test_custom_port_and_subnet() -> None:
    spec, _ = parse_spec(GOOD_SPECS["custom-port-subnet"])
    assert spec.registry.port == 5050
    assert spec.network == IPv4Network("10.10.0.0/24")
    assert spec.gateway == IPv4Address("10.10.0.1")
    assert spec.registry_address == "10.10.0.10:5050"


def test_mirror_loses_trailing_slash() -> None:
    assert parse_spec(GOOD_SPECS["mirror"])[0].mirror == "http://192.168.56.1:5555"
    assert parse_spec(GOOD_SPECS["mirror-https-slash"])[0].mirror == "https://mirror.example.com"


def test_solved_mode() -> None:
    spec, _ = parse_spec(GOOD_SPECS["solved"])
    assert spec.mode == "solved"
    assert spec.name == "registry-lab-solved"


def test_qemu_driver_with_cpu_model() -> None:
    spec, _ = parse_spec(GOOD_SPECS["qemu-cpu-model"])
    assert spec.vagrant.libvirt_driver == "qemu"
    assert spec.vagrant.libvirt_cpu_model == "qemu64"
    assert spec.vagrant.box == default_data()["vagrant"]["box"]  # the other fields keep defaults


def test_push_image_without_tag_means_latest() -> None:
    image = parse_spec(GOOD_SPECS["push-image-no-tag"])[0].push_ref
    assert (image.repository, image.tag) == ("busybox", "latest")


# ---------------------------------------------------------------- bad specs


@pytest.mark.parametrize(
    ("data", "path", "says"),
    [case[1:] for case in BAD_SPECS],
    ids=[case[0] for case in BAD_SPECS],
)
def test_bad_spec_names_field_and_fix(data: Any, path: str, says: str) -> None:
    problems = problems_of(data)
    lines = [line for line in problems if line.startswith(f"{path}: ")]
    assert lines, f"no problem reported at {path!r}; got {problems}"
    assert any(says in line for line in lines), f"{says!r} not in {lines}"
    for line in problems:
        assert PROBLEM_LINE.match(line), f"not `path: problem; fix`: {line!r}"


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "name": "Bad Name",
        "mode": "teacher",
        "subnet": "192.168.56.0/24",
        "hosts": hosts(("registry", "10.0.0.5", "registry"), ("c", "192.168.56.1", "client")),
        "registry": {"port": 0, "image": "Registry:2"},
        "push_image": "host:5000/x",
        "mirror": "ftp://x",
        "vagrant": {"memory": 1, "colour": "red"},
        "extra": True,
    }
    paths = [line.split(": ", 1)[0] for line in problems_of(data)]
    assert sorted(paths) == sorted(
        [
            "extra",
            "name",
            "mode",
            "hosts[0].ip",
            "hosts[1].ip",
            "registry.port",
            "registry.image",
            "push_image",
            "mirror",
            "vagrant.colour",
            "vagrant.memory",
        ]
    )


def test_one_broken_host_hides_no_other_problem() -> None:
    """Rules across hosts run on every field that decoded, even in a broken entry."""
    data = with_hosts(
        ("dup", "192.168.56.101", "registry"),
        ("dup", "not-an-ip", "client"),  # bad ip, but its name and role still count
        ("other", "192.168.56.101", "registry"),
    )
    assert sorted(problems_of(data)) == sorted(
        [
            "hosts[1].ip: 'not-an-ip' is not valid; use an IPv4 address such as 192.168.56.101",
            "hosts[1].name: dup is already used by hosts[0]; give each host its own name",
            "hosts[2].ip: 192.168.56.101 is already used by hosts[0]; give each host its own ip",
            "hosts: 2 hosts have role registry; give exactly one",
        ]
    )


def test_an_undecided_role_keeps_role_counts_quiet() -> None:
    """With one role invalid, "no client" may be false: only its own problem is reported."""
    data = with_hosts(("r", "192.168.56.101", "registry"), ("c", "192.168.56.102", "klient"))
    assert problems_of(data) == [
        "hosts[1].role: 'klient' is not valid; use one of: registry, client"
    ]


def test_reserved_name_and_ip_outside_subnet_in_one_go() -> None:
    data = with_hosts(("node", "192.168.56.101", "registry"), ("c", "10.1.1.1", "client"))
    assert [line.split(":")[0] for line in problems_of(data)] == ["hosts[0].name", "hosts[1].ip"]


def test_error_lines_stay_short_for_huge_values() -> None:
    """A huge value is shown cut, and showing it does not walk all of it."""
    data = {"name": list(range(1_000_000)), "vagrant": {"box": "x" * 100_000}}
    for line in problems_of(data):
        assert len(line) < 200, line


def test_top_level_must_be_a_mapping() -> None:
    for raw in (["name"], "registry-lab", 3):
        (line,) = problems_of(raw)
        assert line.startswith("spec: the top level must be a mapping")


# ---------------------------------------------------------------- warnings


def test_virtualbox_warning_outside_its_host_only_range() -> None:
    _, warnings = parse_spec(GOOD_SPECS["custom-port-subnet"])
    (warning,) = warnings
    assert warning.startswith("subnet: 10.10.0.0/24 is outside VirtualBox's")
    assert "192.168.56.0/21" in warning
    assert "/etc/vbox/networks.conf" in warning


def test_warning_when_the_registry_image_bypasses_the_mirror() -> None:
    data = {"mirror": "http://192.168.56.1:5555", "registry": {"image": "ghcr.io/x/registry:3"}}
    (warning,) = parse_spec(data)[1]
    assert warning.startswith("registry.image: ghcr.io/x/registry:3 names its own registry")
    assert parse_spec({"mirror": "http://192.168.56.1:5555"})[1] == []


def test_no_warning_inside_the_virtualbox_range() -> None:
    assert parse_spec({})[1] == []
    assert parse_spec(GOOD_SPECS["small-subnet"])[1] == []


# ---------------------------------------------------------------- load_spec


def test_load_spec_none_is_the_default() -> None:
    assert load_spec(None) == parse_spec({})


def test_load_spec_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (line,) = caught.value.problems
    assert line.startswith(f"{path}: cannot read the spec (")
    assert line.endswith("; check the path")


def test_load_spec_yaml_syntax_error_has_line_and_column(
    spec_file: Callable[[Any], Path],
) -> None:
    path = spec_file("name: lab\nhosts: [\n  {name: a\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (line,) = caught.value.problems
    assert line.startswith(f"{path}: ")
    assert re.search(r" at line \d+, column \d+; fix the YAML syntax$", line), line


def test_load_spec_yaml_error_position_is_exact(spec_file: Callable[[Any], Path]) -> None:
    path = spec_file("name: lab\nmode: 'solved\n")  # unterminated quote
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert "at line 3, column 1" in caught.value.problems[0]


def test_load_spec_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (line,) = caught.value.problems
    assert line.startswith(f"{path}: ") and "UTF-8" in line


def test_load_spec_top_level_not_a_mapping(spec_file: Callable[[Any], Path]) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file("- name: lab\n"))
    assert caught.value.problems[0].startswith("spec: the top level must be a mapping")


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_load_spec_empty_file_is_the_default(spec_file: Callable[[Any], Path], text: str) -> None:
    assert load_spec(spec_file(text)) == parse_spec({})


def test_load_spec_reads_values(spec_file: Callable[[Any], Path]) -> None:
    spec, warnings = load_spec(spec_file(GOOD_SPECS["custom-port-subnet"]))
    assert spec.registry.port == 5050
    assert len(warnings) == 1


def test_load_spec_yaml_bool_is_not_a_port(spec_file: Callable[[Any], Path]) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file("registry:\n  port: yes\n"))
    assert caught.value.problems[0].startswith("registry.port: True is not valid")


def test_load_spec_duplicate_key_is_an_error(spec_file: Callable[[Any], Path]) -> None:
    path = spec_file("name: lab-a\nmode: solved\nname: lab-b\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == [
        f"{path}: duplicate key 'name' at line 3, column 1; fix the YAML syntax"
    ]


def test_load_spec_duplicate_key_in_a_host(spec_file: Callable[[Any], Path]) -> None:
    text = "hosts:\n  - {name: r, ip: 192.168.56.101, role: registry, ip: 192.168.56.9}\n"
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file(text))
    assert "duplicate key 'ip' at line 2" in caught.value.problems[0]


def test_load_spec_merge_keys_are_not_duplicates(spec_file: Callable[[Any], Path]) -> None:
    text = (
        "vagrant: &vm {box: debian/bookworm64, memory: 1024}\n"
        "registry: {port: 5050}\n"
        "x-unused: &other {memory: 2048}\n"
    )
    with pytest.raises(SpecError) as caught:  # x-unused is an unknown field, not a YAML error
        load_spec(spec_file(text))
    assert caught.value.problems[0].startswith("x-unused: unknown field")


def test_load_spec_too_large(spec_file: Callable[[Any], Path]) -> None:
    path = spec_file("# padding\n" * 7000 + "name: lab\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == [
        f"{path}: larger than 65536 bytes; a spec is a few lines of YAML"
    ]


def test_load_spec_deep_nesting(spec_file: Callable[[Any], Path]) -> None:
    """500 nested brackets used to end in a RecursionError traceback."""
    path = spec_file("name: " + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems == [
        f"{path}: nested deeper than 20 levels at line 1; a spec needs only a few"
    ]


def test_load_spec_alias_bomb(spec_file: Callable[[Any], Path]) -> None:
    """A kilobyte of nested aliases expands to billions of values: refused before loading."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append("name: *a9")
    text = "\n".join(lines) + "\n"
    assert len(text) < 1024
    path = spec_file(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (line,) = caught.value.problems
    assert line.startswith(f"{path}: the document expands to more than 10000 values by line ")
    assert line.endswith("(an alias counts each time it is used); write it out plainly")


def test_load_spec_a_few_aliases_are_fine(spec_file: Callable[[Any], Path]) -> None:
    text = "subnet: &net 192.168.56.0/24\nregistry: &reg {port: 5050}\nmode: solved\n"
    spec, _ = load_spec(spec_file(text))
    assert (spec.subnet, spec.registry.port) == ("192.168.56.0/24", 5050)


def test_load_spec_recursive_alias_is_one_line(spec_file: Callable[[Any], Path]) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file("hosts: &h [*h]\n"))
    assert caught.value.problems == [
        "hosts[0]: [[[...]]] is not valid; use a mapping with: name, ip, role, engine",
        "hosts: 1 entry is too few; use at least 2",
    ]


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("data", GOOD_SPECS.values(), ids=GOOD_SPECS.keys())
def test_spec_to_data_round_trips(data: dict[str, Any]) -> None:
    spec, _ = parse_spec(data)
    again = spec_to_data(spec)
    assert parse_spec(again)[0] == spec
    assert set(again) == set(default_data())
    assert spec_to_data(parse_spec(again)[0]) == again


def test_spec_to_data_of_default_is_default_spec() -> None:
    assert spec_to_data(parse_spec({})[0]) == default_data()
