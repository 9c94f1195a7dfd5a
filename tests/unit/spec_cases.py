"""Spec data shared by the spec, schema and property tests: good specs and bad ones."""

from __future__ import annotations

from typing import Any

from labgen.spec.parse import default_data

__all__ = ["default_data"]


def hosts(*rows: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"name": name, "ip": ip, "role": role} for name, ip, role in rows]


def with_hosts(*rows: tuple[str, str, str], **fields: Any) -> dict[str, Any]:
    return {"hosts": hosts(*rows), **fields}


TWO_HOSTS = (
    ("registry", "192.168.56.101", "registry"),
    ("client", "192.168.56.102", "client"),
)

GOOD_SPECS: dict[str, dict[str, Any]] = {
    "default-empty": {},
    "default-explicit": default_data(),
    "three-hosts": with_hosts(
        ("registry", "192.168.56.10", "registry"),
        ("client-a", "192.168.56.11", "client"),
        ("client-b", "192.168.56.12", "client"),
    ),
    "custom-port-subnet": {
        "name": "lab-10",
        "subnet": "10.10.0.0/24",
        "hosts": hosts(("reg", "10.10.0.10", "registry"), ("cli", "10.10.0.11", "client")),
        "registry": {"port": 5050},
    },
    "mirror": {"mirror": "http://192.168.56.1:5555"},
    "mirror-https-slash": {"mirror": "https://mirror.example.com/"},
    "solved": {"mode": "solved", "name": "registry-lab-solved"},
    "qemu-cpu-model": {"vagrant": {"libvirt_driver": "qemu", "libvirt_cpu_model": "qemu64"}},
    "registry-image-with-host": {"registry": {"image": "ghcr.io/distribution/registry:3.0"}},
    "push-image-with-namespace": {"push_image": "library/busybox:1.36"},
    "push-image-no-tag": {"push_image": "busybox"},
    "small-subnet": {
        "subnet": "192.168.57.8/29",
        "hosts": hosts(("r", "192.168.57.10", "registry"), ("c", "192.168.57.14", "client")),
    },
    "debian-12": {"os": "debian-12"},
    "old-lab-yaml-box-names-debian-12": {"vagrant": {"box": "debian/bookworm64"}},
    "debian-13-explicit-box": {"os": "debian-13", "vagrant": {"box": "debian/trixie64"}},
    "podman-client": {
        "hosts": [
            {"name": "registry", "ip": "192.168.56.101", "role": "registry"},
            {"name": "client", "ip": "192.168.56.102", "role": "client", "engine": "podman"},
        ]
    },
    "vagrant-all": {
        "vagrant": {
            "box": "generic/debian12",
            "memory": 2048,
            "cpus": 2,
            "libvirt_driver": "kvm",
            "libvirt_cpu_model": None,
        }
    },
}

