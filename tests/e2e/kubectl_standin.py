"""A kubectl STAND-IN for the end-to-end test: no Kubernetes cluster runs on this machine.

It takes exactly the command lines labgen's pod backend builds and does their equivalent
on the sandbox Docker engine (DOCKER_HOST), so that labgen's kubernetes path of class up,
check and down runs end to end against real boxes:

- `apply --filename -`: keeps each object in a state folder; a StatefulSet's pod is
  started with the `docker run` that pod_to_docker.py derives from its spec (its Secrets
  laid out as a kubelet would, its NodePort Service published); an object in a namespace
  that was never applied is refused, as an API server refuses it.
- `get pod POD --output json`: the container's state as a pod status (Running, Pending,
  Failed), Ready from the pod's readiness probe run in the box.
- `exec --stdin POD --container C -- CMD...`: `docker exec -i POD CMD...`.
- `get statefulset --selector SEL --output json`: the kept ones with those labels.
- `logs POD --container C --tail N`: `docker logs`.
- `delete KINDS --selector SEL ...`: removes the kept objects with those labels, and
  for statefulsets and persistentvolumeclaims the pods' containers and volumes.

It is not kubectl: no API server, no scheduler, no NetworkPolicy, no RuntimeClass.
Machine extras (pod_to_docker.MachineExtras) come from LABGEN_STANDIN_RUNTIME=NAME=PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pod_to_docker import MachineExtras, docker_run, pod_name

STATE = Path(os.environ["LABGEN_KUBECTL_STANDIN_STATE"])
CLUSTER_SCOPED = {"Namespace"}
# `kubectl delete` kind names → the kinds kept.
KINDS = {
    "statefulset": "StatefulSet",
    "service": "Service",
    "secret": "Secret",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "networkpolicy": "NetworkPolicy",
    "resourcequota": "ResourceQuota",
    "limitrange": "LimitRange",
    "namespace": "Namespace",
}


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        fail(f"stand-in: docker {args[0]} failed: {done.stderr.strip()}")
    return done


def object_path(kind: str, namespace: str, name: str) -> Path:
    scope = "_cluster" if kind in CLUSTER_SCOPED else namespace
    return STATE / "objects" / kind / scope / f"{name}.json"


def kept(kind: str, namespace: str) -> list[dict[str, Any]]:
    folder = STATE / "objects" / kind / ("_cluster" if kind in CLUSTER_SCOPED else namespace)
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def keep(obj: dict[str, Any], namespace: str) -> None:
    path = object_path(obj["kind"], namespace, obj["metadata"]["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(obj))
    temp.replace(path)


def extras() -> MachineExtras | None:
    value = os.environ.get("LABGEN_STANDIN_RUNTIME")
    if not value:
        return None
    name, _, wrapper = value.partition("=")
    override = os.environ.get("LABGEN_STANDIN_LAB_OVERRIDE", "")
    files = {".labgen/compose.runtime.yml": Path(override).read_text()} if override else {}
    return MachineExtras(name, Path(wrapper), files)


def apply(namespace: str) -> None:
    for obj in yaml.safe_load_all(sys.stdin.read()):
        if not obj:
            continue
        where = obj["metadata"].get("namespace", namespace)
        if obj["kind"] not in CLUSTER_SCOPED:
            if where != namespace:
                fail(f"error: the namespace from the provided object {where!r} does not match")
            if not object_path("Namespace", "", where).exists():
                fail(f'Error from server (NotFound): namespaces "{where}" not found')
        keep(obj, where)
        if obj["kind"] == "StatefulSet":
            start_pod(obj, where)
        print(f"{obj['kind'].lower()}/{obj['metadata']['name']} configured")


def start_pod(statefulset: dict[str, Any], namespace: str) -> None:
    name = pod_name(statefulset)
    if docker("container", "inspect", name, check=False).returncode == 0:
        return  # the pod exists: a StatefulSet keeps it
    secrets = {s["metadata"]["name"]: s for s in kept("Secret", namespace)}
    volumes = STATE / "volumes"
    for leftover in (volumes / name).glob("*"):
        subprocess.run(["rm", "-rf", str(leftover)], check=True)
    creates, run = docker_run(statefulset, secrets, kept("Service", namespace), volumes, extras())
    for create in creates:
        if docker("volume", "inspect", create[-1], check=False).returncode != 0:
            docker(*create[1:])
    docker(*run[1:])


def get_pod(namespace: str, name: str) -> None:
    done = docker("container", "inspect", name, check=False)
    if done.returncode != 0:
        fail(f'Error from server (NotFound): pods "{name}" not found')
    state = json.loads(done.stdout)[0]["State"]
    if state["Running"]:
        probe = docker("exec", name, "test", "-f", "/run/labbox/ready", check=False)
        status = {
            "phase": "Running",
            "containerStatuses": [
                {"name": "box", "ready": probe.returncode == 0, "state": {"running": {}}}
            ],
        }
    elif state["Status"] == "created":
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        status = {"phase": "Pending", "containerStatuses": [{"name": "box", "state": waiting}]}
    else:
        waiting = {"waiting": {"reason": "CrashLoopBackOff"}}
        status = {"phase": "Running", "containerStatuses": [{"name": "box", "state": waiting}]}
    print(
        json.dumps(
            {"kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "status": status}
        )
    )


def delete(namespace: str, kinds: str, selector: str) -> None:
    wanted = dict(pair.split("=", 1) for pair in selector.split(","))
    filters = [arg for k, v in wanted.items() for arg in ("--filter", f"label={k}={v}")]
    for kind in kinds.split(","):
        kept_kind = KINDS[kind]
        for obj in kept(kept_kind, namespace):
            if wanted.items() <= obj["metadata"].get("labels", {}).items():
                object_path(kept_kind, namespace, obj["metadata"]["name"]).unlink()
                print(f'{kind} "{obj["metadata"]["name"]}" deleted')
        if kind == "statefulset":
            pods = docker("ps", "--all", "--quiet", *filters).stdout.split()
            if pods:
                docker("rm", "--force", *pods)
        if kind == "persistentvolumeclaim":
            claims = docker("volume", "ls", "--quiet", *filters).stdout.split()
            if claims:
                docker("volume", "rm", "--force", *claims)


def main(argv: list[str]) -> None:
    namespace = "default"
    rest: list[str] = []
    while argv:
        word = argv.pop(0)
        if word == "--namespace":
            namespace = argv.pop(0)
        elif word == "--context":
            argv.pop(0)  # one engine: every context is this one
        else:
            rest.append(word)
            if word == "--":
                rest += argv
                break
    verb, *args = rest
    if verb == "apply" and args == ["--filename", "-"]:
        apply(namespace)
    elif verb == "get" and args[0] == "pod" and args[2:] == ["--output", "json"]:
        get_pod(namespace, args[1])
    elif verb == "get" and args[0] == "statefulset" and args[1] == "--selector":
        wanted = dict(pair.split("=", 1) for pair in args[2].split(","))
        items = [
            o
            for o in kept("StatefulSet", namespace)
            if wanted.items() <= o["metadata"].get("labels", {}).items()
        ]
        print(json.dumps({"kind": "List", "items": items}))
    elif verb == "exec" and args[0] == "--stdin" and args[2] == "--container" and args[4] == "--":
        if docker("container", "inspect", args[1], check=False).returncode != 0:
            fail(f'Error from server (NotFound): pods "{args[1]}" not found')
        os.execvp("docker", ["docker", "exec", "--interactive", args[1], *args[5:]])
    elif verb == "logs" and args[1] == "--container":
        os.execvp("docker", ["docker", "logs", "--tail", args[4], args[0]])
    elif verb == "delete" and args[1] == "--selector":
        delete(namespace, args[0], args[2])
    else:
        fail(f"kubectl stand-in: {' '.join(rest)} is not a command labgen runs", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
