"""The class spec and `labgen class create`: validation, the class folder, secrets, questions."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator

from labgen.classroom.create import plan_class
from labgen.classroom.model import assign_seats, student_password, teacher_secret
from labgen.classroom.spec import ClassFile, load_class, parse_class
from labgen.cli import cli
from labgen.errors import SpecError
from labgen.render.plan import plan_lab
from labgen.spec.schema import struct_schema
from labgen.steps.scenario import load_scenario

SEED = "ab" * 32
HOSTED = {"server": "lab.example.org", "ssh_ports": "2200-2299"}
PROBLEM_LINE = re.compile(r"^[^\s:][^:\n]*: [^\n]*; [^\n]+$")


def labgen(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write_class(folder: Path, data: dict[str, Any] | str) -> Path:
    path = folder / "class.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(raw: object, base: Path = Path(".")) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_class(raw, base)
    return caught.value.problems


# ---------------------------------------------------------------- the spec


def test_students_as_ids_count_and_roster(tmp_path: Path) -> None:
    ids, _ = parse_class({"name": "ws", "students": ["alice", "bob"]}, tmp_path)
    assert [s.id for s in ids.students] == ["alice", "bob"]
    counted, _ = parse_class({"name": "ws", "students": 12}, tmp_path)
    assert [s.id for s in counted.students][:2] == ["s01", "s02"]
    assert counted.students[-1].id == "s12"
    (tmp_path / "roster.csv").write_text(
        'id,name,email\nalice,Alice Liddell,alice@example.org\n\nbob,"Bob, Jr."\n',
        encoding="utf-8",
    )
    roster, _ = parse_class({"name": "ws", "students": "roster.csv"}, tmp_path)
    assert [(s.id, s.name, s.email) for s in roster.students] == [
        ("alice", "Alice Liddell", "alice@example.org"),
        ("bob", "Bob, Jr.", ""),
    ]


def test_lab_inline_or_as_a_path(tmp_path: Path) -> None:
    inline, _ = parse_class(
        {"name": "ws", "students": 2, "lab": {"registry": {"port": 5050}}}, tmp_path
    )
    assert inline.lab.registry.port == 5050
    (tmp_path / "lab.yaml").write_text("mode: solved\n", encoding="utf-8")
    by_path, _ = parse_class({"name": "ws", "students": 2, "lab": "lab.yaml"}, tmp_path)
    assert by_path.lab.mode == "solved"
    default, _ = parse_class({"name": "ws", "students": 2}, tmp_path)
    assert default.lab.registry_address == "192.168.56.101:5000"


def test_hosted_ports_follow_the_roster_at_first_then_stay_with_their_students() -> None:
    assert assign_seats(["a", "b", "c"], {}, (2200, 2299)) == {"a": 2200, "b": 2201, "c": 2202}
    # a student inserted before b, and c removed: a and b keep theirs, the new one takes
    # the lowest free port (c's old one stays free only until someone needs it)
    kept = {"a": 2200, "b": 2201, "c": 2202}
    assert assign_seats(["a", "new", "b"], kept, (2200, 2299)) == {
        "a": 2200,
        "new": 2202,
        "b": 2201,
    }
    # a port outside a narrowed range, or taken twice, is given again
    assert assign_seats(["a", "b"], {"a": 2300, "b": 2200}, (2200, 2201)) == {"a": 2201, "b": 2200}


BAD_CLASSES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no-name", {"students": 2}, "name", "is missing"),
    ("bad-name", {"name": "WS 1", "students": 2}, "name", "use 1-32 lowercase"),
    ("no-students", {"name": "ws"}, "students", "is missing; give a list of ids"),
    ("zero-students", {"name": "ws", "students": 0}, "students", "from 1 to 100"),
    ("too-many", {"name": "ws", "students": 101}, "students", "from 1 to 100"),
    ("students-bool", {"name": "ws", "students": True}, "students", "give a list of ids"),
    (
        "bad-id",
        {"name": "ws", "students": ["ok", "Not OK"]},
        "students[1]",
        "not a valid student id",
    ),
    (
        "dup-id",
        {"name": "ws", "students": ["a", "a"]},
        "students[1]",
        "already used at students[0]",
    ),
    ("no-roster", {"name": "ws", "students": "missing.csv"}, "students", "cannot read"),
    ("delivery", {"name": "ws", "students": 2, "delivery": "cloud"}, "delivery", "use one of"),
    ("unknown", {"name": "ws", "students": 2, "teacher": "me"}, "teacher", "unknown field"),
    ("lab-bad", {"name": "ws", "students": 2, "lab": {"subnet": "lan"}}, "lab.subnet", "CIDR"),
    ("lab-int", {"name": "ws", "students": 2, "lab": 3}, "lab", "use a lab spec"),
    ("lab-path", {"name": "ws", "students": 2, "lab": "nope.yaml"}, "lab", "cannot read"),
    (
        "hosted-no-server",
        {"name": "ws", "students": 2, "delivery": "hosted"},
        "hosted.server",
        "is missing",
    ),
    (
        "hosted-few-ports",
        {
            "name": "ws",
            "students": 3,
            "delivery": "hosted",
            "hosted": {**HOSTED, "ssh_ports": "2200-2201"},
        },
        "hosted.ssh_ports",
        "holds 2 ports for 3 students",
    ),
    (
        "hosted-low-ports",
        {
            "name": "ws",
            "students": 3,
            "delivery": "hosted",
            "hosted": {**HOSTED, "ssh_ports": "22-90"},
        },
        "hosted.ssh_ports",
        "1024 <= LOW",
    ),
    (
        "hosted-memory",
        {"name": "ws", "students": 2, "hosted": {"memory": "lots"}},
        "hosted.memory",
        "with a unit",
    ),
    (
        "hosted-server",
        {"name": "ws", "students": 2, "hosted": {"server": "a b"}},
        "hosted.server",
        "host name",
    ),
    (
        "hosted-pids",
        {"name": "ws", "students": 2, "hosted": {"pids": 5}},
        "hosted.pids",
        "from 128",
    ),
]


@pytest.mark.parametrize(
    ("raw", "path", "says"), [c[1:] for c in BAD_CLASSES], ids=[c[0] for c in BAD_CLASSES]
)
def test_bad_class_names_field_and_fix(raw: dict[str, Any], path: str, says: str) -> None:
    problems = problems_of(raw)
    lines = [line for line in problems if line.startswith(f"{path}: ")]
    assert lines, f"no problem at {path!r}: {problems}"
    assert any(says in line for line in lines), lines
    for line in problems:
        assert PROBLEM_LINE.match(line), line


def test_every_class_problem_at_once() -> None:
    raw = {
        "name": "Bad",
        "students": ["x", "x"],
        "delivery": "hosted",
        "lab": {"registry": {"port": 22}},
        "extra": 1,
    }
    paths = sorted(line.split(": ")[0] for line in problems_of(raw))
    assert paths == ["extra", "hosted.server", "lab.registry.port", "name", "students[1]"]


def test_bad_roster_lines_are_named(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("alice,A\nBob,B\nalice,A2\ncarol\n", encoding="utf-8")
    assert problems_of({"name": "ws", "students": "r.csv"}, tmp_path) == [
        "r.csv line 4: 1 columns; use id,name or id,name,email",
        "r.csv line 2: 'Bob' is not a valid student id; "
        "use 1-32 lowercase letters, digits and '-', starting with a letter",
        "r.csv line 3: alice is already used at r.csv line 1; give each student their own id",
    ]


def test_class_schema_agrees_with_the_parser() -> None:
    schema = struct_schema(ClassFile, "labgen class spec")
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    good = {"name": "ws", "students": ["a"], "lab": {"mode": "solved"}, "delivery": "byod"}
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {"name": "ws"},
        {"name": "ws", "students": 2, "delivery": "x"},
        {"name": "W", "students": 2},
    ):
        assert list(validator.iter_errors(bad)), bad
        with pytest.raises(SpecError):
            parse_class(bad, Path("."))
    assert json.loads(labgen("schema", "--class").output)["title"] == "labgen class spec"


# ---------------------------------------------------------------- the class folder


def hosted_class(tmp_path: Path, students: Any = ("alice", "bob", "carol")) -> Any:
    raw = {"name": "ws", "students": list(students), "delivery": "hosted", "hosted": HOSTED}
    return parse_class(raw, tmp_path)[0]


def test_class_folder_files(tmp_path: Path) -> None:
    classroom = hosted_class(tmp_path)
    files = {f.path.as_posix(): f for f in plan_class(classroom, SEED)}
    for student in ("alice", "bob", "carol"):
        for name in ("handout.en.md", "handout.zh.md", "handout.en.html", "handout.zh.html"):
            assert f"students/{student}/{name}" in files
        assert files[f"students/{student}/access.txt"].private
    for name in ("class.yaml", "roster.csv", "teacher/guide.en.md", "teacher/guide.en.html"):
        assert not files[name].private
    assert files["secrets/seed"].private and files["secrets/credentials.csv"].private
    assert files["secrets/teacher"].private
    assert files["secrets/teacher"].content == teacher_secret(SEED) + "\n"
    lab = {f"lab/{f.path.as_posix()}": f.content for f in plan_lab(classroom.lab)}
    assert {k: files[k].content for k in lab} == lab


def test_byod_class_has_no_access_or_credentials(tmp_path: Path) -> None:
    classroom = parse_class({"name": "ws", "students": 2}, tmp_path)[0]
    names = {f.path.as_posix() for f in plan_class(classroom, SEED)}
    assert not [n for n in names if n.endswith("access.txt") or n.endswith("credentials.csv")]
    assert "secrets/teacher" not in names  # byod: nothing to serve


def test_class_handouts_ask_what_the_lab_reveals(tmp_path: Path) -> None:
    """Deviations and expected failures become questions; the answers are in the guide."""
    classroom = hosted_class(tmp_path)
    files = {f.path.as_posix(): f.content for f in plan_class(classroom, SEED)}
    scenario = load_scenario(classroom.lab)
    surprises = [s for s in scenario.steps if s.real or not s.post.ok]
    assert len(surprises) == 3
    handout = files["students/alice/handout.en.md"]
    assert handout.count("**Predict, run, explain.**") == len(surprises)
    assert files["students/alice/handout.zh.md"].count("再运行") == len(surprises)
    for step in surprises:
        assert step.real is None or step.real.why.en not in handout
        assert step.post.error is None or step.post.error not in handout
    guide = files["teacher/guide.en.md"]
    for step in surprises:
        assert step.run in guide
        if step.real:
            assert step.real.why.en in guide
            assert (step.real.outcome.error or "it succeeds") in guide
        if step.post.error:
            assert step.post.error in guide
    for goal in scenario.goals:
        assert goal.hint.en in guide
    # The single-lab handout keeps the answers, as it always did.
    assert "**What really happens.**" in files["lab/handout.en.md"]
    assert "Predict, run, explain" not in files["lab/handout.en.md"]


def test_hosted_handout_gives_the_students_own_ssh_command(tmp_path: Path) -> None:
    classroom = hosted_class(tmp_path)
    files = {f.path.as_posix(): f.content for f in plan_class(classroom, SEED)}
    assert "ssh -p 2201 bob@lab.example.org" in files["students/bob/handout.en.md"]
    assert "ssh -p 2201 bob@lab.example.org" in files["students/bob/handout.zh.md"]
    assert "vagrant up" not in files["students/bob/handout.en.md"]
    password = student_password(SEED, classroom.students[1].id)
    assert files["students/bob/access.txt"] == (
        f"bob: ssh -p 2201 bob@lab.example.org\npassword: {password}\n"
    )
    assert password not in files["students/bob/handout.en.md"]
    assert len({student_password(SEED, s.id) for s in classroom.students}) == 3


def test_hosted_handout_says_what_a_student_can_do_in_their_box(tmp_path: Path) -> None:
    files = {f.path.as_posix(): f.content for f in plan_class(hosted_class(tmp_path), SEED)}
    for language in ("en", "zh"):
        handout = files[f"students/bob/handout.{language}.md"]
        # no labgen in the box: the handout must not send them to it
        assert "labgen check" not in handout, language
        assert "`lab client docker images`" in handout
        assert "`exit`" in handout
        assert "`lab registry`" in handout
    byod = {
        f.path.as_posix(): f.content
        for f in plan_class(parse_class({"name": "ws", "students": 1}, tmp_path)[0], SEED)
    }
    assert "labgen check --mode grade" in byod["students/s01/handout.en.md"]


def test_an_unknown_key_under_hosted_is_one_line_naming_the_file(tmp_path: Path) -> None:
    data = {
        "name": "ws",
        "students": 2,
        "delivery": "hosted",
        "hosted": {**HOSTED, "isolaton": "vm"},
    }
    result = labgen("class", "create", str(write_class(tmp_path, data)), "--dry-run")
    assert result.exit_code == 2
    assert result.output == (
        f"labgen: error: {tmp_path / 'class.yaml'}: hosted.isolaton: unknown field; use one of: "
        "server, ssh_ports, cpus, memory, pids, isolation, platform, kubernetes\n"
    )


def test_html_pages_are_self_contained_and_escaped(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text('alice,"<script>alert(1)</script> & co"\n', encoding="utf-8")
    classroom = parse_class({"name": "ws", "students": "r.csv"}, tmp_path)[0]
    files = {f.path.as_posix(): f.content for f in plan_class(classroom, SEED)}
    guide = files["teacher/guide.en.html"]
    assert "<script>" not in guide and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in guide
    for name, content in files.items():
        if name.endswith(".html"):
            assert not re.search(r"""(src|href)=["']?(https?:)?//""", content), name
            assert "<table>" in content and "<pre><code" in content, name