# Bad specs: (id, data, field path of the problem, text the problem line must contain).
BAD_SPECS: list[tuple[str, Any, str, str]] = [
    (
        "ip-outside-subnet",
        with_hosts(("registry", "192.168.56.101", "registry"), ("client", "10.0.0.1", "client")),
        "hosts[1].ip",
        "outside subnet 192.168.56.0/24; pick an address inside it",
    ),
    (
        "duplicate-ip",
        with_hosts(
            ("registry", "192.168.56.101", "registry"), ("client", "192.168.56.101", "client")
        ),
        "hosts[1].ip",
        "already used by hosts[0]; give each host its own ip",
    ),
    (
        "duplicate-name",
        with_hosts(("same", "192.168.56.101", "registry"), ("same", "192.168.56.102", "client")),
        "hosts[1].name",
        "already used by hosts[0]; give each host its own name",
    ),
    (
        "network-address",
        with_hosts(
            ("registry", "192.168.56.0", "registry"), ("client", "192.168.56.102", "client")
        ),
        "hosts[0].ip",
        "the network address of 192.168.56.0/24; pick another address",
    ),
    (
        "broadcast-address",
        with_hosts(
            ("registry", "192.168.56.101", "registry"), ("client", "192.168.56.255", "client")
        ),
        "hosts[1].ip",
        "the broadcast address of 192.168.56.0/24; pick another address",
    ),
    (
        "gateway-address",
        with_hosts(
            ("registry", "192.168.56.1", "registry"), ("client", "192.168.56.102", "client")
        ),
        "hosts[0].ip",
        "the gateway",
    ),
    (
        "no-registry",
        with_hosts(("a", "192.168.56.101", "client"), ("b", "192.168.56.102", "client")),
        "hosts",
        "0 hosts have role registry; give exactly one",
    ),
    (
        "two-registries",
        with_hosts(
            ("a", "192.168.56.101", "registry"),
            ("b", "192.168.56.102", "registry"),
            ("c", "192.168.56.103", "client"),
        ),
        "hosts",
        "2 hosts have role registry; give exactly one",
    ),
    (
        "no-client",
        with_hosts(("a", "192.168.56.101", "registry")),
        "hosts",
        "no host has role client; add at least one client",
    ),
    (
        "empty-hosts",
        {"hosts": []},
        "hosts",
        "use a list of {name, ip, role}",
    ),
    (
        "too-many-hosts",
        {"hosts": hosts(*[(f"h{i}", f"192.168.56.{10 + i}", "client") for i in range(17)])},
        "hosts",
        "17 entries is too many; use at most 16",
    ),
    (
        "host-name-underscore",
        with_hosts(("my_registry", "192.168.56.101", "registry"), TWO_HOSTS[1]),
        "hosts[0].name",
        "use 1-32 lowercase letters, digits and '-', starting with a letter",
    ),
    (
        "host-name-uppercase",
        with_hosts(TWO_HOSTS[0], ("Client", "192.168.56.102", "client")),
        "hosts[1].name",
        "use 1-32 lowercase letters",
    ),
    (
        "host-name-too-long",
        with_hosts(TWO_HOSTS[0], ("c" * 33, "192.168.56.102", "client")),
        "hosts[1].name",
        "use 1-32 lowercase letters",
    ),
    (
        "host-name-reserved",
        with_hosts(("node", "192.168.56.101", "registry"), TWO_HOSTS[1]),
        "hosts[0].name",
        "reserved (provision/node.sh is the shared provisioning script); choose another name",
    ),
    (
        "lab-name-dot",
        {"name": "my.lab"},
        "name",
        "use 1-32 lowercase letters, digits and '-', starting with a letter",
    ),
    (
        "lab-name-leading-digit",
        {"name": "1lab"},
        "name",
        "starting with a letter",
    ),
    (
        "lab-name-trailing-dash",
        {"name": "lab-"},
        "name",
        "starting with a letter",
    ),
    ("port-zero", {"registry": {"port": 0}}, "registry.port", "use a whole number from 1 to 65535"),
    ("port-70000", {"registry": {"port": 70000}}, "registry.port", "from 1 to 65535"),
    ("port-string", {"registry": {"port": "5000"}}, "registry.port", "'5000' is not valid"),
    ("port-bool", {"registry": {"port": True}}, "registry.port", "True is not valid"),
    ("port-float", {"registry": {"port": 5000.0}}, "registry.port", "from 1 to 65535"),
    (
        "registry-image-injection",
        {"registry": {"image": "registry:2 ; rm -rf /"}},
        "registry.image",
        "use an image reference such as registry:2",
    ),
    (
        "registry-image-uppercase",
        {"registry": {"image": "Registry:2"}},
        "registry.image",
        "use an image reference such as registry:2",
    ),
    (
        "registry-image-unicode-tag",
        {"registry": {"image": "registry:zwei\u00e4"}},
        "registry.image",
        "use an image reference",
    ),
    (
        "push-image-digest",
        {"push_image": "nginx@sha256:" + "0" * 64},
        "push_image",
        "use a Docker Hub image name such as nginx:alpine (no registry host, no digest)",
    ),
    (
        "push-image-registry-host",
        {"push_image": "host:5000/x"},
        "push_image",
        "no registry host",
    ),
    (
        "push-image-dollar",
        {"push_image": "nginx:$(id)"},
        "push_image",
        "use a Docker Hub image name",
    ),
    (
        "mirror-ftp",
        {"mirror": "ftp://x"},
        "mirror",
        "use a registry URL such as http://192.168.56.1:5555, or leave it out",
    ),
    (
        "mirror-command",
        {"mirror": "http://x/$(id)"},
        "mirror",
        "use a registry URL",
    ),
    (
        "mirror-path",
        {"mirror": "http://x/v2/"},
        "mirror",
        "use a registry URL",
    ),
    (
        "unknown-top-key",
        {"nmae": "lab"},
        "nmae",
        "unknown field; use one of: name, scenario, os, mode",
    ),
    (
        "unknown-registry-key",
        {"registry": {"prot": 5000}},
        "registry.prot",
        "unknown field; use one of: port, image",
    ),
    (
        "unknown-vagrant-key",
        {"vagrant": {"ram": 1024}},
        "vagrant.ram",
        "unknown field; use one of: box, memory",
    ),
    (
        "unknown-host-key",
        {"hosts": [{**hosts(TWO_HOSTS[0])[0], "port": 1}, hosts(TWO_HOSTS[1])[0]]},
        "hosts[0].port",
        "unknown field; use one of: name, ip, role",
    ),
    (  # a key that is no field name is not shown (it may be a line of another file)
        "unknown-key-multiline",
        {"bad\nkey": 1},
        "spec",
        "1 key is not a field name (not shown",
    ),
    (
        "unknown-key-colon",
        {"registry": {":": 0, "root:x:0:0::": 1}},
        "registry",
        "2 keys are not field names (not shown",
    ),
    (
        "subnet-no-prefix",
        {"subnet": "192.168.56.0"},
        "subnet",
        "use an IPv4 network in CIDR form with a prefix from /16 to /29, such as 192.168.56.0/24",
    ),
    ("subnet-word", {"subnet": "lan"}, "subnet", "CIDR form"),
    (
        "subnet-host-bits",
        {"subnet": "192.168.56.1/24"},
        "subnet",
        "has host bits set; use its network address, such as 192.168.56.0/24",
    ),
    (
        "subnet-public",
        {"subnet": "8.8.8.0/24"},
        "subnet",
        "is public, not a private LAN range; use one inside 10.0.0.0/8",
    ),
    ("subnet-30", {"subnet": "192.168.56.0/30"}, "subnet", "with a prefix from /16 to /29"),
    ("subnet-8", {"subnet": "10.0.0.0/8"}, "subnet", "with a prefix from /16 to /29"),
    ("subnet-int", {"subnet": 24}, "subnet", "CIDR form"),
    ("name-int", {"name": 7}, "name", "7 is not valid"),
    ("scenario-unknown", {"scenario": "tls"}, "scenario", "use one of: insecure, secure"),
    ("scenario-list", {"scenario": ["insecure"]}, "scenario", "use one of: insecure, secure"),
    ("mode-unknown", {"mode": "teacher"}, "mode", "use one of: student, solved"),
    ("mode-none", {"mode": None}, "mode", "use one of: student, solved"),
    ("hosts-mapping", {"hosts": {"registry": "192.168.56.101"}}, "hosts", "use a list of"),
    ("hosts-none", {"hosts": None}, "hosts", "use a list of"),
    (
        "host-not-mapping",
        {"hosts": ["registry", hosts(TWO_HOSTS[1])[0]]},
        "hosts[0]",
        "use a mapping with: name, ip, role",
    ),
    (
        "host-ip-int",
        {"hosts": [hosts(TWO_HOSTS[0])[0], {"name": "client", "ip": 3232249958, "role": "client"}]},
        "hosts[1].ip",
        "use an IPv4 address such as 192.168.56.101",
    ),
    (
        "host-ip-word",
        with_hosts(TWO_HOSTS[0], ("client", "client.lan", "client")),
        "hosts[1].ip",
        "use an IPv4 address",
    ),
    (
        "host-role-unknown",
        with_hosts(TWO_HOSTS[0], ("client", "192.168.56.102", "server")),
        "hosts[1].role",
        "use one of: registry, client",
    ),
    (
        "host-missing-ip",
        {"hosts": [hosts(TWO_HOSTS[0])[0], {"name": "client", "role": "client"}]},
        "hosts[1].ip",
        "is missing; use an IPv4 address",
    ),
    ("registry-list", {"registry": [5000]}, "registry", "use a mapping with: port, image"),
    ("registry-image-int", {"registry": {"image": 2}}, "registry.image", "use an image"),
    ("push-image-list", {"push_image": ["nginx"]}, "push_image", "use a Docker Hub image"),
    ("mirror-bool", {"mirror": True}, "mirror", "use a registry URL"),
    ("vagrant-string", {"vagrant": "debian"}, "vagrant", "use a mapping with: box, memory"),
    ("box-int", {"vagrant": {"box": 12}}, "vagrant.box", "use a box name"),
    ("box-spaces", {"vagrant": {"box": "debian bookworm"}}, "vagrant.box", "use a box name"),
    ("memory-string", {"vagrant": {"memory": "1G"}}, "vagrant.memory", "from 256 to 65536"),
    ("memory-small", {"vagrant": {"memory": 128}}, "vagrant.memory", "from 256 to 65536"),
    ("cpus-zero", {"vagrant": {"cpus": 0}}, "vagrant.cpus", "from 1 to 64"),
    ("cpus-none", {"vagrant": {"cpus": None}}, "vagrant.cpus", "from 1 to 64"),
    (
        "driver-unknown",
        {"vagrant": {"libvirt_driver": "xen"}},
        "vagrant.libvirt_driver",
        "use one of: kvm, qemu",
    ),
    (
        "cpu-model-quote",
        {"vagrant": {"libvirt_cpu_model": "qemu64'"}},
        "vagrant.libvirt_cpu_model",
        "use a QEMU CPU model name such as qemu64, or leave it out",
    ),
    # A subnet a lab cannot use, though Python calls it private.
    ("subnet-loopback", {"subnet": "127.0.0.0/24"}, "subnet", "is loopback, not a private LAN"),
    ("subnet-link-local", {"subnet": "169.254.0.0/16"}, "subnet", "is link-local"),
    ("subnet-this-network", {"subnet": "0.0.0.0/16"}, "subnet", "is 'this network'"),
    ("subnet-reserved", {"subnet": "240.0.0.0/24"}, "subnet", "is reserved (240.0.0.0/4)"),
    ("subnet-multicast", {"subnet": "224.0.0.0/24"}, "subnet", "is multicast"),
    ("subnet-cgnat", {"subnet": "100.64.0.0/24"}, "subnet", "use one inside 10.0.0.0/8"),
    ("subnet-newline", {"subnet": "192.168.56.0/24\n"}, "subnet", "CIDR form"),
    ("port-ssh", {"registry": {"port": 22}}, "registry.port", "22 is taken on the lab's hosts"),
    # Docker reads a first component with '.' or ':', or `localhost`, as a registry host.
    ("push-image-ghcr", {"push_image": "ghcr.io/x/y"}, "push_image", "use a Docker Hub image"),
    (
        "push-image-docker-io",
        {"push_image": "docker.io/library/nginx"},
        "push_image",
        "no registry",
    ),
    ("push-image-localhost", {"push_image": "localhost/nginx"}, "push_image", "no registry host"),
    ("os-unknown", {"os": "debian-11"}, "os", "'debian-11' is not valid"),
    (
        "box-of-the-other-os",
        {"os": "debian-12", "vagrant": {"box": "debian/trixie64"}},
        "vagrant.box",
        "debian/trixie64 is the box of debian-13 but os is debian-12; remove vagrant.box or set "
        "it to debian/bookworm64",
    ),
    (
        "engine-unknown",
        {
            "hosts": [
                {"name": "registry", "ip": "192.168.56.101", "role": "registry"},
                {"name": "client", "ip": "192.168.56.102", "role": "client", "engine": "lxc"},
            ]
        },
        "hosts[1].engine",
        "'lxc' is not valid",
    ),
    (
        "podman-registry",
        {
            "hosts": [
                {
                    "name": "registry",
                    "ip": "192.168.56.101",
                    "role": "registry",
                    "engine": "podman",
                },
                {"name": "client", "ip": "192.168.56.102", "role": "client"},
            ]
        },
        "hosts[0].engine",
        "the registry host runs the registry with `docker run`",
    ),
    (
        "podman-on-debian-12",
        {
            "os": "debian-12",
            "hosts": [
                {"name": "registry", "ip": "192.168.56.101", "role": "registry"},
                {"name": "client", "ip": "192.168.56.102", "role": "client", "engine": "podman"},
            ],
        },
        "hosts[1].engine",
        "podman clients are measured on debian-13 only, and os is debian-12",
    ),
    # Python's `$` matches before a final newline: patterns must not.
    ("name-newline", {"name": "lab\n"}, "name", "'lab\\n' is not valid"),
    ("box-newline", {"vagrant": {"box": "debian/bookworm64\n"}}, "vagrant.box", "use a box name"),
    ("mirror-newline", {"mirror": "http://x:5000\n"}, "mirror", "use a registry URL"),
    (
        "host-ip-newline",
        with_hosts(TWO_HOSTS[0], ("client", "192.168.56.102\n", "client")),
        "hosts[1].ip",
        "use an IPv4 address",
    ),
    (
        "host-ip-leading-zero",
        with_hosts(TWO_HOSTS[0], ("client", "192.168.56.012", "client")),
        "hosts[1].ip",
        "use an IPv4 address",
    ),
    (
        "cpu-model-int",
        {"vagrant": {"libvirt_cpu_model": 64}},
        "vagrant.libvirt_cpu_model",
        "use a QEMU CPU model name",
    ),
]
