"""A hosted class's Kubernetes objects: golden-tested, and valid against the API schemas of
the oldest and newest Kubernetes labgen supports, strictly (an unknown field is an error).

`kubernetes-validate` (a test dependency) carries the OpenAPI schemas of Kubernetes
1.25-1.37 and runs offline. No cluster runs here: what a cluster does with the objects
(scheduling, NetworkPolicy enforcement by a CNI, RuntimeClasses) is not tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from labgen.classroom.boxes import box_spec
from labgen.classroom.create import plan_class
from labgen.classroom.kubernetes import write_manifests
from labgen.classroom.model import open_class
from labgen.classroom.spec import parse_class
from labgen.cli import cli
from labgen.errors import UsageError
from labgen.kube import manifests as m
from labgen.render.write import write_lab

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "kubernetes" / "expected.txt"
# The oldest and newest Kubernetes whose schemas the objects are checked against.
VERSIONS = ("1.25.0", "1.37.0")
FIX = "if the change is intended, run `make golden` and review the diff"

CLUSTER = m.ClassCluster(
    name="ws",
    namespace="labgen-ws",
    image="registry.example.org/labgen/labbox:trixie",
    lab_gateway="192.168.56.1",
    lab_files=(
        m.LabFile("docker-compose.yml", 'name: "lab"\nservices: {}\n'),
        m.LabFile("provision/node.sh", "#!/bin/sh\necho provisioned\n", executable=True),
        m.LabFile(".labgen/compose.labbox.yml", "services: {}\n"),
    ),
)
SEATS = (
    m.PodSeat("alice", 30001, "alice:alice-password\n"),
    m.PodSeat("bob", 30002, "bob:bob-password\n"),
)


def folder_text(files: list[m.ManifestFile]) -> str:
    """The whole folder as one text to compare (a .gitignore among golden files would
    hide the golden secrets from git)."""
    return "".join(
        f"==> {f.path}{' (private)' if f.private else ''} <==\n{f.content}" for f in files
    )


def documents(files: list[m.ManifestFile]) -> list[dict[str, Any]]:
    return [
        doc
        for f in files
        if f.path.endswith(".yaml") and f.path != "kustomization.yaml"
        for doc in yaml.safe_load_all(f.content)
    ]


def invalid(obj: dict[str, Any], version: str) -> str:
    """Why `obj` is not valid for Kubernetes `version` (strict), or ""."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{obj['kind']}/{obj['metadata']['name']}: {error.message}"
    return ""


def test_folder_matches_golden(update_golden: bool) -> None:
    text = folder_text(m.kustomize_folder(CLUSTER, SEATS))
    if update_golden:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
        return
    assert text == GOLDEN.read_text(encoding="utf-8"), f"the manifests differ; {FIX}"


def hosted_class(tmp_path: Path, kubernetes: dict[str, Any], **hosted: Any) -> Path:
    raw = {
        "name": "ws-2026",
        "delivery": "hosted",
        "students": ["alice", "bob", "carol"],
        "lab": {"scenario": "secure", "auth": {"user": "student", "password": "part2-secret-pw"}},
        "hosted": {
            "server": "lab.example.org",
            "ssh_ports": "30100-30199",
            "platform": "kubernetes",
            "kubernetes": {"registry": "registry.example.org:5000/labgen", **kubernetes},
            # A RuntimeClass is how a cluster gives each box a VM.
            "isolation": "vm" if "runtime_class" in kubernetes else "container",
            **hosted,
        },
    }
    classroom, _ = parse_class(raw, tmp_path)
    folder = tmp_path / "class"
    write_lab(plan_class(classroom, "ab" * 32), folder, force=False)
    return folder


def write_class_manifests(folder: Path, out: Path, force: bool = False) -> str:
    """What `labgen class manifests` does for the class folder."""
    cls = open_class(folder)
    return write_manifests(cls, [box_spec(cls, seat) for seat in cls.seats], out, force)