def test_class_create_writes_secrets_privately_and_never_prints_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_class(
        tmp_path, {"name": "ws", "students": ["alice"], "delivery": "hosted", "hosted": HOSTED}
    )
    result = labgen("class", "create", str(spec))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "classes" / "ws"
    access = (folder / "students/alice/access.txt").read_text(encoding="utf-8")
    password = access.split("password: ")[1].strip()
    assert password not in result.output
    secrets = ("students/alice/access.txt", "secrets/seed", "secrets/credentials.csv")
    for secret in (*secrets, "secrets/teacher"):
        assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600, secret
    assert stat.S_IMODE((folder / "roster.csv").stat().st_mode) == 0o644
    # The folder's class.yaml is a class spec the class commands read back.
    again, _ = load_class(folder / "class.yaml")
    assert [s.id for s in again.students] == ["alice"] and again.hosted.server == "lab.example.org"


def test_class_create_is_deterministic_and_keeps_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_class(
        tmp_path, {"name": "ws", "students": 3, "delivery": "hosted", "hosted": HOSTED}
    )
    assert labgen("class", "create", str(spec)).exit_code == 0
    folder = tmp_path / "classes" / "ws"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    again = labgen("class", "create", str(spec), "--force")
    assert again.exit_code == 0, again.output
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_class_create_refuses_bad_spec_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_class(tmp_path, "name: ws\nstudents: [a, a]\nname: other\n")
    result = labgen("class", "create", str(spec))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"labgen: error: {spec}: duplicate key 'name' at line 3, column 1; fix the YAML syntax"
    ]
    assert not (tmp_path / "classes").exists()


