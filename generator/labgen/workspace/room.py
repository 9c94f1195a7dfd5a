"""What the workspace needs of a class folder, and nothing more: who may log in (each
student's id, name and password; the teacher's secret), where each student's lab box
answers SSH, the goals, and a way to grade one student's lab and read the class report.

This is the only module that talks to the class layer, so that the server does not
change when the class layer's shape does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labgen.backends.box import Box
from labgen.classroom.boxes import BoxFor, box_for, require_hosted
from labgen.classroom.grading import grade_seat
from labgen.classroom.model import SEED_FILE, Class, open_class, read_seed, teacher_secret
from labgen.classroom.report import ClassReport, read_report
from labgen.classroom.results import write_result
from labgen.errors import UsageError
from labgen.steps.scenario import Scenario, load_scenario


@dataclass(frozen=True)
class Desk:
    """One student as the workspace sees them."""

    student: str
    name: str
    password: str
    address: tuple[str, int]  # where their lab box's sshd answers


@dataclass(frozen=True)
class GoalLine:
    """One goal of a student's check, as the student sees it: never the answer."""

    id: str
    title: str
    mark: str  # ✓ ✗ ? —
    state: str  # done, todo, unknown, never
    hint: str  # shown when the goal does not hold yet
    reason: str  # why it could not be checked (state unknown)


class Room:
    """A hosted class, opened for serving."""

    def __init__(self, cls: Class, boxes: BoxFor | None = None) -> None:
        require_hosted(cls)
        self.cls = cls
        self.folder = cls.folder
        self.scenario: Scenario = load_scenario(cls.lab)
        box_of: BoxFor = boxes or (lambda seat: box_for(cls, seat))
        self.boxes: dict[str, Box] = {seat.student: box_of(seat) for seat in cls.seats}
        names = {student.id: student.name for student in cls.students}
        self.desks = {
            seat.student: Desk(
                seat.student,
                names.get(seat.student, ""),
                seat.password,
                self.boxes[seat.student].address(),
            )
            for seat in cls.seats
        }
        self.seats = {seat.student: seat for seat in cls.seats}

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def server(self) -> str | None:
        return self.cls.hosted.server

    def teacher_secret(self) -> str:
        return teacher_secret_of(self.folder)

    def handout(self, student: str, language: str) -> str:
        """The student's own handout (Markdown) as `labgen class create` wrote it."""
        return (self.folder / "students" / student / f"handout.{language}.md").read_text(
            encoding="utf-8"
        )

    def grade(self, student: str, timeout: float) -> None:
        """Grade one student's lab (grade mode) and keep its result file, as `class check`
        does; blocking (the server runs it in a thread)."""
        record = grade_seat(
            self.cls, self.seats[student], self.boxes[student], timeout, self.scenario
        )
        write_result(self.folder, record)

    def report(self) -> ClassReport:
        """The class report from the latest result of each student (as `class report`)."""
        roster = [(student.id, student.name) for student in self.cls.students]
        return read_report(self.folder, self.name, self.cls.lab.name, self.scenario, roster, None)

    def goals_of(self, report: ClassReport, student: str, language: str) -> list[GoalLine]:
        """A student's row of the report as goal lines with the hints in their language."""
        row = next(row for row in report.rows if row.student == student)
        lines = []
        for goal, cell in zip(self.scenario.goals, row.cells, strict=True):
            title = goal.title.zh if language == "zh" else goal.title.en
            hint = goal.hint.zh if language == "zh" else goal.hint.en
            lines.append(
                GoalLine(
                    id=goal.id,
                    title=title,
                    mark=cell.mark,
                    state=cell.state,
                    hint=hint if cell.state == "todo" else "",
                    reason=(row.error or cell.note) if cell.state == "unknown" else "",
                )
            )
        return lines


def open_room(folder: Path) -> Room:
    return Room(open_class(folder))


def teacher_secret_of(folder: Path) -> str:
    """The secret `class create` wrote to secrets/teacher, derived again from the seed so
    that a class folder made before there was a teacher login works too."""
    seed = read_seed(folder / SEED_FILE)
    if seed is None:
        raise UsageError(
            f"{folder / SEED_FILE}: missing or not a seed; run `labgen class create --force`"
        )
    return teacher_secret(seed)
