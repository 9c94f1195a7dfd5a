"""What the class commands need to know about a class, read from the class folder.

STUB, isolated here on purpose: `classroom/spec.py` (the class spec) and `classroom/hosted.py`
(lab boxes) replace `load_class` and `hosted_backends` when they are merged; the rest of the
class commands only see `ClassInfo` and a `backend_for(student) -> Backend` callable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from labgen.backends.base import Backend
from labgen.errors import SpecError, UsageError
from labgen.spec.model import LabSpec
from labgen.spec.parse import load_spec, parse_spec
from labgen.spec.yamlio import read_yaml

CLASS_FILE = "class.yaml"


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""


@dataclass(frozen=True)
class ClassInfo:
    name: str
    folder: Path
    lab: LabSpec
    delivery: Literal["hosted", "byod"]
    students: tuple[Student, ...]


def load_class(folder: Path) -> ClassInfo:
    """The class in `folder`/class.yaml: name, lab (inline or a path), delivery, students
    (ids, or {id, name} mappings). Minimal reading; the class spec's validation replaces it."""
    path = folder / CLASS_FILE
    raw = read_yaml(path, "class spec")
    if not isinstance(raw, Mapping):
        raise SpecError([f"{path}: the top level must be a mapping; see issue 8's class spec"])
    lab_value = raw.get("lab", {})
    if isinstance(lab_value, str):
        lab, _ = load_spec(folder / lab_value)
    else:
        lab, _ = parse_spec(lab_value or {})
    delivery = raw.get("delivery", "hosted")
    if delivery not in ("hosted", "byod"):
        raise SpecError([f"{path}: delivery: {delivery!r}; use hosted or byod"])
    students = []
    for item in raw.get("students") or []:
        if isinstance(item, Mapping):
            students.append(Student(str(item["id"]), str(item.get("name", ""))))
        else:
            students.append(Student(str(item)))
    return ClassInfo(str(raw.get("name", folder.name)), folder, lab, delivery, tuple(students))


def hosted_backends(info: ClassInfo) -> Callable[[str], Backend]:
    """Each hosted student's lab as a Backend. STUB: classroom/hosted.py provides lab boxes."""
    raise UsageError(
        f"{info.folder}: grading hosted labs needs lab boxes (classroom/hosted.py), "
        "which this labgen does not have yet; use a byod class with --submissions"
    )