def test_class_create_never_replaces_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_class(tmp_path, {"name": "ws", "students": 2})
    assert labgen("class", "create", str(spec)).exit_code == 0
    result = labgen("class", "create", str(spec))
    assert result.exit_code == 2 and "--force" in result.output


def test_class_of_part_2_gets_one_lab_password_kept_by_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_class(tmp_path, {"name": "ws", "students": 2, "lab": {"scenario": "secure"}})
    assert labgen("class", "create", str(spec)).exit_code == 0
    lab_yaml = tmp_path / "classes/ws/lab/lab.yaml"
    password = yaml.safe_load(lab_yaml.read_text(encoding="utf-8"))["auth"]["password"]
    assert password and password in (tmp_path / "classes/ws/teacher/guide.en.md").read_text()
    assert labgen("class", "create", str(spec), "--force").exit_code == 0
    assert yaml.safe_load(lab_yaml.read_text(encoding="utf-8"))["auth"]["password"] == password


def test_class_continuing_from_part_1_says_so_in_handouts_and_guide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lab = {"scenario": "secure", "from_part1": True}
    spec = write_class(tmp_path, {"name": "ws", "students": 1, "lab": lab})
    assert labgen("class", "create", str(spec)).exit_code == 0
    guide = (tmp_path / "classes/ws/teacher/guide.en.md").read_text(encoding="utf-8")
    handout = (tmp_path / "classes/ws/students/s01/handout.en.md").read_text(encoding="utf-8")
    for text in (guide, handout):
        assert "This lab starts where part 1 ended" in text
        assert "daemon-json remove insecure-registries" in text


