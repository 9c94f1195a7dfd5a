"""A hosted class's Kubernetes objects, as plain data built by small pure functions.

Each student gets the lab box of a hosted class on Docker (templates/labbox/) as a pod: a
StatefulSet of one (a stable name, and a volume claim for the box engine's
/var/lib/docker, so a restarted pod keeps the student's work), a Secret with their
account (mounted as a file, as `docker cp` puts it in the box on Docker) and a Service
for SSH. The class has its namespace, a ResourceQuota and a LimitRange from `hosted:`,
its lab folder as a Secret (part 2's lab carries its registry password) and
NetworkPolicies. Every object carries the labels labgen.class (and labgen.student), as
the boxes do on Docker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

Obj = dict[str, Any]
SshExposure = Literal["nodeport", "loadbalancer", "none"]

CLASS_LABEL = "labgen.class"
STUDENT_LABEL = "labgen.student"
ROLE_LABEL = "labgen.role"  # box, or server (the class's own server, e.g. a web workspace)
BOX_CONTAINER = "box"
# The box's boot script writes it once its engine and the lab's nodes are up.
READY_FILE = "/run/labbox/ready"
ACCOUNT_FILE = "/etc/labbox/student"
LAB_DIR = "/lab"
# A StatefulSet's pods carry controller-revision-hash=NAME-HASH (11 characters more), a
# label value of at most 63.
MAX_NAME = 52
SECRET_FILES = "*-secret.yaml"


@dataclass(frozen=True)
class LabFile:
    """A file of the lab folder the box runs (`path` relative, with '/')."""

    path: str
    content: str
    executable: bool = False


@dataclass(frozen=True)
class ClassCluster:
    """Everything class-wide the objects are made from (plain values from the class spec)."""

    name: str
    namespace: str
    image: str
    lab_gateway: str
    lab_files: tuple[LabFile, ...]
    cpus: float = 1.0
    cpu_request: float = 0.25
    memory: str = "768M"  # Docker's units: M is MiB
    storage: str = "10G"
    storage_class: str | None = None
    ssh: SshExposure = "nodeport"
    runtime_class: str | None = None


@dataclass(frozen=True)
class PodSeat:
    """One student's pod: who logs in, on which port, and their account."""

    student: str
    ssh_port: int
    account: str  # "STUDENT:PASSWORD\n", the file the box's boot script gives to chpasswd


@dataclass(frozen=True)
class ManifestFile:
    path: str
    content: str
    private: bool = False  # holds a password: mode 0600, kept out of git


# ---------------------------------------------------------------- names and values
def object_name(class_name: str, student: str) -> str:
    """`labgen-CLASS-STUDENT`, shortened with a hash of it where Kubernetes needs fewer characters."""
    full = f"labgen-{class_name}-{student}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: MAX_NAME - 9].rstrip('-')}-{digest}"


def pod_name(class_name: str, student: str) -> str:
    """The one pod of a student's StatefulSet."""
    return f"{object_name(class_name, student)}-0"


def lab_secret_name(class_name: str) -> str:
    # A dot: no student's object name (DNS labels only) can take it.
    return f"labgen-{class_name}.lab"


def class_labels(class_name: str) -> dict[str, str]:
    return {CLASS_LABEL: class_name}


def student_labels(class_name: str, student: str) -> dict[str, str]:
    return {CLASS_LABEL: class_name, STUDENT_LABEL: student}


def quantity(size: str, times: int = 1) -> str:
    """A Docker-style size (768M: MiB) as a Kubernetes quantity (768Mi), `times` over."""
    return f"{int(size[:-1]) * times}{size[-1].upper()}i"


def millicpu(cpus: float, times: int = 1) -> str:
    return f"{round(cpus * 1000 * times)}m"


def _meta(name: str, namespace: str, labels: dict[str, str]) -> Obj:
    return {"name": name, "namespace": namespace, "labels": labels}


def secret_key(path: str) -> str:
    """A lab file's key in the lab Secret (keys cannot hold '/')."""
    return path.replace("/", "__")


# ---------------------------------------------------------------- class-wide objects
def namespace(c: ClassCluster) -> Obj:
    # The boxes run privileged (each runs a Docker Engine): Pod Security Admission must let them.
    labels = {**class_labels(c.name), "pod-security.kubernetes.io/enforce": "privileged"}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": c.namespace, "labels": labels},
    }


