"""A hosted class on Kubernetes (`hosted.platform: kubernetes`): the class folder turned
into the plain values the manifests are made from, the kustomize folder of `labgen class
manifests`, and one `PodBox` per student for up, status, check and down."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from labgen.backends.pod import Kubectl, PodBox, apply_class, delete_class, run_with_stdin
from labgen.classroom.hosted import Action, pick, read_seats, run_class
from labgen.classroom.info import ClassInfo
from labgen.classroom.labbox import box_override
from labgen.commands import write_folder
from labgen.errors import UsageError
from labgen.kube.manifests import ClassCluster, LabFile, PodSeat, kustomize_folder
from labgen.lab import Lab, open_lab
from labgen.render.plan import PlannedFile
from labgen.spec import rules

# What of the class's lab/ folder the box runs: compose's file and what it mounts or builds.
BOX_LAB_PARTS = ("docker-compose.yml", "node", "provision")


def kubernetes_class(info: ClassInfo) -> None:
    """UsageError unless the class runs on Kubernetes."""
    if info.delivery != "hosted" or info.classroom.hosted.platform != "kubernetes":
        raise UsageError(
            f"{info.folder}: not a hosted class on Kubernetes; set `delivery: hosted` and "
            "`hosted: {platform: kubernetes, ...}` in its spec and run `labgen class create` again"
        )


def lab_files(lab: Lab) -> tuple[LabFile, ...]:
    """The box's /lab: the compose lab as `labgen create` wrote it, and the box's override."""
    files = []
    for path in sorted(lab.path.rglob("*")):
        relative = PurePosixPath(path.relative_to(lab.path).as_posix())
        if path.is_file() and relative.parts[0] in BOX_LAB_PARTS:
            executable = os.access(path, os.X_OK)
            files.append(LabFile(str(relative), path.read_text(encoding="utf-8"), executable))
    files.append(LabFile(".labgen/compose.labbox.yml", box_override(lab)))
    return tuple(files)


def class_cluster(info: ClassInfo, lab: Lab) -> ClassCluster:
    hosted = info.classroom.hosted
    kube = hosted.kubernetes
    return ClassCluster(
        name=info.name,
        namespace=kube.namespace or f"labgen-{info.name}",
        image=f"{kube.registry}/labbox:{rules.OS_SUITES[lab.spec.os]}",
        lab_gateway=str(lab.spec.gateway),
        lab_files=lab_files(lab),
        cpus=hosted.cpus,
        cpu_request=kube.cpu_request,
        memory=hosted.memory,
        storage=kube.storage,
        storage_class=kube.storage_class,
        ssh=kube.ssh,
        runtime_class=kube.runtime_class,
    )


def pod_seats(info: ClassInfo) -> list[PodSeat]:
    seats = read_seats(info.folder / "secrets" / "credentials.csv", info.name)
    return [PodSeat(s.student, s.ssh_port, f"{s.student}:{s.password}\n") for s in seats]


def manifest_files(info: ClassInfo) -> list[PlannedFile]:
    """The kustomize folder of the class, as files to write."""
    kubernetes_class(info)
    cluster = class_cluster(info, open_lab(info.folder / "lab"))
    return [
        PlannedFile(PurePosixPath(f.path), f.content, private=f.private)
        for f in kustomize_folder(cluster, pod_seats(info))
    ]


def write_manifests(info: ClassInfo, out: Path, force: bool) -> str:
    """Write the folder atomically; refuses to replace one without `force`. Returns a summary."""
    summary = write_folder(manifest_files(info), out, force=force, dry_run=False)
    return summary or ""


def kubectl_for(cluster: ClassCluster, info: ClassInfo) -> Kubectl:
    return Kubectl(cluster.namespace, info.classroom.hosted.kubernetes.context)


def pod_boxes(info: ClassInfo) -> tuple[Kubectl, ClassCluster, list[PodBox]]:
    """The class's kubectl, its class-wide values, and every student's box as a pod."""
    kubernetes_class(info)
    lab = open_lab(info.folder / "lab")
    cluster = class_cluster(info, lab)
    kubectl = kubectl_for(cluster, info)
    return kubectl, cluster, [PodBox(kubectl, cluster, seat, lab.spec) for seat in pod_seats(info)]


def run_pods(info: ClassInfo, action: Action, jobs: int, students: list[str] | None) -> bool:
    """`class up|status|down` on Kubernetes: the class's own objects first (up) or last
    (down of the whole class), each chosen student's pod in between. True when all went well."""
    kubectl, cluster, boxes = pod_boxes(info)
    chosen = pick(boxes, students)
    if action == "up":
        apply_class(kubectl, cluster, len(boxes), run_with_stdin)
    ok = all(outcome.ok for outcome in run_class(chosen, action, jobs))
    if action == "down" and ok and len(chosen) == len(boxes):
        delete_class(kubectl, cluster, run_with_stdin)
    return ok
