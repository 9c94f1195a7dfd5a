"""A hosted class on Kubernetes (`hosted.platform: kubernetes`): the class folder turned
into the plain values the manifests are made from, the kustomize folder of `labgen class
manifests`, and the class's side of the cluster (its own objects, its students' pods)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from labgen.backends.base import run_process
from labgen.backends.box import BoxSpec
from labgen.backends.labbox import box_override
from labgen.backends.pod import (
    Kubectl,
    PodBox,
    Runner,
    apply_class,
    delete_class,
    labelled_students,
)
from labgen.classroom.model import CLASS_FILE, Class
from labgen.commands import write_folder
from labgen.errors import UsageError
from labgen.kube.manifests import ClassCluster, LabFile, PodSeat, kustomize_folder
from labgen.lab import Lab, open_lab
from labgen.render.plan import PlannedFile
from labgen.spec import rules

# What of the class's lab/ folder the box runs: compose's file and what it mounts or builds.
BOX_LAB_PARTS = ("docker-compose.yml", "node", "provision")


def on_kubernetes(cls: Class) -> bool:
    return cls.delivery == "hosted" and cls.hosted.platform == "kubernetes"


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


def class_cluster(cls: Class) -> ClassCluster:
    """The class-wide values of its objects, from its spec and its lab folder."""
    hosted = cls.hosted
    kube = hosted.kubernetes
    lab = open_lab(cls.lab_folder)
    return ClassCluster(
        name=cls.name,
        namespace=kube.namespace or f"labgen-{cls.name}",
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


def pod_seat(spec: BoxSpec) -> PodSeat:
    return PodSeat(spec.student, spec.ssh_port, spec.account)


class ClassOnCluster:
    """The class's side of the teacher's cluster, through their kubectl."""

    def __init__(self, cls: Class, run: Runner = run_process) -> None:
        if not on_kubernetes(cls):
            raise UsageError(
                f"{cls.folder / CLASS_FILE}: {cls.name} is not a hosted class on Kubernetes; "
                "set `delivery: hosted` and `hosted: {platform: kubernetes, ...}` in its spec "
                "and run `labgen class create` again"
            )
        self.cls = cls
        self.cluster = class_cluster(cls)
        self.kubectl = Kubectl(self.cluster.namespace, cls.hosted.kubernetes.context)
        self.run = run

    def box(self, spec: BoxSpec) -> PodBox:
        """A student's box, as a pod; their NodePort is reached at the class's server."""
        return PodBox(spec, self.kubectl, self.cluster, self.cls.hosted.server or "", run=self.run)

    def prepare(self) -> None:
        """Before any pod: the namespace, quota, limits, network policies and the lab."""
        apply_class(self.kubectl, self.cluster, len(self.cls.seats), self.run)

    def students(self) -> set[str]:
        """Every student with a pod of the class, on the roster or not."""
        return labelled_students(self.kubectl, self.cls.name, self.run)

    def finish(self) -> None:
        """After the last pod: the class's own objects and its namespace."""
        delete_class(self.kubectl, self.cluster, self.run)


def write_manifests(cls: Class, specs: Sequence[BoxSpec], out: Path, force: bool) -> str:
    """The class's kustomize folder (every student's box spec in it), written atomically;
    refuses to replace a folder without `force`. Returns a summary."""
    cluster = ClassOnCluster(cls).cluster
    files = [
        PlannedFile(PurePosixPath(f.path), f.content, private=f.private)
        for f in kustomize_folder(cluster, [pod_seat(spec) for spec in specs])
    ]
    return write_folder(files, out, force=force, dry_run=False) or ""
