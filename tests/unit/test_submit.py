"""`labgen submit`: a student's lab graded into one file, on a scripted lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classkit import ALL, LAB, SCENARIO, StudentLab, at, first, host_id
from click.testing import CliRunner

from labgen import live
from labgen.backends.base import ExecResult
from labgen.check import runner
from labgen.classroom.submissions import read_submission
from labgen.cli import cli
from labgen.errors import LabgenError, UsageError
from labgen.lab import Lab
from labgen.submit import HOST_ID_COMMAND, HOST_ID_FILE, make_submission


def test_a_submission_holds_who_what_when_the_grade_and_the_host_ids() -> None:
    lab = StudentLab(first(2), engine="laptop1")
    content = make_submission(lab, SCENARIO, LAB, "alice", 5, now=lambda: at(7))
    assert content["format"] == 2
    assert (content["student"], content["lab"], content["scenario"]) == ("alice", LAB, "insecure")
    assert content["created_at"] == "2026-11-28T08:07:00Z"
    assert content["labgen_version"] == "0.1.0"
    assert content["host_ids"] == {
        "client": host_id("laptop1", "client"),
        "registry": host_id("laptop1", "registry"),
    }
    report = content["report"]
    assert report["mode"] == "grade" and report["lab"] == LAB
    passed = {(r["id"], r["host"]) for r in report["results"] if r["status"] == "pass"}
    assert passed == first(2)
    allowed = {goal.run for goal in SCENARIO.goals} | {
        HOST_ID_COMMAND,
        runner.VERSION_COMMANDS["docker"],
    }
    assert {command for _, command in lab.calls} <= allowed, "submit must only read the lab"


class Unreachable(StudentLab):
    """The way to `client` fails (CONTRACT 1: the backend says why in `error`)."""

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        if host == "client":
            return ExecResult(255, "", "", 0.01, error="ssh: connect to host: Connection refused")
        return super().exec(host, command, timeout)


class MadeBeforeHostIds(StudentLab):
    """A lab rendered by an older labgen: its hosts have no identity file."""

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        if command == HOST_ID_COMMAND:
            return ExecResult(1, "", f"cat: {HOST_ID_FILE}: No such file or directory", 0.01)
        return super().exec(host, command, timeout)


def test_a_host_that_cannot_be_reached_stops_the_submission_saying_why() -> None:
    with pytest.raises(LabgenError) as caught:
        make_submission(Unreachable(ALL), SCENARIO, LAB, "alice", 5)
    assert str(caught.value) == (
        "host client: could not be asked for its identity (ssh: connect to host: Connection "
        "refused); start the lab with `labgen up` (`labgen status` shows it), then submit again"
    )


def test_a_lab_without_host_identities_says_how_to_get_them() -> None:
    with pytest.raises(LabgenError, match=r"^host client: no labgen host identity \("):
        make_submission(MadeBeforeHostIds(ALL), SCENARIO, LAB, "alice", 5)


@pytest.mark.parametrize("student", ["Alice", "al ice", "-bob", "", "a/b"])
def test_a_student_id_must_be_a_dns_label(student: str) -> None:
    with pytest.raises(UsageError, match="not a student id"):
        make_submission(StudentLab(ALL), SCENARIO, LAB, student, 5)


def test_the_command_writes_a_file_the_class_report_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "lab.yaml").write_text("{}\n", encoding="utf-8")
    used: list[str | None] = []

    def make_backend(lab: Lab, backend: str | None) -> StudentLab:
        used.append(backend)
        return StudentLab(ALL, engine="laptop7")

    monkeypatch.setattr(live, "make_backend", make_backend)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["submit", "--student", "alice", str(folder)])
    assert result.exit_code == 0, result.output
    written = tmp_path / f"{LAB}-alice.submission.json"
    assert f"wrote {written.name}: 8 of 8 checks hold" in result.output
    assert used == [None]  # the backend `labgen up` used
    accepted = read_submission(written, LAB, "insecure", ["alice"])
    assert accepted.submission.host_ids["client"] == host_id("laptop7", "client")
    assert json.loads(written.read_text(encoding="utf-8"))["student"] == "alice"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", written.name]


def test_the_command_refuses_a_bad_student_id_before_touching_the_lab(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["submit", "--student", "Bob!", str(tmp_path)])
    assert result.exit_code == 2
    assert "--student 'Bob!': not a student id" in result.output
