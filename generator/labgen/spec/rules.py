"""Patterns and limits that spec values must meet.

They are used by the model (decoding and JSON Schema come from it) and by the cross-field
rules, and they are strict on purpose: every value ends up in shell scripts, a Ruby
Vagrantfile and YAML, so anything that could carry quotes, `$(...)`, backticks or
newlines is rejected here.
"""

from ipaddress import IPv4Network

# End of text in both Python's `re` and ECMA-262 (JSON Schema). Python's `$` also matches
# before a final newline, and msgspec and jsonschema use re.search: `$` alone would let
# "lab\n" through.
_END = r"(?![\s\S])"


def anchored(body: str) -> str:
    """A pattern that must match the whole value, trailing newline included."""
    return rf"^(?:{body}){_END}"


# The registry password (scenario secure): it goes into shell commands, htpasswd and
# the handout, so only characters that need no quoting; bcrypt reads 72 bytes at most.
PASSWORD_PATTERN = anchored(r"[A-Za-z0-9._-]{8,72}")

# A DNS label (RFC 1123): also a valid compose service, Vagrant machine and file name.
NAME_PATTERN = anchored(r"[a-z]([a-z0-9-]{0,30}[a-z0-9])?")

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = anchored(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# /16 is the largest lab network anyone needs; /29 leaves room for gateway + 2 hosts + 3 spare.
PREFIX_RANGE = (16, 29)
SUBNET_PATTERN = anchored(rf"{_OCTET}(?:\.{_OCTET}){{3}}/(?:1[6-9]|2[0-9])")

# Docker's reference grammar (distribution/reference), without digests.
_SEPARATOR = r"(?:[._]|__|-+)"
_COMPONENT = rf"[a-z0-9]+(?:{_SEPARATOR}[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
# ASCII only, as in Docker (Go's \w): Python's \w would also match any Unicode letter.
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
IMAGE_PATTERN = anchored(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?")
# A Docker Hub name. Docker reads the first of several components as a registry host
# when it holds a '.' or ':' or is `localhost`, so that component may hold neither.
_HUB_FIRST = r"(?!localhost/)[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*"
HUB_IMAGE_PATTERN = anchored(rf"(?:{_HUB_FIRST}(?:/{_COMPONENT})+|{_COMPONENT})(?::{_TAG})?")

# A registry mirror: scheme, host and optional port; nothing else.
MIRROR_PATTERN = anchored(rf"https?://{_DOMAIN}/?")

# A Vagrant box name as Vagrant Cloud spells them (`debian/bookworm64`) or a local name.
BOX_PATTERN = anchored(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?")

# Each `os`: the Vagrant box Debian publishes for it, and the compose node image's tag.
OS_BOXES = {"debian-12": "debian/bookworm64", "debian-13": "debian/trixie64"}
OS_SUITES = {"debian-12": "bookworm", "debian-13": "trixie"}

# A libvirt/QEMU CPU model name (`qemu64`, `Skylake-Client-IBRS`).
CPU_MODEL_PATTERN = anchored(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Host names that would collide with a file of the lab: provision/<host>.sh next to
# the shared provisioning script provision/node.sh.
RESERVED_HOST_NAMES = ("node",)

PORT_RANGE = (1, 65535)
# Ports the lab's hosts already use: the registry cannot be published there.
# Part 2 (scenario secure) publishes the lab CA's certificate on this port of the registry host.
CA_SHARE_PORT = 8000
RESERVED_PORTS = {22: "SSH (Vagrant reaches the VMs through it)"}
MEMORY_RANGE_MB = (256, 65536)
CPUS_RANGE = (1, 64)
MAX_HOSTS = 16

# Lab networks come from the private LAN ranges (RFC 1918). Other "private" ranges in
# Python's sense (loopback, link-local, 0/8, 240/4, ...) cannot carry a lab.
LAN_RANGES = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
)

# VirtualBox only lets host-only networks use this range unless /etc/vbox/networks.conf says more.
VIRTUALBOX_HOST_ONLY_RANGE = IPv4Network("192.168.56.0/21")

# What a spec file may cost before it is turned into objects.
MAX_SPEC_BYTES = 64 * 1024
MAX_YAML_DEPTH = 20
MAX_YAML_NODES = 10_000

# The user `vagrant ssh` logs in as, and so the one the checker's commands run as on a
# VM; solved-mode provisioning (root) runs the steps as this user too, so that both see
# the same home (~/.docker/config.json after `docker login`).
VAGRANT_LOGIN_USER = "vagrant"


def vm_provision_args(host: str) -> list[str]:
    """node.sh's arguments on a VM, for Vagrant's provisioner and `labgen provision` alike.
    Provisioning names the VM: Vagrant's own `vm.hostname` restarts the NIC afterwards to
    renew its DHCP lease, which took 20 s of `vagrant up` under software emulation."""
    return ["provision", host, "--as", VAGRANT_LOGIN_USER, "--set-hostname"]
