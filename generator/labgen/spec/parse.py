"""Turn a spec file or raw data into a `LabSpec`, or into a list of one-line problems.

Every problem names the field's path (`hosts[1].ip`), what is wrong, and the fix. All
problems are collected before failing, so a user fixes a spec in one go: the model's own
constraints first (decode.py), then the rules that tie fields together (here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import msgspec

from labgen.errors import SpecError
from labgen.spec import rules
from labgen.spec.decode import Problems, decode, decode_fields
from labgen.spec.model import Host, LabSpec
from labgen.spec.yamlio import read_yaml

# 16 URL-safe characters: 96 random bits, and within rules.PASSWORD_PATTERN.
PASSWORD_BYTES = 12


def load_spec(
    path: Path | None, overrides: Mapping[str, Any] | None = None
) -> tuple[LabSpec, list[str]]:
    """Read a spec file (None = the tutorial's default lab), with top-level fields replaced
    by `overrides` (from the command line). Returns the spec and warnings."""
    raw = {} if path is None else read_yaml(path, "spec")
    if raw is None:
        raw = {}
    if overrides and isinstance(raw, Mapping):
        raw = {**raw, **overrides}
    return parse_spec(raw)


def parse_spec(raw: object) -> tuple[LabSpec, list[str]]:
    """Validate raw data (as loaded from YAML). Raises SpecError listing every problem."""
    if not isinstance(raw, Mapping):
        raise SpecError(["spec: the top level must be a mapping of fields; see `labgen schema`"])
    raw = _os_of_box(raw)
    problems = Problems()
    spec = decode(raw, LabSpec, "", problems)
    subnet = _subnet(raw.get("subnet", LabSpec().subnet), problems)
    _port(raw.get("registry"), problems)
    os_name = raw.get("os", LabSpec().os)
    _hosts(raw.get("hosts"), subnet, os_name, problems)
    _box(raw.get("vagrant"), os_name, problems)
    registry = raw.get("registry")
    secure = raw.get("scenario") == "secure"
    if secure and isinstance(registry, Mapping) and registry.get("port") == rules.CA_SHARE_PORT:
        problems.add(
            "registry.port",
            f"{rules.CA_SHARE_PORT} is where scenario secure shares the lab CA's certificate; "
            "use another port, such as 5000",
        )
    if raw.get("auth") is not None and not secure:
        problems.add(
            "auth", "the login applies to scenario secure only; remove auth or set scenario: secure"
        )
    if raw.get("from_part1") is True and not secure:
        problems.add(
            "from_part1",
            "starting from part 1's end state applies to scenario secure (part 2) only; "
            "remove from_part1 or set scenario: secure",
        )
    if problems.lines or spec is None:
        raise SpecError(problems.lines)
    if spec.mirror:
        spec = msgspec.structs.replace(spec, mirror=spec.mirror.rstrip("/"))
    return spec, _warnings(spec)


def _os_of_box(raw: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """Without `os`, a Debian box says which release the spec means: a lab.yaml written
    before `os` existed names debian/bookworm64 and stays on Debian 12."""
    vagrant = raw.get("vagrant")
    box = vagrant.get("box") if isinstance(vagrant, Mapping) else None
    os_of = {b: o for o, b in rules.OS_BOXES.items()}
    if "os" in raw or not isinstance(box, str) or box not in os_of:
        return raw
    return {**raw, "os": os_of[box]}


def _box(vagrant: object, os_name: object, problems: Problems) -> None:
    """A box Debian publishes for another release than `os` is a contradiction; other boxes
    (local, custom) are the spec writer's to match."""
    box = vagrant.get("box") if isinstance(vagrant, Mapping) else None
    other = {b: o for o, b in rules.OS_BOXES.items() if o != os_name}
    if os_name in rules.OS_BOXES and isinstance(box, str) and box in other:
        problems.add(
            "vagrant.box",
            f"{box} is the box of {other[box]} but os is {os_name}; "
            f"remove vagrant.box or set it to {rules.OS_BOXES[os_name]}",
        )


def _subnet(value: object, problems: Problems) -> IPv4Network | None:
    """The subnet when its form is valid (decode reports the rest) and a lab can use it."""
    if not isinstance(value, str) or not _matches(rules.SUBNET_PATTERN, value):
        return None
    try:
        subnet = IPv4Network(value, strict=True)
    except ValueError:
        problems.add(
            "subnet",
            f"{value} has host bits set; use its network address, such as "
            f"{IPv4Network(value, strict=False)}",
        )
        return None
    if not any(subnet.subnet_of(lan) for lan in rules.LAN_RANGES):
        kind = _address_kind(subnet)
        ranges = ", ".join(map(str, rules.LAN_RANGES))
        problems.add(
            "subnet",
            f"{subnet} is {kind}, not a private LAN range; use one inside {ranges}, "
            "such as 192.168.56.0/24",
        )
        return None
    return subnet


def _address_kind(subnet: IPv4Network) -> str:
    kinds = [
        ("loopback", subnet.is_loopback),
        ("link-local", subnet.is_link_local),
        ("multicast", subnet.is_multicast),
        ("'this network' (0.0.0.0/8)", subnet.subnet_of(IPv4Network("0.0.0.0/8"))),
        ("reserved (240.0.0.0/4)", subnet.is_reserved),
        ("public", subnet.is_global),
    ]
    return next((name for name, hit in kinds if hit), "a special-purpose range")


def _port(registry: object, problems: Problems) -> None:
    port = registry.get("port") if isinstance(registry, Mapping) else None
    if isinstance(port, int) and port in rules.RESERVED_PORTS:
        problems.add(
            "registry.port",
            f"{port} is taken on the lab's hosts by {rules.RESERVED_PORTS[port]}; "
            "use another port, such as 5000",
        )


def _hosts(
    value: object,
    subnet: IPv4Network | None,
    os_name: object,
    problems: Problems,
) -> None:
    """Rules across hosts, on every host field that decoded well (decode reported the rest),
    so one broken entry hides no other problem."""
    if not isinstance(value, list):
        return
    entries = [decode_fields(item, Host, "", Problems()) or {} for item in value]
    for index, fields in enumerate(entries):
        name, ip = fields.get("name"), fields.get("ip")
        if name in rules.RESERVED_HOST_NAMES:
            problems.add(
                f"hosts[{index}].name",
                f"{name} is reserved (provision/{name}.sh is the shared provisioning script); "
                "choose another name",
            )
        if ip is not None and subnet is not None:
            _host_ip(IPv4Address(ip), f"hosts[{index}].ip", subnet, problems)
        if fields.get("engine") == "podman":
            if fields.get("role") == "registry":
                problems.add(
                    f"hosts[{index}].engine",
                    "the registry host runs the registry with `docker run`, as the tutorial "
                    "does; remove engine or set it to docker",
                )
            elif os_name != "debian-13":
                problems.add(
                    f"hosts[{index}].engine",
                    f"podman clients are measured on debian-13 only, and os is {os_name}; "
                    "set os: debian-13 or engine: docker",
                )
    for field in ("name", "ip"):
        seen: dict[str, int] = {}
        for index, fields in enumerate(entries):
            if field not in fields:
                continue
            if fields[field] in seen:
                problems.add(
                    f"hosts[{index}].{field}",
                    f"{fields[field]} is already used by hosts[{seen[fields[field]]}]; "
                    f"give each host its own {field}",
                )
            seen.setdefault(fields[field], index)
    roles = [fields.get("role") for fields in entries]
    registries = roles.count("registry")
    # With a role left undecided, only a count that is already wrong can be told.
    if registries > 1 or (None not in roles and registries == 0):
        problems.add("hosts", f"{registries} hosts have role registry; give exactly one")
    if None not in roles and "client" not in roles:
        problems.add("hosts", "no host has role client; add at least one client")


def _host_ip(ip: IPv4Address, path: str, subnet: IPv4Network, problems: Problems) -> None:
    if ip not in subnet:
        problems.add(path, f"{ip} is outside subnet {subnet}; pick an address inside it")
        return
    reserved = {
        subnet.network_address: "the network address",
        subnet.broadcast_address: "the broadcast address",
        subnet.network_address + 1: "the gateway (the host's side of the lab network)",
    }
    if ip in reserved:
        problems.add(path, f"{ip} is {reserved[ip]} of {subnet}; pick another address")


def _matches(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is not None


def _warnings(spec: LabSpec) -> list[str]:
    warnings = []
    if not spec.network.subnet_of(rules.VIRTUALBOX_HOST_ONLY_RANGE):
        warnings.append(
            f"subnet: {spec.subnet} is outside VirtualBox's default host-only range "
            f"{rules.VIRTUALBOX_HOST_ONLY_RANGE}; VirtualBox refuses it unless "
            "/etc/vbox/networks.conf allows it (other providers and compose are unaffected)"
        )
    if spec.mirror and not _matches(rules.HUB_IMAGE_PATTERN, spec.registry.image):
        warnings.append(
            f"registry.image: {spec.registry.image} names its own registry, so the hosts pull "
            "it from there: the mirror serves Docker Hub names only"
        )
    return warnings


def spec_to_data(spec: LabSpec) -> dict[str, Any]:
    """The spec as plain data in the YAML's shape; `parse_spec` of it gives `spec` back.
    `auth` and `from_part1` are left out while unset (part 1 specs never have them)."""
    data: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(spec))  # lists, not tuples
    if data.get("auth") is None:
        data.pop("auth", None)
    if not data.get("from_part1"):
        data.pop("from_part1", None)
    return data


def kept_password(folder: Path) -> str | None:
    """The password in a lab folder's lab.yaml, if it has a valid one (else None). Read
    with the spec's own limits: whatever the folder holds (a FIFO, a deep or huge file)."""
    try:
        raw = read_yaml(folder / "lab.yaml", "lab spec")
    except SpecError:
        return None
    auth = raw.get("auth") if isinstance(raw, dict) else None
    password = auth.get("password") if isinstance(auth, dict) else None
    if isinstance(password, str) and _matches(rules.PASSWORD_PATTERN, password):
        return password
    return None


def with_password(spec: LabSpec, kept: str | None = None) -> LabSpec:
    """A secure lab's spec with its password filled in: `kept` (the lab folder's own, so
    `create --force` keeps it) or a new random one. Other specs are returned as they are."""
    if spec.scenario != "secure" or spec.login.password is not None:
        return spec
    import secrets  # here: only a secure lab needs it, and `create` starts faster without

    password = kept or secrets.token_urlsafe(PASSWORD_BYTES)
    return msgspec.structs.replace(
        spec, auth=msgspec.structs.replace(spec.login, password=password)
    )


def default_data() -> dict[str, Any]:
    """The tutorial's default lab as plain data."""
    return spec_to_data(LabSpec())