# ---------------------------------------------------------------- hostile rosters


def roster_problems(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "r.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return problems_of({"name": "ws", "students": "r.csv"}, tmp_path)


def test_an_unterminated_quote_is_named_and_swallows_no_row(tmp_path: Path) -> None:
    text = 'id,name\nalice,"Alice\nbob,Bob\ncarol,Carol\n'
    assert roster_problems(tmp_path, text) == [
        "r.csv line 2: a quote opened here is never closed, so the lines after it would be "
        'one cell; close it (a name with a comma is written "Smith, Ann")'
    ]
    result = labgen(
        "class",
        "create",
        str(write_class(tmp_path, {"name": "ws", "students": "r.csv"})),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


def test_a_cell_running_over_lines_is_named(tmp_path: Path) -> None:
    assert roster_problems(tmp_path, 'alice,"A\nB"\nbob,b\n') == [
        "r.csv line 1: a quoted cell runs on to line 2; close the quote on its line"
    ]


def test_a_large_roster_is_read_whole_and_an_oversized_one_named(tmp_path: Path) -> None:
    """100 students with long Chinese names pass 64 KiB; the 100th is still read."""
    email = "x" * 180 + "@example.org"
    rows = "".join(f"s{n:03d},{'张' * 190} {n},{email}\n" for n in range(1, 101))
    (tmp_path / "r.csv").write_text("id,name,email\n" + rows, encoding="utf-8")
    assert len(rows.encode()) > 64 * 1024
    classroom, _ = parse_class({"name": "ws", "students": "r.csv"}, tmp_path)
    assert len(classroom.students) == 100 and classroom.students[-1].name.endswith(" 100")
    [line] = roster_problems(tmp_path, b"a" * (1024 * 1024 + 1))
    assert line == (
        f"students: {tmp_path / 'r.csv'} is larger than 1024 KiB, far more than a roster of "
        "100 students; give the class's roster"
    )


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("Ann\x1b[2J", "the name 'Ann\\x1b[2J' has a control character; write it as plain text"),
        ("Ann\u202eevil", "the name 'Ann\\u202eevil' has a control character"),
        ("A" * 201, "the name is 201 characters long; shorten it to 200"),
    ],
)
def test_names_are_one_line_of_plain_text(tmp_path: Path, cell: str, problem: str) -> None:
    [line] = roster_problems(tmp_path, f"alice,{cell}\n")
    assert line.startswith(f"r.csv line 1: {problem}")


