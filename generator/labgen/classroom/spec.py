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
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from labgen.errors import SpecError, printable
from labgen.spec import rules
from labgen.spec.decode import Problems, decode_fields, show
from labgen.spec.model import LabSpec, Name
from labgen.spec.parse import load_spec, parse_spec
from labgen.spec.yamlio import read_yaml

Delivery = Literal["byod", "hosted"]
Platform = Literal["docker", "kubernetes"]
SshExposure = Literal["nodeport", "loadbalancer", "none"]
MAX_STUDENTS = 100
# A roster of 100 students is a few KiB: far more is not a roster, and is not read.
MAX_ROSTER_BYTES = 1024 * 1024
MAX_NAME = 200
# A DNS-name or IPv4 address students type after `ssh ...@`.
SERVER_PATTERN = rules.anchored(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
PORTS_PATTERN = rules.anchored(r"[0-9]{1,5}-[0-9]{1,5}")
MEMORY_PATTERN = rules.anchored(r"[1-9][0-9]{0,5}[KMGkmg]")
NAME_FIX = "use 1-32 lowercase letters, digits and '-', starting with a letter"
DNS_LABEL_PATTERN = rules.anchored(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Where the cluster pulls the lab box from: REGISTRY[:PORT]/PATH, no tag (labgen adds labbox:SUITE).
REGISTRY_PATTERN = rules.anchored(
    r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
)
# Kubernetes' NodePort range (kube-apiserver --service-node-port-range default).
NODE_PORTS = (30000, 32767)


class KubernetesSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where and how a hosted class runs on a cluster (platform: kubernetes)."""

    registry: (
        Annotated[
            str,
            Meta(
                pattern=REGISTRY_PATTERN,
                description="Image registry the cluster pulls the lab box from "
                "(REGISTRY/labbox:SUITE), e.g. registry.example.org/labgen.",
                extra={"fix": "use a registry and path such as registry.example.org/labgen"},
            ),
        ]
        | None
    ) = None
    namespace: (
        Annotated[
            str,
            Meta(
                pattern=DNS_LABEL_PATTERN,
                description="The class's namespace [default: labgen-NAME].",
                extra={"fix": "use a DNS label: lowercase letters, digits and '-'"},
            ),
        ]
        | None
    ) = None
    context: (
        Annotated[
            str,
            Meta(
                pattern=rules.anchored(r"[A-Za-z0-9@:._/-]{1,253}"),
                description="The kubeconfig context kubectl uses [default: its current one].",
                extra={"fix": "use a context name from `kubectl config get-contexts`"},
            ),
        ]
        | None
    ) = None
    ssh: Annotated[
        SshExposure,
        Meta(
            description="How students reach their box's SSH: nodeport (SERVER:PORT on any "
            "node, ssh_ports within 30000-32767), loadbalancer (a Service address each), none."
        ),
    ] = "nodeport"
    storage_class: (
        Annotated[
            str,
            Meta(
                pattern=rules.anchored(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?"),
                description="StorageClass of each box's engine volume [default: the cluster's].",
                extra={"fix": "use a name from `kubectl get storageclass`"},
            ),
        ]
        | None
    ) = None
    storage: Annotated[
        str,
        Meta(
            pattern=MEMORY_PATTERN,
            description="Size of each box's engine volume (/var/lib/docker), with a unit: 10G.",
            extra={"fix": "use a size with a unit such as 10G"},
        ),
    ] = "10G"
    cpu_request: Annotated[
        float,
        Meta(ge=0.01, le=64, description="CPUs the scheduler sets aside for each box."),
    ] = 0.25
    runtime_class: (
        Annotated[
            str,
            Meta(
                pattern=rules.anchored(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?"),
                description="RuntimeClass each box runs under, e.g. kata (a VM per box).",
                extra={"fix": "use a name from `kubectl get runtimeclass`"},
            ),
        ]
        | None
    ) = None


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
    platform: Annotated[
        Platform,
        Meta(
            description="docker: every box on the server's Docker Engine; kubernetes: one "
            "pod per student, applied with the teacher's kubectl."
        ),
    ] = "docker"
    kubernetes: KubernetesSettings = msgspec.field(default_factory=KubernetesSettings)

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
    """(where, id, name, email) of each row of a roster CSV: `id,name[,email]`, header optional.
    Every bad line is one problem naming its line; a quote never closed stops the reading
    there (what follows it would be swallowed into one cell)."""
    text = _roster_text(path, problems)
    if text is None:
        return []
    rows: list[tuple[str, object, str, str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        number = reader.line_num + 1
        where = f"{printable(path.name)} line {number}"
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as error:
            problems.add(where, _csv_problem(str(error)))
            return rows
        cells = [cell.strip() for cell in row]
        if not any(cells) or (number == 1 and cells[0].lower() == "id"):
            continue
        if reader.line_num != number:
            problems.add(
                where,
                f"a quoted cell runs on to line {reader.line_num}; close the quote on its line",
            )
            continue
        if len(cells) not in (2, 3):
            problems.add(where, f"{len(cells)} columns; use id,name or id,name,email")
            continue
        name, email = cells[1], cells[2] if len(cells) == 3 else ""
        problem = _cell_problem("name", name) or _cell_problem("email", email)
        if problem:
            problems.add(where, problem)
        else:
            rows.append((where, cells[0], name, email))
    return rows


def _roster_text(path: Path, problems: Problems) -> str | None:
    """The roster file's text, read whole up to MAX_ROSTER_BYTES; None (and a problem) if not."""
    where = printable(str(path))
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            problems.add("students", f"{where} is not a file; give the roster CSV's path")
            return None
        with path.open("rb") as stream:
            raw = stream.read(MAX_ROSTER_BYTES + 1)
    except OSError as exc:
        problems.add("students", f"cannot read {where} ({exc.strerror}); check the path")
        return None
    if len(raw) > MAX_ROSTER_BYTES:
        problems.add(
            "students",
            f"{where} is larger than {MAX_ROSTER_BYTES // 1024} KiB, far more than a roster of "
            f"{MAX_STUDENTS} students; give the class's roster",
        )
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add("students", f"{where}: byte {exc.start} is not UTF-8; save it as UTF-8")
        return None


def _cell_problem(label: str, value: str) -> str:
    """What is wrong with a roster's name or email cell ("" when nothing): it goes into
    handouts, the guide, CSV sheets and terminal lines, so it is one line of plain text."""
    if not value.isprintable():
        return f"the {label} {show(value)} has a control character; write it as plain text"
    if len(value) > MAX_NAME:
        return f"the {label} is {len(value)} characters long; shorten it to {MAX_NAME}"
    return ""


def _csv_problem(error: str) -> str:
    if "unexpected end of data" in error or "EOF" in error:
        return (
            "a quote opened here is never closed, so the lines after it would be one cell; "
            'close it (a name with a comma is written "Smith, Ann")'
        )
    if "NUL" in error:
        return "a NUL byte; save the roster as plain UTF-8 text"
    return f"not CSV ({printable(error)}); write id,name[,email] per line"


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
    if hosted.platform == "kubernetes":
        _check_kubernetes(hosted, problems)


def _check_kubernetes(hosted: HostedSettings, problems: Problems) -> None:
    kube = hosted.kubernetes
    if kube.registry is None:
        problems.add(
            "hosted.kubernetes.registry",
            "is missing; name the registry the cluster pulls the lab box from "
            "(`make labbox-image REGISTRY=...` builds it)",
        )
    # On a cluster, isolation is the pod's runtime: vm is a RuntimeClass the teacher names.
    if hosted.isolation == "vm" and kube.runtime_class is None:
        problems.add(
            "hosted.kubernetes.runtime_class",
            "is missing; isolation: vm on Kubernetes runs each box under a RuntimeClass that "
            "gives it a VM: name one, such as kata",
        )
    if hosted.isolation == "container" and kube.runtime_class is not None:
        problems.add(
            "hosted.isolation",
            "is container, but hosted.kubernetes.runtime_class names a RuntimeClass; set "
            "isolation: vm when that class gives each box a VM",
        )
    low, high = hosted.port_range
    if kube.ssh == "nodeport" and not NODE_PORTS[0] <= low <= high <= NODE_PORTS[1]:
        problems.add(
            "hosted.ssh_ports",
            f"{hosted.ssh_ports} is outside Kubernetes' NodePort range; use ports within "
            f"{NODE_PORTS[0]}-{NODE_PORTS[1]} (or kubernetes.ssh: loadbalancer)",
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
