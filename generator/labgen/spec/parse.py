"""Turn raw YAML data into a `LabSpec`, or into a list of one-line problems.

Every problem names the field's path (`hosts[1].ip`), what is wrong, and the fix.
All problems are collected before failing, so a user fixes a spec in one go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from ipaddress import AddressValueError, IPv4Address, IPv4Network, NetmaskValueError
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from labgen.errors import SpecError
from labgen.spec import rules
from labgen.spec.model import (
    Host,
    ImageRef,
    LabSpec,
    LibvirtDriver,
    Mode,
    RegistrySettings,
    Role,
    Scenario,
    VagrantSettings,
)

# The tutorial's own lab: what `labgen create` builds when given no spec.
DEFAULT_SPEC: dict[str, Any] = {
    "name": "registry-lab",
    "scenario": "insecure",
    "mode": "student",
    "subnet": "192.168.56.0/24",
    "hosts": [
        {"name": "registry", "ip": "192.168.56.101", "role": "registry"},
        {"name": "client", "ip": "192.168.56.102", "role": "client"},
    ],
    "registry": {"port": 5000, "image": "registry:2"},
    "push_image": "nginx:alpine",
    "mirror": None,
    "vagrant": {
        "box": "debian/bookworm64",
        "memory": 1024,
        "cpus": 1,
        "libvirt_driver": "kvm",
        "libvirt_cpu_model": None,
    },
}

SCENARIOS: tuple[Scenario, ...] = ("insecure",)
MODES: tuple[Mode, ...] = ("student", "solved")
ROLES: tuple[Role, ...] = ("registry", "client")
LIBVIRT_DRIVERS: tuple[LibvirtDriver, ...] = ("kvm", "qemu")

T = TypeVar("T")


class _Problems:
    """Collects `path: problem; fix` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")


def load_spec(
    path: Path | None, overrides: Mapping[str, Any] | None = None
) -> tuple[LabSpec, list[str]]:
    """Read a spec file (None = the tutorial's default lab), with top-level fields replaced
    by `overrides` (from the command line). Returns the spec and warnings."""
    if path is None:
        return parse_spec(dict(overrides or {}))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            [f"{path}: cannot read the spec ({exc.strerror}); check the path"]
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            [f"{path}: byte {exc.start} is not UTF-8; save the spec as UTF-8 text"]
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError([f"{path}: {problem}{where}; fix the YAML syntax"]) from None
    if raw is None:
        raw = {}
    if overrides and isinstance(raw, Mapping):
        raw = {**raw, **overrides}
    return parse_spec(raw)


def parse_spec(raw: object) -> tuple[LabSpec, list[str]]:
    """Validate raw data (as loaded from YAML). Raises SpecError listing every problem."""
    problems = _Problems()
    if not isinstance(raw, Mapping):
        raise SpecError(["spec: the top level must be a mapping of fields; see `labgen schema`"])
    data = _with_defaults(raw, DEFAULT_SPEC, "", problems)

    name = _pattern(data["name"], "name", rules.NAME_PATTERN, _NAME_FIX, problems)
    scenario = _choice(data["scenario"], "scenario", SCENARIOS, problems)
    mode = _choice(data["mode"], "mode", MODES, problems)
    subnet = _subnet(data["subnet"], problems)
    registry = _registry(data["registry"], problems)
    push_image = _push_image(data["push_image"], problems)
    mirror = _mirror(data["mirror"], problems)
    vagrant = _vagrant(data["vagrant"], problems)
    hosts = _hosts(data["hosts"], subnet, problems)

    if problems.lines:
        raise SpecError(problems.lines)
    spec = LabSpec(
        name=cast(str, name),
        scenario=cast(Scenario, scenario),
        mode=cast(Mode, mode),
        subnet=cast(IPv4Network, subnet),
        hosts=hosts,
        registry=cast(RegistrySettings, registry),
        push_image=cast(ImageRef, push_image),
        mirror=mirror,
        vagrant=cast(VagrantSettings, vagrant),
    )
    return spec, _warnings(spec)


_NAME_FIX = "use 1-32 lowercase letters, digits and '-', starting with a letter"


def _with_defaults(
    raw: Mapping[Any, Any], defaults: Mapping[str, Any], prefix: str, problems: _Problems
) -> dict[str, Any]:
    """Fill missing fields from `defaults`; report unknown ones (typos must not pass silently)."""
    for key in raw:
        if key not in defaults:
            known = ", ".join(defaults)
            # A key is shown as it is only when it is a plain word: the path must stay one line.
            shown = key if isinstance(key, str) and re.fullmatch(r"\w[\w.-]*", key) else _show(key)
            problems.add(f"{prefix}{shown}", f"unknown field; use one of: {known}")
    return {key: raw.get(key, default) for key, default in defaults.items()}


