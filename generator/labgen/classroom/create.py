"""Plan a class folder: the lab, every student's handouts and access, the teacher guide,
the roster and the secrets. Pure: the same class and seed give the same files.

    class.yaml                  the class as resolved (what the class commands read)
    roster.csv                  id,name,email (no secrets)
    lab/                        the lab folder every student's lab is made from
    students/ID/handout.*.md    the handout in en and zh, with steps as questions
    students/ID/handout.*.html  the same, as a printable self-contained page
    students/ID/access.txt      hosted: the SSH command and password (0600)
    teacher/guide.en.{md,html}  the full solution, expected outputs, what each goal catches
    secrets/seed                where the passwords come from (0600): kept by --force
    secrets/seats.csv           hosted: id,ssh_port, each student's port kept by --force (0600)
    secrets/credentials.csv     hosted: id,ssh_port,password (0600)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import jinja2
import yaml
from markdown_it import MarkdownIt
from markupsafe import Markup

from labgen.classroom.model import SEATS_FILE, SEED_FILE, assign_seats, seats_csv, student_password
from labgen.classroom.spec import Classroom, Student, class_to_data
from labgen.render.plan import (
    HEADER,
    LANGUAGES,
    Access,
    HandoutOptions,
    PlannedFile,
    environment,
    plan_lab,
    render_handouts,
    step_context,
)
from labgen.steps.scenario import load_scenario

# Inside a lab box, `lab HOST` opens a shell on one of the lab's hosts.
HOST_COMMAND = "lab"


def plan_class(
    classroom: Classroom,
    seed: str,
    kept_ports: Mapping[str, int] | None = None,
    class_dir: str | None = None,
) -> list[PlannedFile]:
    """Every file of the class folder `class_dir` (default classes/NAME); `seed` (hex) makes
    the students' passwords; a student in `kept_ports` keeps their SSH port."""
    ports = assign_seats(
        [s.id for s in classroom.students], kept_ports or {}, classroom.hosted.port_range
    )
    scenario = load_scenario(classroom.lab)
    env = environment()
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    page = _html_environment().get_template("class/page.html.j2")

    def html(text: str, title: str, language: str) -> str:
        # The Markdown's first line is the generated-file comment; the page has its own.
        body = markdown.render(text.split("\n", 1)[1] if text.startswith("<!--") else text)
        return page.render(header=HEADER, language=language, title=title, body=Markup(body))

    files = [
        PlannedFile(PurePosixPath("class.yaml"), _class_yaml(classroom)),
        PlannedFile(PurePosixPath("roster.csv"), _roster_csv(classroom.students)),
        PlannedFile(SEED_FILE, seed + "\n", private=True),
    ]
    files += [
        PlannedFile(PurePosixPath("lab") / file.path, file.content, file.executable)
        for file in plan_lab(classroom.lab)
    ]
    hosted = classroom.delivery == "hosted"
    for student in classroom.students:
        folder = PurePosixPath("students") / student.id
        access = _access(classroom, student, ports[student.id]) if hosted else None
        handouts = render_handouts(
            classroom.lab,
            scenario,
            env,
            HandoutOptions(questions=True, student=student.id, access=access),
        )
        for language in LANGUAGES:
            text = handouts[language]
            title = f"{scenario.title.en if language == 'en' else scenario.title.zh} ({student.id})"
            files.append(PlannedFile(folder / f"handout.{language}.md", text))
            files.append(
                PlannedFile(folder / f"handout.{language}.html", html(text, title, language))
            )
        if access is not None:
            password = student_password(seed, student.id)
            sheet = f"{student.id}: {access.ssh}\npassword: {password}\n"
            files.append(PlannedFile(folder / "access.txt", sheet, private=True))
    if hosted:
        files.append(PlannedFile(SEATS_FILE, seats_csv(ports), private=True))
        files.append(
            PlannedFile(
                PurePosixPath("secrets/credentials.csv"),
                _credentials_csv(classroom, seed, ports),
                private=True,
            )
        )
    context = _guide_context(classroom, scenario, ports, class_dir or f"classes/{classroom.name}")
    guide = env.get_template("class/guide.en.md.j2").render(**context)
    files.append(PlannedFile(PurePosixPath("teacher/guide.en.md"), guide))
    files.append(
        PlannedFile(
            PurePosixPath("teacher/guide.en.html"),
            html(guide, f"Teacher guide: {classroom.name}", "en"),
        )
    )
    return files


def _access(classroom: Classroom, student: Student, port: int) -> Access:
    return Access(
        ssh=f"ssh -p {port} {student.id}@{classroom.hosted.server}", host_command=HOST_COMMAND
    )


def _html_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=environment().loader,
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
    )


def _guide_context(
    classroom: Classroom, scenario: Any, ports: Mapping[str, int], class_dir: str
) -> dict[str, Any]:
    lab = classroom.lab
    hosted = classroom.hosted
    return {
        "header": HEADER,
        "class_name": classroom.name,
        "class_dir": class_dir,
        "scenario": scenario,
        "delivery": classroom.delivery,
        "hosted": classroom.delivery == "hosted",
        "server": hosted.server or "",
        "limits": f"{hosted.cpus:g} CPU, {hosted.memory} of memory and {hosted.pids} processes",
        "students": [{"id": s.id, "name": s.name, "port": ports[s.id]} for s in classroom.students],
        "registry_addr": lab.registry_address,
        "registry_host": lab.registry_host.name,
        "client_list": ", ".join(f"`{h.name}`" for h in lab.clients),
        "all_hosts": ", ".join(h.name for h in lab.hosts),
        # numbered as the handout numbers them: a step with a variant per engine is one number
        "steps": [
            {
                **step_context(step),
                "number": list(dict.fromkeys(s.id for s in scenario.steps)).index(step.id) + 1,
                "question": step.real is not None or not step.post.ok,
            }
            for step in scenario.steps
        ],
        "goals": [
            {
                "id": goal.id,
                "title": goal.title,
                "hint": goal.hint,
                "host_names": ", ".join(h.name for h in goal.hosts),
            }
            for goal in scenario.goals
        ],
    }


def _class_yaml(classroom: Classroom) -> str:
    data = class_to_data(classroom)
    data["students"] = "roster.csv"
    data["lab"] = "lab/lab.yaml"
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return (
        "# The class this folder was made from; the `labgen class` commands read it.\n"
        "# To change the class, edit the class spec and run `labgen class create --force`.\n"
        f"{body}"
    )


def _csv_line(*cells: object) -> str:
    """One CSV row; cells are validated ids and names, quoted when they hold , or \"."""

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def _roster_csv(students: tuple[Student, ...]) -> str:
    return _csv_line("id", "name", "email") + "".join(
        _csv_line(s.id, s.name, s.email) for s in students
    )


def _credentials_csv(classroom: Classroom, seed: str, ports: Mapping[str, int]) -> str:
    return _csv_line("id", "ssh_port", "password") + "".join(
        _csv_line(s.id, ports[s.id], student_password(seed, s.id)) for s in classroom.students
    )
