"""A class folder as the class commands see it: its resolved class and where it lives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labgen.backends.base import Backend
from labgen.classroom.hosted import class_boxes
from labgen.classroom.labbox import LabBox, Limits, Runtime
from labgen.classroom.spec import Classroom, Student, load_class
from labgen.errors import UsageError
from labgen.spec.model import LabSpec

CLASS_FILE = "class.yaml"


@dataclass(frozen=True)
class ClassInfo:
    folder: Path
    classroom: Classroom

    @property
    def name(self) -> str:
        return self.classroom.name

    @property
    def lab(self) -> LabSpec:
        return self.classroom.lab

    @property
    def delivery(self) -> str:
        return self.classroom.delivery

    @property
    def students(self) -> tuple[Student, ...]:
        return self.classroom.students


def open_class(folder: Path) -> ClassInfo:
    """The class in `folder` (made by `labgen class create`)."""
    path = folder / CLASS_FILE
    if not path.is_file():
        raise UsageError(
            f"{folder}: no {CLASS_FILE} here; give a class folder made by `labgen class create`"
        )
    classroom, _ = load_class(path)
    return ClassInfo(folder, classroom)


def hosted_boxes(info: ClassInfo, runtime: Runtime | None = None) -> list[LabBox]:
    """The lab box of every student of a hosted class."""
    if info.delivery != "hosted":
        raise UsageError(f"{info.folder}: not a hosted class; set `delivery: hosted` in its spec")
    hosted = info.classroom.hosted
    limits = Limits(cpus=hosted.cpus, memory=hosted.memory, pids=hosted.pids)
    return class_boxes(info.folder, info.name, limits, runtime)


def hosted_backends(info: ClassInfo) -> Callable[[str], Backend]:
    """Each hosted student's lab as a Backend: their lab box, or their pod on Kubernetes."""
    if info.classroom.hosted.platform == "kubernetes":
        from labgen.classroom.kubernetes import pod_boxes  # it builds on this module

        pods = {box.seat.student: box for box in pod_boxes(info)[2]}
        return pods.__getitem__
    boxes = {box.seat.student: box for box in hosted_boxes(info)}
    return boxes.__getitem__