def resource_quota(c: ClassCluster, students: int) -> Obj:
    """The class's whole share: `students` boxes' worth of each limit."""
    hard = {
        "pods": str(students),
        "persistentvolumeclaims": str(students),
        "requests.storage": quantity(c.storage, students),
        "requests.cpu": millicpu(c.cpu_request, students),
        "limits.cpu": millicpu(c.cpus, students),
        "requests.memory": quantity(c.memory, students),
        "limits.memory": quantity(c.memory, students),
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta("labgen-quota", c.namespace, class_labels(c.name)),
        "spec": {"hard": hard},
    }


def limit_range(c: ClassCluster) -> Obj:
    """One box's share, the most any container or volume claim in the namespace may take."""
    limits = {"cpu": millicpu(c.cpus), "memory": quantity(c.memory)}
    requests = {"cpu": millicpu(c.cpu_request), "memory": quantity(c.memory)}
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta("labgen-limits", c.namespace, class_labels(c.name)),
        "spec": {
            "limits": [
                {"type": "Container", "max": limits, "default": limits, "defaultRequest": requests},
                {"type": "PersistentVolumeClaim", "max": {"storage": quantity(c.storage)}},
            ]
        },
    }


def network_policies(c: ClassCluster) -> list[Obj]:
    """Nothing in the namespace sends or takes traffic, but: a box takes SSH (TCP 22) from
    its Service's path (NodePort or load balancer traffic arrives from outside the
    namespace, from addresses no policy can name), and anything from the class's server.

    No egress at all, not even DNS: the box answers its lab's DNS and serves its lab's
    images itself (the image carries the hub), and replies to SSH are allowed as part of
    the connection. So a box reaches no other student's pod, no API server, nothing off
    the cluster. A lab whose `mirror` is outside the box needs a policy of its own.
    """
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("labgen-deny-all", c.namespace, class_labels(c.name)),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    box_ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("labgen-box-ingress", c.namespace, class_labels(c.name)),
        "spec": {
            "podSelector": {"matchLabels": {**class_labels(c.name), ROLE_LABEL: "box"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"ports": [{"protocol": "TCP", "port": 22}]},
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchLabels": {**class_labels(c.name), ROLE_LABEL: "server"}
                            }
                        }
                    ]
                },
            ],
        },
    }
    return [deny, box_ingress]


def lab_secret(c: ClassCluster) -> Obj:
    """The lab folder every box runs (mounted at /lab)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(lab_secret_name(c.name), c.namespace, class_labels(c.name)),
        "type": "Opaque",
        "stringData": {secret_key(f.path): f.content for f in c.lab_files},
    }


# ---------------------------------------------------------------- a student's objects
def account_secret(c: ClassCluster, seat: PodSeat) -> Obj:
    """The student's account, mounted as a file at /etc/labbox/student."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            object_name(c.name, seat.student), c.namespace, student_labels(c.name, seat.student)
        ),
        "type": "Opaque",
        "stringData": {"student": seat.account},
    }


def ssh_service(c: ClassCluster, seat: PodSeat) -> Obj:
    """SSH to the box: the seat's port on every node (nodeport), its own address (loadbalancer),
    or inside the cluster only (none)."""
    labels = student_labels(c.name, seat.student)
    port: Obj = {"name": "ssh", "protocol": "TCP", "port": 22, "targetPort": "ssh"}
    spec: Obj = {"type": "ClusterIP", "selector": {**labels, ROLE_LABEL: "box"}, "ports": [port]}
    if c.ssh == "nodeport":
        spec["type"] = "NodePort"
        port["nodePort"] = seat.ssh_port
    elif c.ssh == "loadbalancer":
        spec["type"] = "LoadBalancer"
        port["port"] = seat.ssh_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(object_name(c.name, seat.student), c.namespace, labels),
        "spec": spec,
    }


