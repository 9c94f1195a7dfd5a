"""The lab spec as JSON Schema (draft 2020-12), for editors and for checking specs in CI.

It describes the same rules `parse.py` enforces, from the same patterns and limits.
"""

from __future__ import annotations

from typing import Any

from labgen.spec import rules
from labgen.spec.parse import DEFAULT_SPEC, LIBVIRT_DRIVERS, MODES, ROLES, SCENARIOS


def _integer(bounds: tuple[int, int], description: str, default: int) -> dict[str, Any]:
    low, high = bounds
    return {
        "type": "integer",
        "minimum": low,
        "maximum": high,
        "default": default,
        "description": description,
    }


def spec_schema() -> dict[str, Any]:
    vagrant = DEFAULT_SPEC["vagrant"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "labgen lab spec",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {
                "type": "string",
                "pattern": rules.NAME_PATTERN,
                "default": DEFAULT_SPEC["name"],
                "description": "Lab name: folder under labs/, compose project name.",
            },
            "scenario": {
                "enum": list(SCENARIOS),
                "default": DEFAULT_SPEC["scenario"],
                "description": "Which part of the tutorial: insecure = part 1, plain HTTP.",
            },
            "mode": {
                "enum": list(MODES),
                "default": DEFAULT_SPEC["mode"],
                "description": "student: hosts get Docker only; solved: provisioning also "
                "does every step of the tutorial.",
            },
            "subnet": {
                "type": "string",
                "default": DEFAULT_SPEC["subnet"],
                "description": "Private IPv4 network of the lab, CIDR, "
                f"/{rules.PREFIX_RANGE[0]} to /{rules.PREFIX_RANGE[1]}; "
                "its first address is the host's side (gateway).",
            },
            "hosts": {
                "type": "array",
                "minItems": 2,
                "maxItems": rules.MAX_HOSTS,
                "default": DEFAULT_SPEC["hosts"],
                "description": "The lab's machines: exactly one registry, at least one client.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "ip", "role"],
                    "properties": {
                        "name": {
                            "type": "string",
                            "pattern": rules.NAME_PATTERN,
                            "not": {"enum": list(rules.RESERVED_HOST_NAMES)},
                            "description": "Host name (DNS label), unique; not "
                            + ", ".join(rules.RESERVED_HOST_NAMES)
                            + ".",
                        },
                        "ip": {
                            "type": "string",
                            "format": "ipv4",
                            "description": "Static address inside subnet; not its network, "
                            "broadcast or first (gateway) address; unique.",
                        },
                        "role": {"enum": list(ROLES)},
                    },
                },
            },
            "registry": {
                "type": "object",
                "additionalProperties": False,
                "default": DEFAULT_SPEC["registry"],
                "properties": {
                    "port": _integer(
                        rules.PORT_RANGE,
                        "Host port the registry is published on.",
                        DEFAULT_SPEC["registry"]["port"],
                    ),
                    "image": {
                        "type": "string",
                        "pattern": rules.IMAGE_PATTERN,
                        "default": DEFAULT_SPEC["registry"]["image"],
                        "description": "Registry image (distribution); the tutorial uses "
                        "registry:2.",
                    },
                },
            },
            "push_image": {
                "type": "string",
                "pattern": rules.HUB_IMAGE_PATTERN,
                "default": DEFAULT_SPEC["push_image"],
                "description": "Docker Hub image the tutorial pushes and pulls.",
            },
            "mirror": {
                "type": ["string", "null"],
                "pattern": rules.MIRROR_PATTERN,
                "default": None,
                "description": "Registry mirror for Docker Hub names (registry-mirrors), "
                "e.g. a classroom cache; null = pull from Docker Hub.",
            },
            "vagrant": {
                "type": "object",
                "additionalProperties": False,
                "default": vagrant,
                "properties": {
                    "box": {
                        "type": "string",
                        "pattern": rules.BOX_PATTERN,
                        "default": vagrant["box"],
                        "description": "Vagrant box of every VM.",
                    },
                    "memory": _integer(
                        rules.MEMORY_RANGE_MB, "MiB of RAM per VM.", vagrant["memory"]
                    ),
                    "cpus": _integer(rules.CPUS_RANGE, "Virtual CPUs per VM.", vagrant["cpus"]),
                    "libvirt_driver": {
                        "enum": list(LIBVIRT_DRIVERS),
                        "default": vagrant["libvirt_driver"],
                        "description": "kvm, or qemu (software emulation) where KVM is unusable.",
                    },
                    "libvirt_cpu_model": {
                        "type": ["string", "null"],
                        "pattern": rules.CPU_MODEL_PATTERN,
                        "default": None,
                        "description": "Custom CPU model (e.g. qemu64) for "
                        "libvirt; null = libvirt's default.",
                    },
                },
            },
        },
    }