def folder_objects(out: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(out.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    ]


VARIANTS = {
    "defaults": {},
    "loadbalancer, kata, storage class": {
        "ssh": "loadbalancer",
        "runtime_class": "kata",
        "storage_class": "fast-ssd",
        "namespace": "workshop",
        "storage": "20G",
        "context": "teacher@cluster",
    },
    "no ssh exposure": {"ssh": "none"},
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_a_real_class_is_valid_strictly(tmp_path: Path, variant: str, version: str) -> None:
    """Every object of a part-2 class (its whole lab in the lab Secret) validates."""
    folder = hosted_class(tmp_path, VARIANTS[variant], memory="2G", cpus=1.5)
    write_class_manifests(folder, tmp_path / "manifests")
    objects = folder_objects(tmp_path / "manifests")
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        ["Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "NetworkPolicy", "Secret"]
        + ["Secret", "Service", "StatefulSet"] * 3
    )
    assert [invalid(o, version) for o in objects] == [""] * len(objects)


@pytest.mark.parametrize("version", VERSIONS)
def test_strict_validation_catches_an_unknown_field(version: str) -> None:
    """The check above can fail: a field no Kubernetes knows is an error."""
    statefulset = m.stateful_set(CLUSTER, SEATS[0])
    assert invalid(statefulset, version) == ""
    statefulset["spec"]["template"]["spec"]["containers"][0]["privilegd"] = True
    assert "privilegd" in invalid(statefulset, version)


def test_the_folder_lists_every_file_and_keeps_secrets_out_of_git(tmp_path: Path) -> None:
    folder = hosted_class(tmp_path, {})
    out = tmp_path / "manifests"
    write_class_manifests(folder, out)
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text(encoding="utf-8"))
    yaml_files = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*.yaml") if p.name != "kustomization.yaml"
    )
    assert sorted(kustomization["resources"]) == yaml_files
    secrets = sorted(p.relative_to(out).as_posix() for p in out.rglob("*-secret.yaml"))
    assert secrets == [
        "lab-secret.yaml",
        "students/alice-secret.yaml",
        "students/bob-secret.yaml",
        "students/carol-secret.yaml",
    ]
    for name in secrets:
        assert (out / name).stat().st_mode & 0o777 == 0o600, name
    assert (out / ".gitignore").read_text(encoding="utf-8") == "*-secret.yaml\n"
    # Only the secret files hold a password.
    password = "part2-secret-pw"
    for path in out.rglob("*"):
        if path.is_file() and path.as_posix() not in {(out / s).as_posix() for s in secrets}:
            assert password not in path.read_text(encoding="utf-8"), path


def test_the_folder_is_not_overwritten_without_force(tmp_path: Path) -> None:
    folder = hosted_class(tmp_path, {})
    out = tmp_path / "manifests"
    write_class_manifests(folder, out)
    with pytest.raises(UsageError, match="already exists; pass --force"):
        write_class_manifests(folder, out)
    write_class_manifests(folder, out, force=True)


def test_a_docker_class_has_no_manifests(tmp_path: Path) -> None:
    raw = {"name": "ws", "delivery": "hosted", "students": 2, "hosted": {"server": "lab"}}
    classroom, _ = parse_class(raw, tmp_path)
    write_lab(plan_class(classroom, "ab" * 32), tmp_path / "class", force=False)
    with pytest.raises(UsageError, match="not a hosted class on Kubernetes"):
        write_class_manifests(tmp_path / "class", tmp_path / "manifests")
    assert not (tmp_path / "manifests").exists()