def _pattern(value: object, path: str, pattern: str, fix: str, problems: _Problems) -> str | None:
    if isinstance(value, str) and re.fullmatch(pattern, value):
        return value
    problems.add(path, f"{_show(value)} is not valid; {fix}")
    return None


def _choice(value: object, path: str, choices: tuple[T, ...], problems: _Problems) -> T | None:
    for choice in choices:
        if value == choice:
            return choice
    problems.add(path, f"{_show(value)} is not valid; use one of: {', '.join(map(str, choices))}")
    return None


def _integer(value: object, path: str, bounds: tuple[int, int], problems: _Problems) -> int | None:
    low, high = bounds
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    problems.add(path, f"{_show(value)} is not valid; use a whole number from {low} to {high}")
    return None


def _mapping(
    value: object, path: str, defaults: Mapping[str, Any], problems: _Problems
) -> dict[str, Any] | None:
    if isinstance(value, Mapping):
        return _with_defaults(value, defaults, f"{path}.", problems)
    problems.add(path, f"{_show(value)} is not valid; use a mapping with: {', '.join(defaults)}")
    return None


def _subnet(value: object, problems: _Problems) -> IPv4Network | None:
    fix = "use an IPv4 network in CIDR form such as 192.168.56.0/24"
    if not isinstance(value, str) or "/" not in value:
        problems.add("subnet", f"{_show(value)} is not valid; {fix}")
        return None
    try:
        subnet = IPv4Network(value, strict=True)
    except (AddressValueError, NetmaskValueError, ValueError):
        problems.add("subnet", f"{_show(value)} is not valid; {fix} (host bits must be zero)")
        return None
    low, high = rules.PREFIX_RANGE
    if not low <= subnet.prefixlen <= high:
        problems.add(
            "subnet", f"/{subnet.prefixlen} is not valid; use a prefix from /{low} to /{high}"
        )
        return None
    if not subnet.is_private:
        problems.add("subnet", f"{value} is not a private range; use one such as 192.168.56.0/24")
        return None
    return subnet


def _registry(value: object, problems: _Problems) -> RegistrySettings | None:
    data = _mapping(value, "registry", DEFAULT_SPEC["registry"], problems)
    if data is None:
        return None
    port = _integer(data["port"], "registry.port", rules.PORT_RANGE, problems)
    image = _pattern(
        data["image"],
        "registry.image",
        rules.IMAGE_PATTERN,
        "use an image reference such as registry:2",
        problems,
    )
    if port is None or image is None:
        return None
    return RegistrySettings(port=port, image=image)


def _push_image(value: object, problems: _Problems) -> ImageRef | None:
    text = _pattern(
        value,
        "push_image",
        rules.HUB_IMAGE_PATTERN,
        "use a Docker Hub image name such as nginx:alpine (no registry host, no digest)",
        problems,
    )
    if text is None:
        return None
    repository, _, tag = text.partition(":")
    return ImageRef(repository=repository, tag=tag or "latest")


def _mirror(value: object, problems: _Problems) -> str | None:
    if value is None:
        return None
    text = _pattern(
        value,
        "mirror",
        rules.MIRROR_PATTERN,
        "use a registry URL such as http://192.168.56.1:5555, or leave it out",
        problems,
    )
    return text.rstrip("/") if text else None


def _vagrant(value: object, problems: _Problems) -> VagrantSettings | None:
    data = _mapping(value, "vagrant", DEFAULT_SPEC["vagrant"], problems)
    if data is None:
        return None
    box = _pattern(
        data["box"],
        "vagrant.box",
        rules.BOX_PATTERN,
        "use a box name such as debian/bookworm64",
        problems,
    )
    memory = _integer(data["memory"], "vagrant.memory", rules.MEMORY_RANGE_MB, problems)
    cpus = _integer(data["cpus"], "vagrant.cpus", rules.CPUS_RANGE, problems)
    driver = _choice(data["libvirt_driver"], "vagrant.libvirt_driver", LIBVIRT_DRIVERS, problems)
    cpu_model = data["libvirt_cpu_model"]
    if cpu_model is not None:
        cpu_model = _pattern(
            cpu_model,
            "vagrant.libvirt_cpu_model",
            rules.CPU_MODEL_PATTERN,
            "use a QEMU CPU model name such as qemu64, or leave it out",
            problems,
        )
        if cpu_model is None:
            return None
    if box is None or memory is None or cpus is None or driver is None:
        return None
    return VagrantSettings(
        box=box, memory=memory, cpus=cpus, libvirt_driver=driver, libvirt_cpu_model=cpu_model
    )