def box_container(c: ClassCluster, seat: PodSeat) -> Obj:
    """The lab box, as `docker run` starts it on a Docker server (classroom's LabBox)."""
    limits = {"cpu": millicpu(c.cpus), "memory": quantity(c.memory)}
    return {
        "name": BOX_CONTAINER,
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "LABBOX_USER", "value": seat.student},
            {"name": "LABBOX_LAB_GATEWAY", "value": c.lab_gateway},
        ],
        "ports": [{"name": "ssh", "containerPort": 22, "protocol": "TCP"}],
        # The box runs a Docker Engine whose nodes run Docker Engines: a VM's root. Under a
        # VM RuntimeClass (kata) that root is the VM's, not the node's.
        "securityContext": {"privileged": True},
        "resources": {
            "requests": {"cpu": millicpu(c.cpu_request), "memory": quantity(c.memory)},
            "limits": limits,
        },
        # Ready = the lab's nodes are up: the Service sends SSH only to a box worth logging in to.
        "readinessProbe": {
            "exec": {"command": ["test", "-f", READY_FILE]},
            "periodSeconds": 5,
        },
        "volumeMounts": [
            {"name": "docker", "mountPath": "/var/lib/docker"},
            {"name": "lab", "mountPath": LAB_DIR, "readOnly": True},
            {"name": "account", "mountPath": ACCOUNT_FILE, "subPath": "student", "readOnly": True},
        ],
    }


def stateful_set(c: ClassCluster, seat: PodSeat) -> Obj:
    name = object_name(c.name, seat.student)
    labels = student_labels(c.name, seat.student)
    lab_items = [
        {"key": secret_key(f.path), "path": f.path, "mode": 0o555 if f.executable else 0o444}
        for f in c.lab_files
    ]
    pod: Obj = {
        # The box needs no API access: no token in it.
        "automountServiceAccountToken": False,
        # Nor the addresses of the other students' Services as environment variables.
        "enableServiceLinks": False,
        "containers": [box_container(c, seat)],
        "volumes": [
            {"name": "lab", "secret": {"secretName": lab_secret_name(c.name), "items": lab_items}},
            {"name": "account", "secret": {"secretName": name, "defaultMode": 0o400}},
        ],
    }
    if c.runtime_class:
        pod["runtimeClassName"] = c.runtime_class
    claim: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": quantity(c.storage)}},
    }
    if c.storage_class:
        claim["storageClassName"] = c.storage_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name, c.namespace, labels),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, ROLE_LABEL: "box"}},
                "spec": pod,
            },
            "volumeClaimTemplates": [
                {"metadata": {"name": "docker", "labels": labels}, "spec": claim}
            ],
        },
    }


# ---------------------------------------------------------------- documents and the folder
def class_objects(c: ClassCluster, students: int) -> list[Obj]:
    """What the whole class shares, the namespace first (the rest lives in it)."""
    return [namespace(c), resource_quota(c, students), limit_range(c), *network_policies(c)]


def student_objects(c: ClassCluster, seat: PodSeat) -> list[Obj]:
    return [ssh_service(c, seat), stateful_set(c, seat)]


def to_yaml(objects: Sequence[Obj]) -> str:
    """YAML documents, one per object; multi-line strings (the lab's files) as blocks."""
    return "".join(
        "---\n" + yaml.dump(o, Dumper=_Dumper, sort_keys=False, allow_unicode=True) for o in objects
    )


def kustomize_folder(c: ClassCluster, seats: Sequence[PodSeat]) -> list[ManifestFile]:
    """The folder `labgen class manifests` writes: `kubectl apply -k` applies it whole.
    The files holding passwords are private and kept out of git."""
    files = [
        ManifestFile("class.yaml", to_yaml(class_objects(c, len(seats)))),
        ManifestFile("lab-secret.yaml", to_yaml([lab_secret(c)]), private=True),
    ]
    for seat in seats:
        files.append(
            ManifestFile(f"students/{seat.student}.yaml", to_yaml(student_objects(c, seat)))
        )
        files.append(
            ManifestFile(
                f"students/{seat.student}-secret.yaml",
                to_yaml([account_secret(c, seat)]),
                private=True,
            )
        )
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f.path for f in files],
    }
    header = (
        f"# Class {c.name} on Kubernetes, written by `labgen class manifests`.\n"
        "# Apply with `kubectl apply -k .`; the *-secret.yaml files hold the students'\n"
        "# passwords and the lab (mode 0600, kept out of git by .gitignore).\n"
    )
    return [
        ManifestFile("kustomization.yaml", header + yaml.safe_dump(kustomization, sort_keys=False)),
        ManifestFile(".gitignore", f"{SECRET_FILES}\n"),
        *files,
    ]


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # each object written out in full: no &id001 anchors


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
