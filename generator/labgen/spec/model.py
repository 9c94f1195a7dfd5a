"""The lab spec: one definition that gives strict decoding (decode.py), the JSON Schema
(schema.py) and the typed model the rest of labgen reads.

Each value's constraint sits next to its `fix`, the advice an error line gives. Rules
that tie several fields together (an IP inside the subnet, exactly one registry) are
plain code in parse.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from labgen.spec import rules

Role = Literal["registry", "client"]
Mode = Literal["student", "solved"]
Scenario = Literal["insecure", "secure"]
LibvirtDriver = Literal["kvm", "qemu"]
Os = Literal["debian-12", "debian-13"]
Engine = Literal["docker", "podman"]

Name = Annotated[
    str,
    Meta(
        pattern=rules.NAME_PATTERN,
        extra={"fix": "use 1-32 lowercase letters, digits and '-', starting with a letter"},
    ),
]
HostName = Annotated[
    str,
    Meta(
        pattern=rules.NAME_PATTERN,
        description="Host name (DNS label), unique; not " + ", ".join(rules.RESERVED_HOST_NAMES),
        extra_json_schema={"not": {"enum": list(rules.RESERVED_HOST_NAMES)}},
        extra={"fix": "use 1-32 lowercase letters, digits and '-', starting with a letter"},
    ),
]
Ip = Annotated[
    str,
    Meta(
        pattern=rules.IPV4_PATTERN,
        description="Static address inside subnet; not its network, broadcast or first "
        "(gateway) address; unique.",
        extra_json_schema={"format": "ipv4"},
        extra={"fix": "use an IPv4 address such as 192.168.56.101"},
    ),
]
Port = Annotated[
    int,
    Meta(
        ge=rules.PORT_RANGE[0],
        le=rules.PORT_RANGE[1],
        description="Host port the registry is published on (-p PORT:5000).",
        extra_json_schema={"not": {"enum": sorted(rules.RESERVED_PORTS)}},
    ),
]


class Host(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: HostName
    ip: Ip
    role: Role
    engine: Annotated[
        Engine,
        Meta(
            description="The host's container engine: docker, or podman (clients only, "
            "os debian-13); the registry host runs docker.",
        ),
    ] = "docker"

    @property
    def address(self) -> IPv4Address:
        return IPv4Address(self.ip)


class RegistrySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    port: Port = 5000
    image: Annotated[
        str,
        Meta(
            pattern=rules.IMAGE_PATTERN,
            description="Registry image (distribution); the tutorial uses registry:2.",
            extra={"fix": "use an image reference such as registry:2"},
        ),
    ] = "registry:2"


class AuthSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The registry's login (scenario secure): one htpasswd user."""

    user: Annotated[Name, Meta(description="The registry user the lab logs in as.")] = "student"
    password: (
        Annotated[
            str,
            Meta(
                pattern=rules.PASSWORD_PATTERN,
                description="The registry password; null = `labgen create` generates one.",
                extra={
                    "fix": "use 8-72 letters, digits, '.', '_' or '-', or leave it out",
                    "writeOnly": True,  # JSON Schema for "never shown back": errors do not
                },
            ),
        ]
        | None
    ) = None


class VagrantSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    box: (
        Annotated[
            str,
            Meta(
                pattern=rules.BOX_PATTERN,
                description="Vagrant box of every VM; null = Debian's box of `os` "
                "(debian/bookworm64, debian/trixie64).",
                extra={"fix": "use a box name such as debian/trixie64, or leave it out"},
            ),
        ]
        | None
    ) = None
    memory: Annotated[
        int,
        Meta(ge=rules.MEMORY_RANGE_MB[0], le=rules.MEMORY_RANGE_MB[1], description="MiB per VM."),
    ] = 1024
    cpus: Annotated[
        int, Meta(ge=rules.CPUS_RANGE[0], le=rules.CPUS_RANGE[1], description="CPUs per VM.")
    ] = 1
    libvirt_driver: Annotated[
        LibvirtDriver,
        Meta(description="kvm, or qemu (software emulation) where KVM is unusable."),
    ] = "kvm"
    libvirt_cpu_model: (
        Annotated[
            str,
            Meta(
                pattern=rules.CPU_MODEL_PATTERN,
                description="Custom CPU model (e.g. qemu64) for libvirt; null = libvirt's default.",
                extra={"fix": "use a QEMU CPU model name such as qemu64, or leave it out"},
            ),
        ]
        | None
    ) = None


@dataclass(frozen=True)
class ImageRef:
    """A Docker Hub image name split the way the tutorial uses it (`nginx:alpine`)."""

    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


def _default_hosts() -> tuple[Host, ...]:
    return (
        Host(name="registry", ip="192.168.56.101", role="registry"),
        Host(name="client", ip="192.168.56.102", role="client"),
    )


class LabSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A lab. Its defaults are the tutorial's own two-host lab."""

    name: Annotated[
        Name, Meta(description="Lab name: folder under labs/, compose project name.")
    ] = "registry-lab"
    scenario: Annotated[
        Scenario,
        Meta(
            description="Which part of the tutorial: insecure = part 1, plain HTTP; "
            "secure = part 2, TLS and basic auth."
        ),
    ] = "insecure"
    os: Annotated[
        Os,
        Meta(
            description="The hosts' Debian release: debian-12 (Docker 20.10) or debian-13 "
            "(Docker 26.1, podman 5.4). It picks the compose node image and the Vagrant box.",
        ),
    ] = "debian-13"
    mode: Annotated[
        Mode,
        Meta(
            description="student: hosts get Docker only; solved: provisioning also does "
            "every step of the tutorial."
        ),
    ] = "student"
    subnet: Annotated[
        str,
        Meta(
            pattern=rules.SUBNET_PATTERN,
            description="Private IPv4 network of the lab (10/8, 172.16/12 or 192.168/16), "
            f"CIDR, /{rules.PREFIX_RANGE[0]} to /{rules.PREFIX_RANGE[1]}; its first "
            "address is the host's side (gateway).",
            extra={
                "fix": "use an IPv4 network in CIDR form with a prefix from "
                f"/{rules.PREFIX_RANGE[0]} to /{rules.PREFIX_RANGE[1]}, such as 192.168.56.0/24"
            },
        ),
    ] = "192.168.56.0/24"
    hosts: Annotated[
        tuple[Host, ...],
        Meta(
            min_length=2,
            max_length=rules.MAX_HOSTS,
            description="The lab's machines: exactly one registry, at least one client.",
            extra_json_schema={
                "contains": {"properties": {"role": {"const": "registry"}}},
                "minContains": 1,
                "maxContains": 1,
            },
            extra={"fix": "use a list of {name, ip, role}: one registry and 1-15 clients"},
        ),
    ] = msgspec.field(default_factory=_default_hosts)
    registry: RegistrySettings = msgspec.field(default_factory=RegistrySettings)
    push_image: Annotated[
        str,
        Meta(
            pattern=rules.HUB_IMAGE_PATTERN,
            description="Docker Hub image the tutorial pushes and pulls.",
            extra={
                "fix": "use a Docker Hub image name such as nginx:alpine "
                "(no registry host, no digest)"
            },
        ),
    ] = "nginx:alpine"
    mirror: (
        Annotated[
            str,
            Meta(
                pattern=rules.MIRROR_PATTERN,
                description="Registry mirror for Docker Hub names (registry-mirrors), e.g. a "
                "classroom cache; null = pull from Docker Hub.",
                extra={
                    "fix": "use a registry URL such as http://192.168.56.1:5555, or leave it out"
                },
            ),
        ]
        | None
    ) = None
    vagrant: VagrantSettings = msgspec.field(default_factory=VagrantSettings)
    auth: Annotated[
        AuthSettings | None,
        Meta(description="scenario secure only: the registry's login; null = user student."),
    ] = None
    from_part1: Annotated[
        bool,
        Meta(
            description="scenario secure only: start from part 1's end state (the plain-HTTP "
            "registry running, the image pushed, every host listing it in insecure-registries); "
            "part 2's steps then also take that apart.",
            extra={"fix": "use true or false"},
        ),
    ] = False

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(self.subnet)

    @property
    def gateway(self) -> IPv4Address:
        """The subnet's first address: the host side of the lab network (bridge or host-only)."""
        return self.network.network_address + 1

    @property
    def node_image(self) -> str:
        """The compose nodes' image: built from node/ by `docker compose up --build`, or
        prepared offline under the same name (sandbox/images.sh)."""
        return f"labgen/node:{rules.OS_SUITES[self.os]}"

    @property
    def box(self) -> str:
        """The Vagrant box of every VM: the spec's, or Debian's box of `os`."""
        return self.vagrant.box or rules.OS_BOXES[self.os]

    @property
    def registry_host(self) -> Host:
        return next(h for h in self.hosts if h.role == "registry")

    @property
    def clients(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == "client")

    @property
    def registry_address(self) -> str:
        """Where the LAN reaches the registry, in Docker's `host:port` form."""
        return f"{self.registry_host.ip}:{self.registry.port}"

    @property
    def login(self) -> AuthSettings:
        """The registry's login (scenario secure); its password is None until `labgen create`
        fills one in."""
        return self.auth or AuthSettings()

    @property
    def push_ref(self) -> ImageRef:
        repository, _, tag = self.push_image.partition(":")
        return ImageRef(repository=repository, tag=tag or "latest")
