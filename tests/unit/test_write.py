"""The folder writer: --force replaces only a folder labgen made, and a live lab's state
survives any interruption (Ctrl-C, kill -9, two runs at once)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from click.testing import CliRunner, Result

from labgen.cli import cli
from labgen.errors import UsageError
from labgen.render import write
from labgen.render.plan import PlannedFile, plan_lab
from labgen.render.write import MANIFEST, write_lab
from labgen.spec.parse import load_spec

LABS = Path(__file__).resolve().parent.parent.parent / "labs"
OLD_SPEC = LABS / "registry-lab" / "lab.yaml"
NEW_SPEC = LABS / "registry-lab-solved" / "lab.yaml"  # other contents, same file names
STATE = {".vagrant/machines/registry/libvirt/id": b"vm-uuid\n", ".labgen/state.json": b"{}\n"}

# Runs the writer in a child process that stops itself with a signal right before its
# N-th file-system change (N=0: never); prints how many changes it made.
CHILD = textwrap.dedent(
    """
    import os, shutil, signal, sys, time
    from pathlib import Path
    from labgen.render import write
    from labgen.render.plan import PlannedFile, plan_lab
    from labgen.spec.parse import load_spec

    spec, out, stop_at, name, slow = sys.argv[1:]
    calls = 0
    # What the test relies on, whatever this process inherits (a shell running the tests
    # in the background ignores SIGINT, and Python then leaves it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.umask(0o022)

    def counted(function):
        def wrapper(*args, **kwargs):
            global calls
            calls += 1
            if calls == int(stop_at):
                os.kill(os.getpid(), getattr(signal, name))
            time.sleep(float(slow))
            return function(*args, **kwargs)
        return wrapper

    os.rename = counted(os.rename)
    os.link = counted(os.link)
    shutil.rmtree = counted(shutil.rmtree)
    write._write_file = counted(write._write_file)
    write._exchange = counted(write._exchange)
    write.write_lab(plan_lab(load_spec(Path(spec))[0]), Path(out), force=True)
    print(calls)
    """
)


def child(
    spec: Path, out: Path, stop_at: int, name: str = "SIGKILL", slow: float = 0.0
) -> list[str]:
    return [sys.executable, "-c", CHILD, str(spec), str(out), str(stop_at), name, str(slow)]


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry under root: content (None for a folder) and mode, byte for byte."""
    return {
        path.relative_to(root).as_posix(): (
            None if path.is_dir() else path.read_bytes(),
            path.lstat().st_mode,
        )
        for path in sorted(root.rglob("*"))
    }


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leftover(out: Path) -> Path:
    """A staging folder of `out` as a killed run leaves it (marker inside)."""
    staging = out.with_name(f".{out.name}.k1ll3d_x.new")
    staging.mkdir()
    (staging / write.MARKER).write_text(write.MARKER_TEXT)
    return staging


def render(spec: Path, out: Path) -> dict[str, bytes]:
    write_lab(plan_lab(load_spec(spec)[0]), out, force=False)
    return files(out)


def add_state(lab: Path) -> None:
    for name, content in STATE.items():
        (lab / name).parent.mkdir(parents=True, exist_ok=True)
        (lab / name).write_bytes(content)


