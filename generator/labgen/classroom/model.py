"""The class as every class command sees it: `Class`, read from a class folder made by
`labgen class create`, and each student's `Seat` in it.

A seat is stable: `secrets/seats.csv` keeps each student's SSH port, so a student keeps
theirs when others are added to or removed from the roster (a new student gets the
lowest free port). Passwords are not kept there: they derive from `secrets/seed`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from labgen.classroom.spec import Classroom, Delivery, HostedSettings, Student, load_class
from labgen.errors import UsageError
from labgen.spec.model import LabSpec

CLASS_FILE = "class.yaml"
SEED_FILE = PurePosixPath("secrets/seed")
SEATS_FILE = PurePosixPath("secrets/seats.csv")
MAX_SEATS_BYTES = 1 << 20


@dataclass(frozen=True)
class Seat:
    """One student's place in a class: who logs in, where, and with which password
    (byod: no port, no password: the student's lab is on their own machine)."""

    class_name: str
    student: str
    ssh_port: int
    password: str

    @property
    def prefix(self) -> str:
        return f"labgen-{self.class_name}-{self.student}"


@dataclass(frozen=True)
class Class:
    """A class folder: the resolved class spec, where it lives, and its seats."""

    folder: Path
    spec: Classroom
    seats: tuple[Seat, ...]  # in roster order

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def lab(self) -> LabSpec:
        return self.spec.lab

    @property
    def lab_folder(self) -> Path:
        return self.folder / "lab"

    @property
    def delivery(self) -> Delivery:
        return self.spec.delivery

    @property
    def students(self) -> tuple[Student, ...]:
        return self.spec.students

    @property
    def hosted(self) -> HostedSettings:
        return self.spec.hosted

    def select(self, students_option: str | None) -> list[Seat]:
        """The seats of `--students a,b` ("a, b" too), in roster order; all when None."""
        if students_option is None:
            return list(self.seats)
        chosen = [item.strip() for item in students_option.split(",") if item.strip()]
        known = {seat.student for seat in self.seats}
        unknown = [item for item in chosen if item not in known]
        if unknown or not chosen:
            raise UsageError(
                f"--students: {', '.join(unknown) or 'no id given'} not on the roster of "
                f"{self.name}; give ids from {self.folder / 'roster.csv'}, comma-separated"
            )
        return [seat for seat in self.seats if seat.student in chosen]


def open_class(folder: Path) -> Class:
    """The class in `folder` (made by `labgen class create`)."""
    path = folder / CLASS_FILE
    if not path.is_file():
        raise UsageError(
            f"{folder}: no {CLASS_FILE} here; give a class folder made by `labgen class create`"
        )
    classroom, _ = load_class(path)
    if classroom.delivery != "hosted":
        return Class(
            folder, classroom, tuple(Seat(classroom.name, s.id, 0, "") for s in classroom.students)
        )
    seed = read_seed(folder / SEED_FILE)
    if seed is None:
        raise UsageError(
            f"{folder / SEED_FILE}: missing or not 64 hex digits; run `labgen class create "
            "--force` with the class spec (students' passwords then change)"
        )
    ports = read_seats(folder / SEATS_FILE)
    missing = [s.id for s in classroom.students if s.id not in ports]
    if missing:
        raise UsageError(
            f"{folder / SEATS_FILE}: no seat for {', '.join(missing)}; run `labgen class create "
            "--force` with the class spec (everyone else keeps their port)"
        )
    seats = tuple(
        Seat(classroom.name, s.id, ports[s.id], student_password(seed, s.id))
        for s in classroom.students
    )
    return Class(folder, classroom, seats)


def student_password(seed: str, student: str) -> str:
    """A student's SSH password: derived from the class seed, so re-creating keeps it."""
    digest = hmac.new(bytes.fromhex(seed), f"ssh:{student}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:16].lower()


def read_seed(path: Path) -> str | None:
    """A class folder's seed, or None when there is none (or it is not one)."""
    try:
        with path.open("rb") as handle:
            seed = handle.read(256).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return seed if len(seed) == 64 and set(seed) <= set(string.hexdigits) else None


def assign_seats(
    students: Sequence[str], kept: Mapping[str, int], port_range: tuple[int, int]
) -> dict[str, int]:
    """Each student's SSH port: the one they had (if still in the range), else the lowest
    free one, in roster order. The range holds every student (the class spec checks it)."""
    low, high = port_range
    ports: dict[str, int] = {}
    taken: set[int] = set()
    for student in students:
        port = kept.get(student)
        if port is not None and low <= port <= high and port not in taken:
            ports[student] = port
            taken.add(port)
    free = (port for port in range(low, high + 1) if port not in taken)
    for student in students:
        if student not in ports:
            ports[student] = next(free)
    return {student: ports[student] for student in students}


def read_seats(path: Path) -> dict[str, int]:
    """`secrets/seats.csv` (id,ssh_port) as {student: port}; {} when there is none."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SEATS_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UsageError(
            f"{path}: cannot read it ({error.strerror}); check its permissions"
        ) from None
    if len(data) > MAX_SEATS_BYTES:
        raise UsageError(f"{path}: larger than {MAX_SEATS_BYTES} bytes; not a seats file")
    ports: dict[str, int] = {}
    try:
        for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
            port = int(row["ssh_port"])
            if not 1 <= port <= 65535 or port in ports.values():
                raise ValueError(f"port {port} is not valid or used twice")
            ports[row["id"]] = port
    except (UnicodeDecodeError, KeyError, TypeError, ValueError, csv.Error) as error:
        raise UsageError(
            f"{path}: not a seats file ({error}); restore it, or delete it and run `labgen "
            "class create --force` (ports are then given in roster order)"
        ) from None
    return ports


def seats_csv(ports: Mapping[str, int]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "ssh_port"])
    writer.writerows(ports.items())
    return out.getvalue()
