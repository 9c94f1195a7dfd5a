"""The real `kubectl` client, with no cluster: it builds the manifests folder with its own
kustomize, and it accepts every command line labgen runs up to the point where it needs
an API server.

Each kubectl runs in a network namespace of its own holding only loopback (`unshare
--net`), with a kubeconfig whose server is 127.0.0.1:1, where nothing listens: a command
line kubectl understands ends at "connection refused", one it does not at a usage error.
Skipped where kubectl, unshare or root is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_kube_manifests import folder_objects, hosted_class, write_class_manifests

from labgen.backends.pod import Kubectl
from labgen.classroom.boxes import box_spec
from labgen.classroom.kubernetes import class_cluster, pod_seat
from labgen.classroom.model import open_class
from labgen.kube import manifests as m

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: nobody, user: {token: not-a-token}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
current-context: nowhere
"""
REFUSED = "127.0.0.1:1: connect: connection refused"


@pytest.fixture
def kubectl(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The kubectl on PATH and an environment pointing it at no server."""
    path = shutil.which("kubectl")
    if path is None or shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs kubectl, unshare and root (a network namespace with loopback only)")
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG, encoding="utf-8")
    return path, {**os.environ, "KUBECONFIG": str(config)}


def isolated(
    argv: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`argv` in a new network namespace with nothing but loopback."""
    return subprocess.run(
        ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kubectls_kustomize_builds_the_folder(
    kubectl: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    program, env = kubectl
    out = tmp_path / "manifests"
    write_class_manifests(hosted_class(tmp_path, {}), out)
    built = isolated([program, "kustomize", str(out)], env)
    assert built.returncode == 0, built.stderr
    written = folder_objects(out)

    def key(obj: dict[str, object]) -> str:
        return yaml.safe_dump(obj, sort_keys=True)

    assert sorted(map(key, yaml.safe_load_all(built.stdout))) == sorted(map(key, written))


def test_kubectl_accepts_every_command_line(
    kubectl: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    program, env = kubectl
    cls = open_class(hosted_class(tmp_path, {}))
    cluster = class_cluster(cls)
    seat = pod_seat(box_spec(cls, cls.seats[0]))
    client = Kubectl(cluster.namespace, context="nowhere", program=program)
    pod = m.pod_name(cluster.name, seat.student)
    documents = m.to_yaml([m.account_secret(cluster, seat), *m.student_objects(cluster, seat)])
    lines = [
        (client.apply(), documents),
        (client.get_pod(pod), ""),
        (client.exec(pod, ["docker", "exec", "--interactive", "registry-lab-client-1", "sh"]), ""),
        (client.logs(pod), ""),
        (client.delete("statefulset,service,secret,persistentvolumeclaim", "a=b,c=d"), ""),
        (client.statefulsets(cluster.name), ""),
    ]
    for argv, stdin in lines:
        done = isolated(argv, env, stdin)
        assert done.returncode == 1, (argv, done.stderr)
        assert REFUSED in done.stderr, (argv, done.stderr)
