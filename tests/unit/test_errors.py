"""Every error is one line naming the file or command and the fix, never a traceback:
file-system errors, a corrupt state file, the JUnit file, output of vagrant and compose
labgen cannot read, and `run` when both the check and `down` fail."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from helpers import missing
from labgen.backends.base import ExecResult
from labgen.check.results import CheckReport
from labgen.cli import cli
from labgen.errors import LabgenError


def labgen(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def error_lines(result: Result) -> list[str]:
    """The error lines on stderr; no traceback anywhere, and no other line says `error`."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return [line for line in result.stderr.splitlines() if "error" in line]


def one_error(result: Result) -> str:
    (line,) = error_lines(result)
    assert line.startswith("labgen: error: ")
    return line


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A folder to mount a tmpfs on (give mount options), unmounted again in the end."""
    point = tmp_path / "mnt"
    point.mkdir()
    mounted: list[str] = []
    yield point, mounted
    if mounted:
        subprocess.run(["umount", str(point)], check=True)


def mount(point: Path, mounted: list[str], options: str) -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True
    )
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs (needs root): {done.stderr.decode().strip()}")
    mounted.append(options)


def make_lab(folder: Path) -> Path:
    result = labgen("create", "--out", str(folder))
    assert result.exit_code == 0, result.output
    return folder


def test_read_only_output(tmpfs: tuple[Path, list[str]]) -> None:
    point, mounted = tmpfs
    mount(point, mounted, "ro,size=1m")
    result = labgen("create", "--out", str(point / "lab"))
    assert result.exit_code == 1
    line = one_error(result)
    assert "Read-only file system; that file system is read-only: write elsewhere" in line


def test_a_full_disk_leaves_nothing_behind(tmpfs: tuple[Path, list[str]]) -> None:
    point, mounted = tmpfs
    mount(point, mounted, "size=16k")
    result = labgen("create", "--out", str(point / "lab"))
    assert result.exit_code == 1
    assert "No space left on device; the disk is full" in one_error(result)
    assert list(point.iterdir()) == []


def test_a_name_too_long(tmp_path: Path) -> None:
    result = labgen("create", "--out", str(tmp_path / ("x" * 300)))
    assert result.exit_code == 1
    assert "File name too long; a name in the path is too long" in one_error(result)
    assert list(tmp_path.iterdir()) == []


def test_the_last_wall_turns_any_file_system_error_into_one_line(
    tmpfs: tuple[Path, list[str]],
) -> None:
    """`up` writes the lab's state file; on a read-only disk no command catches that itself."""
    point, mounted = tmpfs
    mount(point, mounted, "size=1m")
    lab = make_lab(point / "lab")
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    result = labgen("up", str(lab), "--backend", "compose")
    assert result.exit_code == 1
    line = one_error(result)
    assert line.startswith(f"labgen: error: {lab / '.labgen'}: Read-only file system; ")


def test_a_non_utf8_file_in_an_existing_lab(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "lab")
    (lab / "handout.en.md").write_bytes(b"caf\xe9 notes\n")
    dry = labgen("create", "--out", str(lab), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"changed  {lab / 'handout.en.md'}" in dry.stdout.splitlines()
    again = labgen("create", "--out", str(lab), "--force")
    assert again.exit_code == 0, again.output
    assert "1 changed, 12 same" in again.stdout


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"backend": 5}', b"[]", b'{"backend": "caf\xe9"}']
)
def test_a_corrupt_state_file(tmp_path: Path, content: bytes) -> None:
    lab = make_lab(tmp_path / "lab")
    (lab / ".labgen").mkdir()
    (lab / ".labgen" / "state.json").write_bytes(content)
    result = labgen("status", str(lab))
    assert result.exit_code == 1
    line = one_error(result)
    assert line.startswith(f"labgen: error: {lab / '.labgen' / 'state.json'}: not a state file")
    assert line.endswith("and give --backend")


def test_junit_file_in_a_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labgen.check import runner

    lab = make_lab(tmp_path / "lab")
    monkeypatch.setattr(runner, "grade", lambda *args: CheckReport("lab", "grade", "compose"))
    junit = tmp_path / "missing" / "junit.xml"
    result = labgen("check", str(lab), "--mode", "grade", "--junit", str(junit))
    assert result.exit_code == 1
    line = one_error(result)
    assert line.startswith(f"labgen: error: {junit}: cannot write the JUnit report (No such file")


@pytest.mark.parametrize(
    "output",
    ["not json\n", '{"Name": "x"}\n', "[1, 2]\n", '{"Service": "a", "State": "running"}\n}'],
)
def test_compose_ps_output_labgen_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    from labgen.backends import compose

    lab = make_lab(tmp_path / "lab")
    monkeypatch.setattr(
        compose, "run_process", lambda *args, **kwargs: ExecResult(0, output, "", 0.0)
    )
    result = labgen("status", str(lab), "--backend", "compose")
    assert result.exit_code == 1
    assert "`docker compose ps --format json` printed output labgen cannot read" in one_error(
        result
    )


@pytest.mark.parametrize("output", [b"garbage\n", b"1,registry,state\n", b"1,a,b,c,d,e\n"])
def test_vagrant_status_output_labgen_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: bytes
) -> None:
    import vagrant

    lab = make_lab(tmp_path / "lab")
    monkeypatch.setattr(vagrant.subprocess, "check_output", lambda *args, **kwargs: output)
    result = labgen("status", str(lab), "--backend", "vagrant")
    assert result.exit_code == 1
    line = one_error(result)
    assert f"`vagrant status --machine-readable` in {lab} printed lines labgen cannot read" in line


def test_run_reports_the_check_failure_and_the_down_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labgen import live

    def fail(message: str) -> object:
        def failing(*args: object, **options: object) -> None:
            raise LabgenError(message)

        return failing

    lab = make_lab(tmp_path / "lab")
    monkeypatch.setattr(live, "up_lab", lambda *args, **options: None)
    monkeypatch.setattr(live, "check_lab", fail("registry: the check could not run"))
    monkeypatch.setattr(live, "down_lab", fail("docker compose down failed: boom"))
    result = labgen("run", str(lab))
    assert result.exit_code == 1
    assert error_lines(result) == [
        "labgen: error: registry: the check could not run",
        "labgen: error: docker compose down failed: boom",
    ]
    monkeypatch.setattr(live, "check_lab", lambda *args, **options: False)  # goals fail, then down
    result = labgen("run", str(lab))
    assert result.exit_code == 1
    assert error_lines(result) == ["labgen: error: docker compose down failed: boom"]