@pytest.fixture
def labs(tmp_path: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """What the old and the new spec render to, state included (as the lab should hold it)."""
    old, new = render(OLD_SPEC, tmp_path / "ref-old"), render(NEW_SPEC, tmp_path / "ref-new")
    assert old.keys() == new.keys() and old != new
    return {**old, **STATE}, {**new, **STATE}


def test_refuses_a_folder_labgen_did_not_make(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".git" / "objects").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "main.py").write_text("print('mine')\n")
    (project / "Vagrantfile").write_text("# my own\n")
    before = snapshot(project)
    with pytest.raises(UsageError, match=f"not made by labgen \\(no {MANIFEST}"):
        write_lab(plan_lab(load_spec(OLD_SPEC)[0]), project, force=True)
    assert snapshot(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_refuses_a_lab_holding_a_users_files(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    render(OLD_SPEC, lab)
    add_state(lab)
    (lab / "notes.txt").write_text("my notes\n")
    (lab / "provision" / "mine.sh").write_text("echo mine\n")
    (lab / "empty").mkdir()
    before = snapshot(lab)
    with pytest.raises(UsageError) as refused:
        write_lab(plan_lab(load_spec(NEW_SPEC)[0]), lab, force=True)
    assert "(empty, notes.txt, provision/mine.sh)" in str(refused.value)
    assert snapshot(lab) == before
    (lab / "zz1").write_text("1")
    (lab / "zz2").write_text("2")
    with pytest.raises(UsageError, match=r"\(empty, notes.txt, provision/mine.sh and 2 more\)"):
        write_lab(plan_lab(load_spec(NEW_SPEC)[0]), lab, force=True)


def test_force_replaces_a_lab_and_keeps_its_state(
    tmp_path: Path, labs: tuple[dict[str, bytes], dict[str, bytes]]
) -> None:
    lab = tmp_path / "lab"
    render(OLD_SPEC, lab)
    add_state(lab)
    write_lab(plan_lab(load_spec(NEW_SPEC)[0]), lab, force=True)
    assert files(lab) == labs[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", "ref-new", "ref-old"]


def test_replacing_without_an_atomic_exchange(
    tmp_path: Path, labs: tuple[dict[str, bytes], dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where renameat2 cannot exchange, two renames do it; a stop between them is recovered."""
    lab = tmp_path / "lab"
    render(OLD_SPEC, lab)
    add_state(lab)
    monkeypatch.setattr(write, "_exchange", lambda first, second: False)
    write_lab(plan_lab(load_spec(NEW_SPEC)[0]), lab, force=True)
    assert files(lab) == labs[1]
    lab.rename(leftover(lab) / "old")  # as if killed right after the first rename
    write_lab(plan_lab(load_spec(OLD_SPEC)[0]), lab, force=True)
    assert files(lab) == labs[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", "ref-new", "ref-old"]


def test_an_empty_folder_counts_as_free(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    write_lab(plan_lab(load_spec(OLD_SPEC)[0]), lab, force=False)
    assert (lab / MANIFEST).is_file()


def test_a_folder_that_appears_meanwhile_is_not_clobbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = tmp_path / "lab"
    real_write_files = write._write_files

    def write_then_appear(files: list[write.PlannedFile], staging: Path) -> None:
        real_write_files(files, staging)
        lab.mkdir()
        (lab / "theirs.txt").write_text("someone else's\n")

    monkeypatch.setattr(write, "_write_files", write_then_appear)
    with pytest.raises(UsageError, match="appeared while labgen was writing it"):
        write_lab(plan_lab(load_spec(OLD_SPEC)[0]), lab, force=False)
    assert files(lab) == {"theirs.txt": b"someone else's\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab"]


def test_next_run_recovers_state_left_in_a_staging_folder(
    tmp_path: Path, labs: tuple[dict[str, bytes], dict[str, bytes]]
) -> None:
    lab = tmp_path / "lab"
    render(OLD_SPEC, lab)
    add_state(lab)
    staging = leftover(tmp_path / "lab")
    (staging / "lab").mkdir()
    (lab / ".vagrant").rename(staging / "lab" / ".vagrant")  # only the leftover holds it
    write_lab(plan_lab(load_spec(NEW_SPEC)[0]), lab, force=True)
    assert files(lab) == labs[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", "ref-new", "ref-old"]


def changes(tmp_path: Path) -> int:
    """How many file-system changes a replacement makes (the points a kill can fall on)."""
    lab = tmp_path / "count"
    render(OLD_SPEC, lab)
    add_state(lab)
    done = subprocess.run(child(NEW_SPEC, lab, 0), capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_kill_9_at_every_step_keeps_a_complete_lab_with_its_state(
    tmp_path: Path, labs: tuple[dict[str, bytes], dict[str, bytes]]
) -> None:
    total = changes(tmp_path)
    assert total > len(labs[1])  # every file, the state links, the exchange, the clean-up
    for stop_at in range(1, total + 1):
        parent = tmp_path / f"kill-{stop_at}"
        lab = parent / "lab"
        render(OLD_SPEC, lab)
        add_state(lab)
        killed = subprocess.run(child(NEW_SPEC, lab, stop_at), capture_output=True)
        assert killed.returncode == -signal.SIGKILL, (stop_at, killed.stderr)
        assert files(lab) in labs, f"killed before change {stop_at}: not the old or new lab"
        again = CliRunner().invoke(cli, ["create", str(NEW_SPEC), "--out", str(lab), "--force"])
        assert again.exit_code == 0, (stop_at, again.output)
        assert files(lab) == labs[1], stop_at
        assert [p.name for p in parent.iterdir()] == ["lab"], stop_at


def test_ctrl_c_leaves_the_old_lab_and_no_leftovers(
    tmp_path: Path, labs: tuple[dict[str, bytes], dict[str, bytes]]
) -> None:
    total = changes(tmp_path)
    for stop_at in (1, total // 2, total - 1):
        parent = tmp_path / f"int-{stop_at}"
        lab = parent / "lab"
        render(OLD_SPEC, lab)
        add_state(lab)
        stopped = subprocess.run(child(NEW_SPEC, lab, stop_at, "SIGINT"), capture_output=True)
        assert stopped.returncode != 0 and b"KeyboardInterrupt" in stopped.stderr
        assert files(lab) in labs, stop_at
        assert [p.name for p in parent.iterdir()] == ["lab"], stop_at


def test_two_runs_at_once_take_turns(
    tmp_path: Path, labs: tuple[dict[str, bytes], dict[str, bytes]]
) -> None:
    lab = tmp_path / "lab"
    render(OLD_SPEC, lab)
    add_state(lab)
    runs = [
        subprocess.Popen(child(NEW_SPEC, lab, 0, slow="0.01"), stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, stderr
    assert files(lab) == labs[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", "ref-new", "ref-old"]


def one_error_line(result: Result) -> str:
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("labgen: error: ")
    return line


def test_cli_force_in_a_project_folder_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("print('mine')\n")
    (project / "lab.yaml").write_bytes(OLD_SPEC.read_bytes())  # even with a lab spec in it
    before = snapshot(project)
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["create", "lab.yaml", "--out", ".", "--force"])
    assert result.exit_code == 2
    assert "was not made by labgen" in one_error_line(result)
    assert snapshot(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_cli_class_create_force_keeps_results_and_refuses_a_strangers_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "class.yaml").write_text("name: ws\nstudents: 2\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["class", "create", "class.yaml"]).exit_code == 0
    folder = tmp_path / "classes" / "ws"
    (folder / "results" / "s01").mkdir(parents=True)
    (folder / "results" / "s01" / "t.json").write_text("{}\n")
    (folder / "report.html").write_text("<p>report</p>\n")
    again = CliRunner().invoke(cli, ["class", "create", "class.yaml", "--force"])
    assert again.exit_code == 0, again.output
    assert (folder / "results" / "s01" / "t.json").read_text() == "{}\n"
    assert (folder / "report.html").read_text() == "<p>report</p>\n"
    (folder / "grades.xlsx").write_text("mine\n")
    before = snapshot(folder)
    refused = CliRunner().invoke(cli, ["class", "create", "class.yaml", "--force"])
    assert refused.exit_code == 2
    assert "holds files labgen did not write (grades.xlsx)" in one_error_line(refused)
    assert snapshot(folder) == before


def test_cli_force_refuses_a_lab_holding_a_users_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["create", "--out", "lab"]).exit_code == 0
    (tmp_path / "lab" / "notes.txt").write_text("my notes\n")
    before = snapshot(tmp_path / "lab")
    result = CliRunner().invoke(cli, ["create", "--out", "lab", "--force"])
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line == (
        "labgen: error: lab holds files labgen did not write (notes.txt), which --force would "
        "delete; move them out of the folder, or choose another --out"
    )
    assert snapshot(tmp_path / "lab") == before


def test_cli_class_create_after_an_interrupted_replacement_keeps_the_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "class.yaml").write_text("name: ws\nstudents: 2\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["class", "create", "class.yaml"]).exit_code == 0
    classes = tmp_path / "classes"
    seed = (classes / "ws" / "secrets" / "seed").read_bytes()
    (classes / "ws").rename(leftover(classes / "ws") / "old")  # killed between the two renames
    again = CliRunner().invoke(cli, ["class", "create", "class.yaml", "--force"])
    assert again.exit_code == 0, again.output
    assert (classes / "ws" / "secrets" / "seed").read_bytes() == seed
    assert [p.name for p in classes.iterdir()] == ["ws"]


def test_folders_labgen_did_not_make_are_never_removed_or_renamed(tmp_path: Path) -> None:
    """A user's `.lab.new` / `.lab.old`, and a look-alike of a staging folder without
    labgen's marker, survive `create` with and without --force."""
    lab = tmp_path / "lab"
    theirs = {
        ".lab.new": "my draft\n",
        ".lab.old": "my backup\n",
        ".lab.abcd1234.new": "not labgen's\n",
    }
    for name, text in theirs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "mine.txt").write_text(text)
    before = {name: snapshot(tmp_path / name) for name in theirs}
    for force in (False, True):
        write_lab(plan_lab(load_spec(OLD_SPEC)[0]), lab, force=force)
        assert {name: snapshot(tmp_path / name) for name in theirs} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*theirs, "lab"])


def test_secrets_are_never_readable_by_others_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the widest umask, every file is checked the moment it is created: a secret is
    0600 from its first byte, and the staging folder around it is 0700 all along."""
    planned = [
        PlannedFile(PurePosixPath("README.md"), "read me\n"),
        PlannedFile(PurePosixPath("secrets/seed"), "0123\n", private=True),
        PlannedFile(PurePosixPath("secrets/keys/ca.key"), "key\n", private=True),
        PlannedFile(PurePosixPath("s01/access.txt"), "pw\n", private=True),
        PlannedFile(PurePosixPath("s01/handout.md"), "hi\n"),
    ]
    real_open = os.open
    seen: dict[str, int] = {}

    def watched(path: str | Path, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        handle = real_open(path, flags, mode, **kwargs)
        if flags & os.O_CREAT:
            created = Path(path)
            seen[created.name] = stat.S_IMODE(os.fstat(handle).st_mode)
            staging = next(p for p in created.parents if (p / write.MARKER).exists())
            assert stat.S_IMODE(staging.stat().st_mode) == 0o700, created
        return handle

    monkeypatch.setattr(os, "open", watched)
    previous = os.umask(0)  # set up what the test relies on: nothing narrows the modes
    try:
        write_lab(planned, tmp_path / "class", force=False)
    finally:
        os.umask(previous)
    assert {name: seen[name] for name in ("seed", "ca.key", "access.txt")} == {
        "seed": 0o600,
        "ca.key": 0o600,
        "access.txt": 0o600,
    }
    modes = {
        p.relative_to(tmp_path / "class").as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in (tmp_path / "class").rglob("*")
    }
    assert modes["secrets"] == modes["secrets/keys"] == 0o700
    assert modes["s01"] == 0o755 and modes["README.md"] == modes["s01/handout.md"] == 0o644
    assert modes["secrets/seed"] == modes["s01/access.txt"] == 0o600


def test_a_narrow_umask_changes_no_mode(tmp_path: Path) -> None:
    previous = os.umask(0o777)
    try:
        write_lab(plan_lab(load_spec(OLD_SPEC)[0]), tmp_path / "lab", force=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "lab").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "lab" / MANIFEST).stat().st_mode) == 0o644