def test_the_pod_is_the_docker_box() -> None:
    """The container carries what `docker run` gives the box on a Docker server."""
    container = m.box_container(CLUSTER, SEATS[0])
    assert container["securityContext"] == {"privileged": True}
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "768Mi"}
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "LABBOX_USER": "alice",
        "LABBOX_LAB_GATEWAY": "192.168.56.1",
    }
    mounts = {v["mountPath"]: v for v in container["volumeMounts"]}
    assert set(mounts) == {"/var/lib/docker", "/lab", "/etc/labbox/student"}
    # The password reaches the box as a file, never in its environment or command line.
    assert "alice-password" not in yaml.safe_dump(container)
    pod = m.stateful_set(CLUSTER, SEATS[0])["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert "runtimeClassName" not in pod


def test_network_policies_let_boxes_send_nothing() -> None:
    deny, box = m.network_policies(CLUSTER)
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # No policy in the namespace allows any egress: every pod stays denied to send.
    assert all("egress" not in p["spec"] for p in (deny, box))
    assert box["spec"]["policyTypes"] == ["Ingress"]
    assert box["spec"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": 22}]},
        {
            "from": [
                {"podSelector": {"matchLabels": {"labgen.class": "ws", "labgen.role": "server"}}}
            ]
        },
    ]


def test_ssh_exposure() -> None:
    def service(ssh: m.SshExposure) -> dict[str, Any]:
        cluster = m.ClassCluster(**{**CLUSTER.__dict__, "ssh": ssh})
        spec: dict[str, Any] = m.ssh_service(cluster, SEATS[0])["spec"]
        return {"type": spec["type"], **spec["ports"][0]}

    assert service("nodeport")["type"] == "NodePort"
    assert service("nodeport")["nodePort"] == 30001
    assert service("loadbalancer")["type"] == "LoadBalancer"
    assert service("loadbalancer")["port"] == 30001
    assert service("none") == {
        "type": "ClusterIP",
        "name": "ssh",
        "protocol": "TCP",
        "port": 22,
        "targetPort": "ssh",
    }


def test_names_fit_kubernetes() -> None:
    assert m.object_name("ws", "alice") == "labgen-ws-alice"
    long = m.object_name("c" * 32, "s" * 32)
    assert len(long) == m.MAX_NAME
    assert long == m.object_name("c" * 32, "s" * 32)
    assert long != m.object_name("c" * 32, "s" * 31 + "t")
    assert m.lab_secret_name("ws") not in {m.object_name("ws", s) for s in ("lab", "ws-lab")}


def test_sizes_become_quantities() -> None:
    assert m.quantity("768M") == "768Mi"
    assert m.quantity("2g", 3) == "6Gi"
    assert m.millicpu(1.5, 3) == "4500m"
    assert m.millicpu(0.25) == "250m"


def test_executable_lab_files_stay_executable() -> None:
    volume = m.stateful_set(CLUSTER, SEATS[0])["spec"]["template"]["spec"]["volumes"][0]
    modes = {item["path"]: item["mode"] for item in volume["secret"]["items"]}
    assert modes["provision/node.sh"] == 0o555
    assert modes["docker-compose.yml"] == 0o444


def test_the_commands_give_one_line_errors(tmp_path: Path) -> None:
    folder = hosted_class(tmp_path, {})
    out = tmp_path / "manifests"
    runner = CliRunner()
    first = runner.invoke(cli, ["class", "manifests", str(folder), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "apply with `kubectl apply -k" in first.output
    again = runner.invoke(cli, ["class", "manifests", str(folder), "--out", str(out)])
    assert again.exit_code == 2
    assert again.output.strip().count("\n") == 0, again.output
    assert "already exists; pass --force" in again.output
    wrapper = f"labgen-runc={folder / 'class.yaml'}"  # an existing file: the option parses
    runtime = runner.invoke(cli, ["class", "up", str(folder), "--runtime", wrapper])
    assert runtime.exit_code == 2
    assert runtime.output.strip().splitlines()[-1] == (
        "labgen: error: --runtime: for a Docker server; on Kubernetes, name a RuntimeClass "
        "in hosted.kubernetes.runtime_class"
    )
