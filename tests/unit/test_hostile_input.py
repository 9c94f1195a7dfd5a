"""Hostile input below the class layer: every case gives one line naming the field or
path and the fix, a non-zero exit, no traceback, nothing written (issue 16's examples)."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jinja2.bccache
import pytest
from click.testing import CliRunner, Result

from labgen.cli import EXIT_BROKEN_PIPE, cli
from labgen.spec.parse import kept_password
from labgen.spec.yamlio import parse_yaml

# A shadow-like file: its lines must never show in an error.
SHADOW = "".join(
    f"{user}:$y$j9T$SECRETSALT{n}$SECRETHASH{n}:20228:0:99999:7:::\n"
    for n, user in enumerate(["root", "daemon", "bin", "alice"])
)


def labgen(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line(result: Result, exit_code: int = 2) -> str:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == exit_code, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("labgen: error: ")
    return line


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.mark.parametrize("out", ["/", "//", "/tmp/..", "/tmp/../"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_out_at_the_root_is_refused_before_anything(out: str, dry_run: bool) -> None:
    before = sorted(os.listdir("/"))
    line = one_line(labgen("create", "--out", out, *(["--dry-run"] if dry_run else [])))
    assert line == (
        f"labgen: error: {Path(out)}: is the file system's root (/), which cannot be replaced; "
        "write the folder inside it, such as labs/NAME"
    )
    assert sorted(os.listdir("/")) == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["create", "--out", "lab\0x"], "--out's value: holds a NUL byte"),
        (["create", "--out=lab\0x"], "--out's value: holds a NUL byte"),
        (["create", "spec\0.yaml"], "argument 'spec'...: holds a NUL byte"),
        (["create", "--mirror", "http://h\0/"], "--mirror's value: holds a NUL byte"),
        (["status", "lab\0"], "argument 'lab'...: holds a NUL byte"),
        (["class", "create", "c\0.yaml"], "argument 'c'...: holds a NUL byte"),
    ],
)
def test_a_nul_byte_in_any_option_or_path(here: Path, args: list[str], says: str) -> None:
    line = one_line(labgen(*args))
    assert line.startswith(f"labgen: error: {says}, which no path or value can; remove it")
    assert tree(here) == []


def test_a_nul_byte_in_a_spec_value(here: Path) -> None:
    (here / "lab.yaml").write_text('name: "lab\\0x"\n')
    line = one_line(labgen("create", "lab.yaml"))
    assert line.startswith("labgen: error: name: 'lab\\x00x' is not valid; use ")
    assert tree(here) == ["lab.yaml"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ('name: ws\nlab: "x\\0y.yaml"', "lab: x\\x00y.yaml: cannot read the spec (a path cannot"),
        ('name: ws\nlab: {name: "a\\0b"}', "lab.name: 'a\\x00b' is not valid"),
        ('name: "w\\0s"', "name: 'w\\x00s' is not valid"),
    ],
)
def test_a_nul_byte_in_a_class_spec(here: Path, spec: str, says: str) -> None:
    (here / "class.yaml").write_text(f"students: 2\n{spec}\n")
    # Problems of a class spec name its file first.
    line = one_line(labgen("class", "create", "class.yaml"))
    assert line.startswith(f"labgen: error: class.yaml: {says}")
    assert tree(here) == ["class.yaml"]


@pytest.mark.parametrize(
    "value", ["2026-02-30", "2026-02-03", "2026-02-03 10:00:00", "!!timestamp 2026-01-01"]
)
def test_a_date_like_value_is_the_text_written(here: Path, value: str) -> None:
    (here / "lab.yaml").write_text(f"name: {value}\n")
    line = one_line(labgen("create", "lab.yaml"))
    shown = value.removeprefix("!!timestamp ")
    assert line == (
        f"labgen: error: name: '{shown}' is not valid; use 1-32 lowercase letters, digits "
        "and '-', starting with a letter"
    )
    assert parse_yaml("a: 2026-02-30\nb: 2026-02-03\n", "x") == {
        "a": "2026-02-30",
        "b": "2026-02-03",
    }
    assert tree(here) == ["lab.yaml"]


def test_a_date_like_value_in_a_class_spec(here: Path) -> None:
    (here / "class.yaml").write_text("name: 2026-02-30\nstudents: 2\n")
    result = labgen("class", "create", "class.yaml")
    assert "Traceback" not in result.output and result.exit_code == 2, result.output
    assert result.stderr.startswith("labgen: error: ") and "name" in result.stderr
    assert tree(here) == ["class.yaml"]


def test_a_value_its_tag_cannot_hold(here: Path) -> None:
    (here / "lab.yaml").write_text("registry: {port: !!int 50x0}\n")
    assert one_line(labgen("create", "lab.yaml")) == (
        "labgen: error: lab.yaml: a value does not fit its YAML tag (such as !!int); "
        "fix or remove the tag"
    )


def test_a_spec_error_never_echoes_the_lines_of_the_file(here: Path) -> None:
    (here / "shadow").write_text(SHADOW)
    line = one_line(labgen("create", "shadow"))
    assert "SECRET" not in line and "root" not in line
    assert line.startswith("labgen: error: spec: 4 keys are not field names (not shown")
    # The class spec's lab points at it: the lab spec's error says no more.
    (here / "class.yaml").write_text("name: ws\nstudents: 2\nlab: shadow\n")
    result = labgen("class", "create", "class.yaml")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "SECRET" not in result.output and "alice" not in result.output
    assert tree(here) == ["class.yaml", "shadow"]


def test_an_invalid_password_is_never_shown(here: Path) -> None:
    (here / "lab.yaml").write_text('scenario: secure\nauth: {password: "my pass w0rd!"}\n')
    line = one_line(labgen("create", "lab.yaml"))
    assert "pass w0rd" not in line
    assert line.startswith("labgen: error: auth.password: the value given (not shown: it is a")


@pytest.mark.parametrize("kind", ["fifo", "device", "deep", "huge", "folder"])
def test_what_an_out_folder_holds_cannot_stop_create(here: Path, kind: str) -> None:
    """The password-keeping read of OUT/lab.yaml is bounded: a FIFO does not block it, a
    device does not feed it without end, nesting does not recurse it to death."""
    assert labgen("create", "--out", "lab").exit_code == 0
    spec = here / "lab" / "lab.yaml"
    spec.unlink()
    if kind == "fifo":
        os.mkfifo(spec)
    elif kind == "device":
        spec.symlink_to("/dev/zero")
    elif kind == "deep":
        spec.write_text("a: " + "[" * 100_000)
    elif kind == "huge":
        spec.write_text("# " + "x" * (1 << 22))
    else:
        spec.mkdir()
    assert kept_password(here / "lab") is None
    assert one_line(labgen("create", "--out", "lab")).endswith(
        "lab already exists; pass --force to replace it, or --out to write elsewhere"
    )
    result = labgen("create", "--out", "lab", "--force")
    assert result.exit_code == 0, result.output
    assert spec.is_file() and spec.read_text().startswith("# ")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_special_file_as_the_spec_or_the_state(here: Path, kind: str) -> None:
    special = here / "special"
    if kind == "fifo":
        os.mkfifo(special)
    else:
        special.symlink_to("/dev/zero")
    assert one_line(labgen("create", "special")) == (
        "labgen: error: special: not a regular file (a folder, FIFO, device or socket); "
        "give the spec as a file"
    )
    assert labgen("create", "--out", "lab").exit_code == 0
    (here / "lab" / ".labgen").mkdir()
    special.rename(here / "lab" / ".labgen" / "state.json")
    line = one_line(labgen("status", "lab"), exit_code=1)
    assert line.startswith("labgen: error: lab/.labgen/state.json: not a state file labgen can")


def test_dry_run_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """`labgen create --dry-run | head -1`: the reader leaves early; no false error. The
    exit code is the one a shell shows for a process SIGPIPE ends (141), as `yes | head`."""
    labgen_script = Path(sys.executable).with_name("labgen")
    read, write = os.pipe()
    os.close(read)  # the reader has left before labgen writes
    try:
        done = subprocess.run(
            [str(labgen_script), "create", "--dry-run"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")


def test_compiled_templates_are_kept_only_in_a_private_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled templates speed `create` up (bench_create.py); loading one runs its code,
    so the cache is used only in a folder that is the user's own and closed to others,
    and a cache that cannot be written changes nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "labgen" / "templates"
    monkeypatch.chdir(tmp_path)
    assert labgen("create", "--out", "first").exit_code == 0
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700 and list(cache.iterdir())
    assert labgen("create", "--out", "second").exit_code == 0  # from the cache
    assert tree_bytes(tmp_path / "first") == tree_bytes(tmp_path / "second")
    for name in cache.iterdir():
        name.unlink()
    cache.chmod(0o755)  # open to others: not used
    assert labgen("create", "--out", "third").exit_code == 0
    assert list(cache.iterdir()) == []
    cache.chmod(0o700)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jinja2.bccache.tempfile, "NamedTemporaryFile", disk_full)
    assert labgen("create", "--out", "fourth").exit_code == 0  # the cache cannot be written
    assert list(cache.iterdir()) == []
    assert tree_bytes(tmp_path / "fourth") == tree_bytes(tmp_path / "first")


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
