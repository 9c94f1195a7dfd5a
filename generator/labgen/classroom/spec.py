"""The class spec: a workshop's students, its lab, and how the labs are delivered.

`ClassFile` is the file's shape, one definition for strict decoding and the JSON Schema,
as the lab spec's. Two of its fields take several forms (the lab inline or as a path;
students as ids, a roster CSV or a count); they are resolved here, in plain code, into a
`Classroom`, with every problem reported at once as `path: problem; fix`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from labgen.errors import SpecError
from labgen.spec import rules
from labgen.spec.decode import Problems, decode_fields, show
from labgen.spec.model import LabSpec, Name
from labgen.spec.parse import load_spec, parse_spec
from labgen.spec.yamlio import read_yaml

Delivery = Literal["byod", "hosted"]
MAX_STUDENTS = 100
# A DNS-name or IPv4 address students type after `ssh ...@`.
SERVER_PATTERN = rules.anchored(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
PORTS_PATTERN = rules.anchored(r"[0-9]{1,5}-[0-9]{1,5}")
MEMORY_PATTERN = rules.anchored(r"[1-9][0-9]{0,5}[KMGkmg]")
NAME_FIX = "use 1-32 lowercase letters, digits and '-', starting with a letter"


class HostedSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The server that runs every student's lab (delivery: hosted), and each lab's share."""

    server: (
        Annotated[
            str,
            Meta(
                pattern=SERVER_PATTERN,
                description="Name or address students reach the server at (ssh ...@SERVER).",
                extra={"fix": "use a host name or IPv4 address such as lab.example.org"},
            ),
        ]
        | None
    ) = None
    ssh_ports: Annotated[
        str,
        Meta(
            pattern=PORTS_PATTERN,
            description="Server ports for the students' SSH, one each: LOW-HIGH. A student keeps "
            "theirs when others join or leave (secrets/seats.csv).",
            extra={"fix": "use a range such as 2200-2299"},
        ),
    ] = "2200-2299"
    cpus: Annotated[float, Meta(ge=0.1, le=64, description="CPUs each lab may use.")] = 1.0
    memory: Annotated[
        str,
        Meta(
            pattern=MEMORY_PATTERN,
            description="Memory each lab may use, with a unit: 768M, 2G.",
            extra={"fix": "use a size with a unit such as 768M or 2G"},
        ),
    ] = "768M"
    pids: Annotated[int, Meta(ge=128, le=65536, description="Processes each lab may run.")] = 1024
    isolation: Annotated[
        Literal["container", "vm"],
        Meta(
            description="What keeps each student's lab apart: container (a privileged "
            "container on this server's Docker: a student can become root on the server) or "
            "vm (a VM per student: root only inside it; needs a VM base image, and KVM to be "
            "fast).",
            extra={"fix": "use container or vm"},
        ),
    ] = "container"

    @property
    def port_range(self) -> tuple[int, int]:
        low, high = self.ssh_ports.split("-")
        return int(low), int(high)


class ClassFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A class spec file."""

    name: Annotated[Name, Meta(description="Class name: its folder and the prefix of its labs.")]
    students: Annotated[
        list[Name] | str | int,
        Meta(
            description="Student ids (DNS labels), a roster CSV path (id,name[,email]), "
            f"or a number of students (1-{MAX_STUDENTS}: s01, s02, ...)."
        ),
    ]
    lab: Annotated[
        LabSpec | str,
        Meta(description="The lab every student gets: a lab spec inline, or a path to one."),
    ] = msgspec.field(default_factory=LabSpec)
    delivery: Annotated[
        Delivery,
        Meta(
            description="byod: students run the lab on their own machine and submit a "
            "report; hosted: the teacher runs every lab on one server."
        ),
    ] = "byod"
    hosted: HostedSettings = msgspec.field(default_factory=HostedSettings)


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class Classroom:
    """A resolved, valid class."""

    name: str
    lab: LabSpec
    delivery: Delivery
    students: tuple[Student, ...]
    hosted: HostedSettings


def load_class(path: Path) -> tuple[Classroom, list[str]]:
    """Read and resolve a class spec file. Returns the class and warnings."""
    raw = read_yaml(path, "class spec")
    try:
        return parse_class(raw, path.parent)
    except SpecError as error:  # each line names the file it is about
        raise SpecError([f"{path}: {line}" for line in error.problems]) from None


def parse_class(raw: object, base: Path) -> tuple[Classroom, list[str]]:
    """Validate raw class data; paths in it are relative to `base`. SpecError lists every problem."""
    if not isinstance(raw, Mapping):
        raise SpecError(
            ["class: the top level must be a mapping of fields; see `labgen schema --class`"]
        )
    problems = Problems()
    fields = decode_fields(raw, ClassFile, "", problems, skip=("lab", "students"))
    if fields is None:
        raise SpecError(problems.lines)
    lab, warnings = _lab(raw.get("lab", {}), base, problems)
    students = _students(raw.get("students"), base, problems)
    hosted: HostedSettings = fields.get("hosted", HostedSettings())
    delivery: Delivery = fields.get("delivery", "byod")
    # A `hosted:` that did not decode has its own problem line; checking the default
    # settings in its place would add a false "hosted.server: is missing".
    if delivery == "hosted" and ("hosted" in fields or "hosted" not in raw):
        _check_hosted(hosted, len(students), problems)
    if problems.lines or lab is None or "name" not in fields:
        raise SpecError(problems.lines)
    return Classroom(fields["name"], lab, delivery, students, hosted), warnings


def _lab(value: object, base: Path, problems: Problems) -> tuple[LabSpec | None, list[str]]:
    try:
        if isinstance(value, str):
            return load_spec(base / value)
        if isinstance(value, Mapping):
            return parse_spec(value)
    except SpecError as error:
        # An inline lab's problems are at lab.FIELD; a lab file's name the file themselves.
        prefix = "lab: " if isinstance(value, str) else "lab."
        problems.lines += [prefix + line for line in error.problems]
        return None, []
    problems.add("lab", f"{show(value)} is not valid; use a lab spec (a mapping) or a path to one")
    return None, []


def _students(value: object, base: Path, problems: Problems) -> tuple[Student, ...]:
    if value is None:
        problems.add("students", "is missing; give a list of ids, a roster CSV path, or a number")
        return ()
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_STUDENTS:
            problems.add("students", f"{value} is not valid; use a number from 1 to {MAX_STUDENTS}")
            return ()
        width = len(str(value))
        return tuple(Student(id=f"s{i:0{max(width, 2)}d}", name="") for i in range(1, value + 1))
    if isinstance(value, list):
        rows = [(f"students[{i}]", item, "", "") for i, item in enumerate(value)]
    elif isinstance(value, str):
        rows = _roster(base / value, problems)
    else:
        problems.add(
            "students",
            f"{show(value)} is not valid; give a list of ids, a roster CSV path, or a number",
        )
        return ()
    return _check_students(rows, problems)


def _roster(path: Path, problems: Problems) -> list[tuple[str, object, str, str]]:
    """(where, id, name, email) of each row of a roster CSV: `id,name[,email]`, header optional."""
    try:
        text = path.read_bytes()[: rules.MAX_SPEC_BYTES + 1].decode("utf-8-sig")
    except OSError as exc:
        problems.add("students", f"cannot read {path} ({exc.strerror}); check the path")
        return []
    except UnicodeDecodeError as exc:
        problems.add("students", f"{path}: byte {exc.start} is not UTF-8; save the roster as UTF-8")
        return []
    rows: list[tuple[str, object, str, str]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (number == 1 and cells[0].lower() == "id"):
            continue
        where = f"{path.name} line {number}"
        if len(cells) not in (2, 3):
            problems.add(where, f"{len(cells)} columns; use id,name or id,name,email")
            continue
        rows.append((where, cells[0], cells[1], cells[2] if len(cells) == 3 else ""))
    return rows


def _check_students(
    rows: list[tuple[str, object, str, str]], problems: Problems
) -> tuple[Student, ...]:
    students: list[Student] = []
    seen: dict[str, str] = {}
    for where, ident, name, email in rows:
        if not isinstance(ident, str) or not re.search(rules.NAME_PATTERN, ident):
            problems.add(where, f"{show(ident)} is not a valid student id; {NAME_FIX}")
            continue
        if ident in seen:
            problems.add(
                where, f"{ident} is already used at {seen[ident]}; give each student their own id"
            )
            continue
        seen[ident] = where
        students.append(Student(id=ident, name=name, email=email))
    if not rows and not problems.lines:
        problems.add("students", "no student; give at least one")
    if len(students) > MAX_STUDENTS:
        problems.add(
            "students", f"{len(students)} students is too many; use at most {MAX_STUDENTS}"
        )
    return tuple(students)


def _check_hosted(hosted: HostedSettings, count: int, problems: Problems) -> None:
    if hosted.server is None:
        problems.add("hosted.server", "is missing; a hosted class needs the server students SSH to")
    low, high = hosted.port_range
    if not 1024 <= low <= high <= 65535:
        problems.add(
            "hosted.ssh_ports",
            f"{hosted.ssh_ports} is not valid; use LOW-HIGH with 1024 <= LOW <= HIGH <= 65535",
        )
    elif high - low + 1 < count:
        problems.add(
            "hosted.ssh_ports",
            f"{hosted.ssh_ports} holds {high - low + 1} ports for {count} students; widen the range",
        )


def class_to_data(classroom: Classroom) -> dict[str, Any]:
    """The class as plain data in the file's shape, everything inline (what a class folder keeps)."""
    lab: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(classroom.lab))
    hosted: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(classroom.hosted))
    return {
        "name": classroom.name,
        "delivery": classroom.delivery,
        "students": [s.id for s in classroom.students],
        "lab": lab,
        "hosted": hosted,
    }
