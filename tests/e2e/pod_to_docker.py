"""What a StatefulSet's pod describes, run by `docker run` on the sandbox engine.

No Kubernetes cluster can run on this machine. What can be run is the container a pod
spec describes: this module turns labgen's generated StatefulSet (and the Secrets and
Service it uses) into the `docker run` of its one pod, the way a kubelet would start it:
image and its entrypoint, env, privileged, CPU and memory limits (the CPU request as
cpu-shares, the kubelet's formula), the volume claim as a Docker volume, each Secret
volume laid out as the kubelet lays it out (a `..data` link to a dated folder, a link per
top-level entry, the items' modes), a subPath file, and a NodePort as a published port.

Any pod or container field it does not know makes it stop: nothing in the pod spec is
silently left out. Fields that only a cluster acts on are named in CLUSTER_ONLY.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

Obj = dict[str, Any]

# Pod and container fields the kubelet acts on and `docker run` has no part in: the
# readiness probe (the stand-in kubectl runs it on `get pod`), service links and the
# API token (nothing of the cluster exists here to link or mount), and the image pull
# policy (the image is local).
CLUSTER_ONLY = {
    "readinessProbe",
    "imagePullPolicy",
    "ports",
    "automountServiceAccountToken",
    "enableServiceLinks",
}
CONTAINER_FIELDS = {
    "name",
    "image",
    "command",
    "args",
    "env",
    "securityContext",
    "resources",
    "volumeMounts",
} | CLUSTER_ONLY
POD_FIELDS = {"containers", "volumes"} | CLUSTER_ONLY


@dataclass(frozen=True)
class MachineExtras:
    """What this machine alone needs (no CAP_SYS_RESOURCE for privileged containers): an
    OCI runtime wrapper for the box and, copied into the box, for its nodes, with the
    compose override that names it. Not part of the pod; listed here to be seen."""

    runtime: str
    wrapper: Path
    lab_files: dict[str, str] = field(default_factory=dict)


class CannotRun(Exception):
    """The pod spec asks for something this translation does not do."""


def pod_name(statefulset: Obj) -> str:
    return f"{statefulset['metadata']['name']}-0"


def claim_volume(claim: str, pod: str) -> str:
    """A volume claim template's claim for the pod: CLAIM-POD, as Kubernetes names it."""
    return f"{claim}-{pod}"


def lay_out_secret(secret: Obj, volume: Obj, target: Path) -> None:
    """Write a Secret volume as the kubelet does: target/..DATE/ holds the files (each
    item at its path, with its mode), target/..data links to it, and each top-level entry
    is a link through ..data."""
    data: dict[str, str] = secret.get("stringData", {})
    items = volume.get("items") or [{"key": key, "path": key} for key in data]
    dated = target / "..2026_01_01_00_00_00.000000000"
    dated.mkdir(parents=True)
    for item in items:
        path = dated / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]], encoding="utf-8")
        path.chmod(item.get("mode", volume.get("defaultMode", 0o644)))
    (target / "..data").symlink_to(dated.name)
    for top in sorted({PurePosixPath(item["path"]).parts[0] for item in items}):
        (target / top).symlink_to(f"..data/{top}")


def docker_run(
    statefulset: Obj,
    secrets: dict[str, Obj],
    services: list[Obj],
    volumes_dir: Path,
    extras: MachineExtras | None = None,
) -> tuple[list[list[str]], list[str]]:
    """(`docker volume create` argvs, the `docker run` argv) of the StatefulSet's pod.
    Secret volumes are laid out under `volumes_dir`."""
    spec = statefulset["spec"]
    template = spec["template"]
    pod = template["spec"]
    pod_labels: dict[str, str] = template["metadata"]["labels"]
    unknown = set(pod) - POD_FIELDS
    if unknown:
        raise CannotRun(f"pod fields not translated: {sorted(unknown)}")
    (container,) = pod["containers"]
    unknown = set(container) - CONTAINER_FIELDS
    if unknown:
        raise CannotRun(f"container fields not translated: {sorted(unknown)}")
    name = pod_name(statefulset)
    argv = ["docker", "run", "--detach", "--name", name, "--hostname", name]
    argv += [arg for key, value in pod_labels.items() for arg in ("--label", f"{key}={value}")]
    if container.get("securityContext", {}).get("privileged"):
        argv.append("--privileged")
    argv += _resources(container.get("resources", {}))
    for variable in container.get("env", []):
        argv += ["--env", f"{variable['name']}={variable['value']}"]

    creates: list[list[str]] = []
    claims = {claim["metadata"]["name"]: claim for claim in spec.get("volumeClaimTemplates", [])}
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        source = _mount_source(mount, claims, volumes, secrets, name, volumes_dir, creates, extras)
        mode = ":ro" if mount.get("readOnly") else ""
        argv += ["--volume", f"{source}:{mount['mountPath']}{mode}"]

    for service in services:
        selector = service["spec"].get("selector", {})
        if service["spec"]["type"] == "NodePort" and selector.items() <= pod_labels.items():
            for port in service["spec"]["ports"]:
                argv += ["--publish", f"{port['nodePort']}:{_target_port(container, port)}"]
    if extras:
        wrapper = f"/etc/labbox/runtimes/{extras.runtime}"
        argv += ["--runtime", extras.runtime, "--volume", f"{extras.wrapper}:{wrapper}:ro"]
    argv.append(container["image"])
    if "command" in container:
        argv[-1:-1] = ["--entrypoint", container["command"][0]]
        argv += [*container["command"][1:], *container.get("args", [])]
    else:
        argv += container.get("args", [])
    return creates, argv


def _resources(resources: Obj) -> list[str]:
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    argv = []
    if "cpu" in limits:
        argv += ["--cpus", f"{_cpus(limits['cpu']):g}"]
    if "memory" in limits:
        memory = _bytes(limits["memory"])
        # No swap beyond the limit, as a kubelet runs pods.
        argv += ["--memory", str(memory), "--memory-swap", str(memory)]
    if "cpu" in requests:
        # The kubelet's cpu.shares for a request: millicores * 1024 / 1000.
        argv += ["--cpu-shares", str(round(_cpus(requests["cpu"]) * 1024))]
    return argv


def _cpus(value: str) -> float:
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _bytes(value: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(value[:-2]) * units[value[-2:]]


def _target_port(container: Obj, port: Obj) -> int:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    return int(named[target])


def _mount_source(
    mount: Obj,
    claims: dict[str, Obj],
    volumes: dict[str, Obj],
    secrets: dict[str, Obj],
    pod: str,
    volumes_dir: Path,
    creates: list[list[str]],
    extras: MachineExtras | None,
) -> str:
    if mount["name"] in claims:
        claim = claims[mount["name"]]
        volume = claim_volume(mount["name"], pod)
        labels = claim["metadata"].get("labels", {})
        label_args = [arg for k, v in labels.items() for arg in ("--label", f"{k}={v}")]
        creates.append(["docker", "volume", "create", *label_args, volume])
        return volume
    volume = volumes[mount["name"]]
    if set(volume) != {"name", "secret"}:
        raise CannotRun(f"volume {mount['name']}: only Secret volumes and claims are translated")
    target = volumes_dir / pod / mount["name"]
    lay_out_secret(secrets[volume["secret"]["secretName"]], volume["secret"], target)
    if extras and mount["mountPath"] == "/lab":
        for path, content in extras.lab_files.items():
            extra = target / "..data" / path
            extra.parent.mkdir(parents=True, exist_ok=True)
            extra.write_text(content, encoding="utf-8")
    if "subPath" in mount:
        return os.path.realpath(target / mount["subPath"])
    return str(target)
