"""Patterns and limits that spec values must meet.

They are shared by the parser and the JSON Schema, and they are strict on purpose:
every value ends up in shell scripts, a Ruby Vagrantfile and YAML, so anything
that could carry quotes, `$(...)`, backticks or newlines is rejected here.
"""

from ipaddress import IPv4Network

# A DNS label (RFC 1123): also a valid compose service, Vagrant machine and file name.
NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$"

# Docker's reference grammar (distribution/reference), without digests.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
# ASCII only, as in Docker (Go's \w): Python's \w would also match any Unicode letter.
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
IMAGE_PATTERN = rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?$"
# Images pulled through Docker Hub (or its mirror): no registry host in the name.
HUB_IMAGE_PATTERN = rf"^{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?$"

# A registry mirror: scheme, host and optional port; nothing else.
MIRROR_PATTERN = rf"^https?://{_DOMAIN}/?$"

# A Vagrant box name as Vagrant Cloud spells them (`debian/bookworm64`) or a local name.
BOX_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?$"

# A libvirt/QEMU CPU model name (`qemu64`, `Skylake-Client-IBRS`).
CPU_MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# Host names that would collide with a file of the lab: provision/<host>.sh next to
# the shared provision/node.sh.
RESERVED_HOST_NAMES = ("node",)

PORT_RANGE = (1, 65535)
MEMORY_RANGE_MB = (256, 65536)
CPUS_RANGE = (1, 64)
# /16 is the largest lab network anyone needs; /29 leaves room for gateway + 2 hosts + 3 spare.
PREFIX_RANGE = (16, 29)
MAX_HOSTS = 16

# VirtualBox only lets host-only networks use this range unless /etc/vbox/networks.conf says more.
VIRTUALBOX_HOST_ONLY_RANGE = IPv4Network("192.168.56.0/21")