def test_a_roster_that_is_not_a_file_is_named(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "r.csv")
    assert problems_of({"name": "ws", "students": "r.csv"}, tmp_path) == [
        f"students: {tmp_path / 'r.csv'} is not a file; give the roster CSV's path"
    ]


EVIL = "![x](http://evil.example/a.png) [click](https://evil.example) <img src=x> &amp; | <b>"


def test_names_cannot_put_links_images_or_html_into_the_guide(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text(f'alice,"{EVIL}"\n', encoding="utf-8")
    classroom = parse_class({"name": "ws", "students": "r.csv"}, tmp_path)[0]
    files = {f.path.as_posix(): f.content for f in plan_class(classroom, SEED)}
    for name in ("teacher/guide.en.html", "students/alice/handout.en.html"):
        page = files[name]
        for active in ("<img", "<a ", "href=", 'src="', "<b>"):
            assert active not in page, (name, active)
    assert (
        "![x](http://evil.example/a.png) [click](https://evil.example)"
        in files["teacher/guide.en.html"]
    )
    assert "&lt;img src=x&gt; &amp;amp; | &lt;b&gt;" in files["teacher/guide.en.html"]


@pytest.mark.parametrize("name", ["=1+1", "+cmd", "-2+3", "@SUM(1)", " =HYPERLINK(1)", "|x"])
def test_roster_and_credentials_sheets_are_inert(tmp_path: Path, name: str) -> None:
    (tmp_path / "r.csv").write_text(f'alice,"{name}",=x@example.org\n', encoding="utf-8")
    raw = {"name": "ws", "students": "r.csv", "delivery": "hosted", "hosted": HOSTED}
    classroom = parse_class(raw, tmp_path)[0]
    files = {f.path.as_posix(): f.content for f in plan_class(classroom, SEED)}
    import csv
    import io

    [row] = list(csv.reader(io.StringIO(files["roster.csv"])))[1:]
    assert row == ["alice", "'" + name.strip(), "'=x@example.org"]  # the roster's cells are trimmed
    assert files["secrets/credentials.csv"].splitlines()[1].startswith("alice,2200,")


def test_byod_handouts_say_how_to_hand_in_with_labgen_submit(tmp_path: Path) -> None:
    byod = parse_class({"name": "ws", "students": ["alice"]}, tmp_path)[0]
    files = {f.path.as_posix(): f.content for f in plan_class(byod, SEED)}
    for language in ("en", "zh"):
        handout = files[f"students/alice/handout.{language}.md"]
        assert "labgen submit --student alice" in handout
        assert "registry-lab-alice.submission.json" in handout
    assert "labgen submit" not in files["lab/handout.en.md"]  # the single lab has no teacher
    hosted = {f.path.as_posix(): f.content for f in plan_class(hosted_class(tmp_path), SEED)}
    assert "labgen submit" not in hosted["students/alice/handout.en.md"]


def test_errors_never_echo_a_control_character_raw(tmp_path: Path) -> None:
    """The one sanitiser: every error line labgen prints goes through it."""
    spec = write_class(tmp_path, {"name": "ws", "students": "r\x1b[2J\n.csv"})
    result = labgen("class", "create", str(spec), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.output == (
        f"labgen: error: {spec}: students: cannot read {tmp_path}/r\\x1b[2J\\n.csv (No such file or "
        "directory); check the path\n"
    )
    missing = tmp_path / "no\x1bpe"
    result = labgen("class", "report", str(missing))
    assert "\x1b" not in result.output and result.exit_code == 2


def test_hosted_isolation_is_container_or_vm(tmp_path: Path) -> None:
    base = {
        "name": "iso",
        "delivery": "hosted",
        "students": 2,
        "hosted": {"server": "lab.example.org"},
    }
    classroom, _ = parse_class(base, tmp_path)
    assert classroom.hosted.isolation == "container"
    vm = {**base, "hosted": {"server": "lab.example.org", "isolation": "vm"}}
    assert parse_class(vm, tmp_path)[0].hosted.isolation == "vm"
    wrong = {**base, "hosted": {"server": "lab.example.org", "isolation": "vmm"}}
    with pytest.raises(
        SpecError, match=r"hosted.isolation: 'vmm' is not valid; use one of: container, vm"
    ):
        parse_class(wrong, tmp_path)
