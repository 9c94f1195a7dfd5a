"""What the workspace needs of a class folder, and nothing more: who may log in (each
student's id, name and password; the teacher's secret), where each student's lab box
answers SSH, the goals, and a way to grade one student's lab and read the class report.

This is the only module that talks to the class layer, so that the server does not
change when the class layer's shape does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labgen.classroom.create import SEED_FILE, teacher_secret
from labgen.classroom.grading import BackendFor, grade_class
from labgen.classroom.info import ClassInfo, hosted_backends, hosted_boxes, open_class
from labgen.classroom.report import ClassReport, build_report, collect_entries
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
    """A hosted class folder, opened for serving."""

    def __init__(self, info: ClassInfo, box_host: str, backends: BackendFor | None = None) -> None:
        self.info = info
        self.folder = info.folder
        self.scenario: Scenario = load_scenario(info.lab)
        boxes = hosted_boxes(info)
        names = {student.id: student.name for student in info.students}
        self.desks = {
            box.seat.student: Desk(
                box.seat.student,
                names.get(box.seat.student, ""),
                box.seat.password,
                (box_host, box.seat.ssh_port),
            )
            for box in boxes
        }
        self._backends = backends or hosted_backends(info)

    @property
    def name(self) -> str:
        return self.info.name

    def teacher_secret(self) -> str:
        return teacher_secret_of(self.folder)

    def handout(self, student: str, language: str) -> str:
        """The student's own handout (Markdown) as `labgen class create` wrote it."""
        return (self.folder / "students" / student / f"handout.{language}.md").read_text(
            encoding="utf-8"
        )

    def grade(self, student: str, timeout: float) -> None:
        """Grade one student's lab (grade mode) and write its result file, as `class check`
        does; blocking (the server runs it in a thread)."""
        grade_class(
            self.folder,
            self.info.lab.name,
            self.scenario,
            [student],
            self._backends,
            jobs=1,
            timeout=timeout,
            echo=lambda _line: None,
        )

    def report(self) -> ClassReport:
        """The class report from the latest result of each student (as `class report`)."""
        ids = [student.id for student in self.info.students]
        entries, problems = collect_entries(self.folder, ids, {}, self.info.lab.name)
        roster = [(student.id, student.name) for student in self.info.students]
        return build_report(self.name, self.info.lab.name, self.scenario, roster, entries, problems)

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
                    reason=row.error if cell.state == "unknown" else "",
                )
            )
        return lines


def open_room(folder: Path, box_host: str) -> Room:
    info = open_class(folder)
    if info.delivery != "hosted":
        raise UsageError(
            f"{folder}: a byod class; `class serve` needs hosted lab boxes (delivery: hosted)"
        )
    return Room(info, box_host)


def teacher_secret_of(folder: Path) -> str:
    """The secret `class create` wrote to secrets/teacher, derived again from the seed so
    that a class folder made before there was a teacher login works too."""
    try:
        seed = (folder / SEED_FILE).read_text(encoding="ascii").strip()
        return teacher_secret(seed)
    except (OSError, ValueError):
        raise UsageError(
            f"{folder / SEED_FILE}: missing or not a seed; run `labgen class create --force`"
        ) from None
