"""The validated lab model. Every value here has passed `parse.py`'s checks."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

Role = Literal["registry", "client"]
Mode = Literal["student", "solved"]
Scenario = Literal["insecure"]
LibvirtDriver = Literal["kvm", "qemu"]


@dataclass(frozen=True)
class Host:
    name: str
    ip: IPv4Address
    role: Role


@dataclass(frozen=True)
class RegistrySettings:
    port: int
    image: str


@dataclass(frozen=True)
class VagrantSettings:
    box: str
    memory: int
    cpus: int
    libvirt_driver: LibvirtDriver
    libvirt_cpu_model: str | None


@dataclass(frozen=True)
class ImageRef:
    """A Docker Hub image name split the way the tutorial uses it (`nginx:alpine`)."""

    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class LabSpec:
    name: str
    scenario: Scenario
    mode: Mode
    subnet: IPv4Network
    hosts: tuple[Host, ...]
    registry: RegistrySettings
    push_image: ImageRef
    mirror: str | None
    vagrant: VagrantSettings

    @property
    def gateway(self) -> IPv4Address:
        """The subnet's first address: the host side of the lab network (bridge or host-only)."""
        return self.subnet.network_address + 1

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