def _hosts(value: object, subnet: IPv4Network | None, problems: _Problems) -> tuple[Host, ...]:
    if not isinstance(value, list) or not value:
        problems.add("hosts", f"{_show(value)} is not valid; use a list of {{name, ip, role}}")
        return ()
    if len(value) > rules.MAX_HOSTS:
        problems.add("hosts", f"{len(value)} hosts is too many; use at most {rules.MAX_HOSTS}")
        return ()
    defaults = {"name": None, "ip": None, "role": None}
    hosts: list[Host] = []
    for index, item in enumerate(value):
        host = _host(item, f"hosts[{index}]", defaults, subnet, problems)
        if host is not None:
            hosts.append(host)
    if len(hosts) == len(value):
        _check_host_set(hosts, problems)
    return tuple(hosts)


def _host(
    item: object,
    path: str,
    defaults: dict[str, Any],
    subnet: IPv4Network | None,
    problems: _Problems,
) -> Host | None:
    data = _mapping(item, path, defaults, problems)
    if data is None:
        return None
    name = _pattern(data["name"], f"{path}.name", rules.NAME_PATTERN, _NAME_FIX, problems)
    if name in rules.RESERVED_HOST_NAMES:
        problems.add(
            f"{path}.name",
            f"{name} is reserved (provision/{name}.sh is the shared provisioning script); "
            "choose another name",
        )
        name = None
    role = _choice(data["role"], f"{path}.role", ROLES, problems)
    ip = _host_ip(data["ip"], f"{path}.ip", subnet, problems)
    if name is None or role is None or ip is None:
        return None
    return Host(name=name, ip=ip, role=role)


def _host_ip(
    value: object, path: str, subnet: IPv4Network | None, problems: _Problems
) -> IPv4Address | None:
    try:
        ip = IPv4Address(value) if isinstance(value, str) else None
    except AddressValueError:
        ip = None
    if ip is None:
        problems.add(
            path, f"{_show(value)} is not valid; use an IPv4 address such as 192.168.56.101"
        )
        return None
    if subnet is None:
        return ip
    if ip not in subnet:
        problems.add(path, f"{ip} is outside subnet {subnet}; pick an address inside it")
        return None
    gateway = subnet.network_address + 1
    reserved = {
        subnet.network_address: "the network address",
        subnet.broadcast_address: "the broadcast address",
        gateway: "the gateway (the host's side of the lab network)",
    }
    if ip in reserved:
        problems.add(path, f"{ip} is {reserved[ip]} of {subnet}; pick another address")
        return None
    return ip


def _check_host_set(hosts: list[Host], problems: _Problems) -> None:
    _unique(hosts, "name", lambda h: h.name, problems)
    _unique(hosts, "ip", lambda h: str(h.ip), problems)
    registries = [h for h in hosts if h.role == "registry"]
    if len(registries) != 1:
        problems.add("hosts", f"{len(registries)} hosts have role registry; give exactly one")
    if not any(h.role == "client" for h in hosts):
        problems.add("hosts", "no host has role client; add at least one client")


def _unique(hosts: list[Host], field: str, key: Callable[[Host], str], problems: _Problems) -> None:
    seen: dict[str, int] = {}
    for index, host in enumerate(hosts):
        value = key(host)
        if value in seen:
            problems.add(
                f"hosts[{index}].{field}",
                f"{value} is already used by hosts[{seen[value]}]; give each host its own {field}",
            )
        seen.setdefault(value, index)


def _warnings(spec: LabSpec) -> list[str]:
    warnings = []
    if not spec.subnet.subnet_of(rules.VIRTUALBOX_HOST_ONLY_RANGE):
        warnings.append(
            f"subnet: {spec.subnet} is outside VirtualBox's default host-only range "
            f"{rules.VIRTUALBOX_HOST_ONLY_RANGE}; VirtualBox refuses it unless "
            "/etc/vbox/networks.conf allows it (other providers and compose are unaffected)"
        )
    return warnings


def _show(value: object) -> str:
    """A value as the error line shows it: repr, single line, bounded."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def spec_to_data(spec: LabSpec) -> dict[str, Any]:
    """The spec as plain data in the YAML's shape; `parse_spec` of it gives `spec` back."""
    return {
        "name": spec.name,
        "scenario": spec.scenario,
        "mode": spec.mode,
        "subnet": str(spec.subnet),
        "hosts": [{"name": h.name, "ip": str(h.ip), "role": h.role} for h in spec.hosts],
        "registry": {"port": spec.registry.port, "image": spec.registry.image},
        "push_image": str(spec.push_image),
        "mirror": spec.mirror,
        "vagrant": {
            "box": spec.vagrant.box,
            "memory": spec.vagrant.memory,
            "cpus": spec.vagrant.cpus,
            "libvirt_driver": spec.vagrant.libvirt_driver,
            "libvirt_cpu_model": spec.vagrant.libvirt_cpu_model,
        },
    }
