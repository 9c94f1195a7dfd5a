"""`labgen-node daemon-json add KEY VALUE` (the rendered provision/node.sh) merges daemon.json.

It runs for real (bash + jq) on a temp file that LABGEN_DAEMON_JSON points at. Full and
read-only disks are real tmpfs mounts (root only); `provision` runs with stubs for the
commands that would change this machine (install, service, docker).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labgen.render.plan import plan_lab
from labgen.spec.parse import parse_spec
from labgen.steps.scenario import load_scenario

REGISTRY = "192.168.56.101:5000"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def node_sh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    (script,) = [f for f in plan_lab(parse_spec({})[0]) if f.path.as_posix() == "provision/node.sh"]
    path = tmp_path_factory.mktemp("provision") / "node.sh"
    path.write_text(script.content, encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def daemon_json(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "docker" / "daemon.json"


def _edit(
    op: str, node_sh: Path, daemon_json: Path, require_tool: Callable[[str], str]
) -> Callable[[str, str], Run]:
    """`labgen-node daemon-json OP KEY VALUE` on the test's daemon.json."""
    require_tool("jq")
    bash = require_tool("bash")

    def run(key: str, value: str) -> Run:
        env = {**os.environ, "LABGEN_DAEMON_JSON": str(daemon_json)}
        result = subprocess.run(
            [bash, str(node_sh), "daemon-json", op, key, value],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=30,
        )
        return Run(result.returncode, result.stdout, result.stderr)

    return run


@pytest.fixture
def add(
    node_sh: Path, daemon_json: Path, require_tool: Callable[[str], str]
) -> Callable[[str, str], Run]:
    return _edit("add", node_sh, daemon_json, require_tool)


@pytest.fixture
def remove(
    node_sh: Path, daemon_json: Path, require_tool: Callable[[str], str]
) -> Callable[[str, str], Run]:
    return _edit("remove", node_sh, daemon_json, require_tool)


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2) + "\n")


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def test_missing_file_is_created(add: Callable[[str, str], Run], daemon_json: Path) -> None:
    result = add("insecure-registries", f"http://{REGISTRY}")
    assert (result.returncode, result.stdout) == (0, "changed\n"), result.stderr
    assert read(daemon_json) == {"insecure-registries": [REGISTRY]}
    assert daemon_json.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in daemon_json.parent.iterdir()] == ["daemon.json"]  # no temp file left


def test_other_keys_are_kept(add: Callable[[str, str], Run], daemon_json: Path) -> None:
    write(daemon_json, {"log-driver": "journald", "debug": True, "storage-opts": ["a=b"]})
    assert add("insecure-registries", f"http://{REGISTRY}").returncode == 0
    assert read(daemon_json) == {
        "log-driver": "journald",
        "debug": True,
        "storage-opts": ["a=b"],
        "insecure-registries": [REGISTRY],
    }


def test_entries_kept_canonical_and_unique(
    add: Callable[[str, str], Run], daemon_json: Path
) -> None:
    write(
        daemon_json,
        {"insecure-registries": ["10.0.0.1:5000", "https://10.0.0.2:443", f"http://{REGISTRY}"]},
    )
    result = add("insecure-registries", f"http://{REGISTRY}")
    assert result.returncode == 0, result.stderr
    assert read(daemon_json)["insecure-registries"] == ["10.0.0.1:5000", "10.0.0.2:443", REGISTRY]


def test_bare_entry_is_not_added_twice(add: Callable[[str, str], Run], daemon_json: Path) -> None:
    write(daemon_json, {"insecure-registries": [REGISTRY]})
    result = add("insecure-registries", f"http://{REGISTRY}")
    assert (result.returncode, result.stdout) == (0, "unchanged\n")
    assert read(daemon_json)["insecure-registries"] == [REGISTRY]


def test_registry_mirrors_keep_their_scheme(
    add: Callable[[str, str], Run], daemon_json: Path
) -> None:
    write(daemon_json, {"registry-mirrors": ["https://mirror.gcr.io/"]})
    assert add("registry-mirrors", "http://192.168.56.1:5555/").returncode == 0
    assert add("registry-mirrors", "http://192.168.56.1:5555").stdout == "unchanged\n"
    assert read(daemon_json)["registry-mirrors"] == [
        "https://mirror.gcr.io",
        "http://192.168.56.1:5555",
    ]


def test_second_run_changes_nothing(add: Callable[[str, str], Run], daemon_json: Path) -> None:
    write(daemon_json, {"debug": False})
    assert add("insecure-registries", f"http://{REGISTRY}").stdout == "changed\n"
    os.utime(daemon_json, ns=(1_000_000_000, 1_000_000_000))  # an old mtime, to see any write
    before = daemon_json.read_bytes()
    result = add("insecure-registries", f"http://{REGISTRY}")
    assert (result.returncode, result.stdout) == (0, "unchanged\n"), result.stderr
    assert daemon_json.read_bytes() == before
    assert daemon_json.stat().st_mtime_ns == 1_000_000_000


def _refused(result: Run, *says: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("labgen-node: error: ")
    for text in says:
        assert text in lines[0]


@pytest.mark.parametrize(
    "content",
    [
        '{"insecure-registries": [',
        "not json\n",
        "[]\n",
        '"text"\n',
        "{} trailing",
        "{}{}",
        '{"debug": true}\n{"debug": false}\n',
    ],
)
def test_malformed_json_is_left_untouched(
    add: Callable[[str, str], Run], daemon_json: Path, content: str
) -> None:
    write(daemon_json, content)
    before = daemon_json.read_bytes()
    _refused(add("insecure-registries", REGISTRY), "is not a JSON object", "left untouched")
    assert daemon_json.read_bytes() == before
    assert _names(daemon_json.parent) == ["daemon.json"]


@pytest.mark.parametrize("value", ['"10.0.0.1:5000"', "{}", "5"])
def test_non_list_value_is_an_error(
    add: Callable[[str, str], Run], daemon_json: Path, value: str
) -> None:
    write(daemon_json, f'{{"insecure-registries": {value}}}\n')
    before = daemon_json.read_bytes()
    _refused(add("insecure-registries", REGISTRY), '"insecure-registries" is not a list')
    assert daemon_json.read_bytes() == before


def test_unsupported_key_is_an_error(add: Callable[[str, str], Run], daemon_json: Path) -> None:
    write(daemon_json, {"debug": True})
    before = daemon_json.read_bytes()
    _refused(add("debug", "false"), "key 'debug' is not supported")
    assert daemon_json.read_bytes() == before


def test_usage_error(node_sh: Path, require_tool: Callable[[str], str]) -> None:
    result = subprocess.run(
        [require_tool("bash"), str(node_sh), "daemon-json", "delete", "x", "y"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "usage: labgen-node daemon-json add|remove KEY VALUE" in result.stderr


# remove: part 2 (from_part1) takes part 1's insecure-registries entry out again.


def test_remove_takes_the_entry_in_every_form_and_keeps_the_rest(
    remove: Callable[[str, str], Run], daemon_json: Path
) -> None:
    entries = ["10.0.0.1:5000", f"http://{REGISTRY}", REGISTRY, f"https://{REGISTRY}/"]
    write(
        daemon_json, {"debug": True, "insecure-registries": entries, "registry-mirrors": [MIRROR]}
    )
    result = remove("insecure-registries", REGISTRY)
    assert (result.returncode, result.stdout) == (0, "changed\n"), result.stderr
    assert read(daemon_json) == {
        "debug": True,
        "insecure-registries": ["10.0.0.1:5000"],
        "registry-mirrors": [MIRROR],
    }
    assert _names(daemon_json.parent) == ["daemon.json"]


def test_removing_the_last_entry_removes_the_list(
    remove: Callable[[str, str], Run], add: Callable[[str, str], Run], daemon_json: Path
) -> None:
    write(daemon_json, {"log-driver": "journald"})
    assert add("insecure-registries", f"http://{REGISTRY}").stdout == "changed\n"
    result = remove("insecure-registries", f"http://{REGISTRY}")
    assert (result.returncode, result.stdout) == (0, "changed\n"), result.stderr
    assert read(daemon_json) == {"log-driver": "journald"}  # as it was before the add


@pytest.mark.parametrize(
    "content",
    [
        None,
        "",
        '{"debug":true}',
        '{"insecure-registries": ["10.0.0.1:5000", "192.168.56.101:5001"]}',
        '{"insecure-registries": []}\n',
        f'{{"registry-mirrors": ["http://{REGISTRY}"]}}',
    ],
)
def test_remove_where_the_entry_is_not_changes_nothing(
    remove: Callable[[str, str], Run], daemon_json: Path, content: str | None
) -> None:
    """Not even the formatting: a file without the entry is not rewritten, nor made."""
    if content is None:
        daemon_json.parent.mkdir(parents=True)
    else:
        write(daemon_json, content)
        os.utime(daemon_json, ns=(1_000_000_000, 1_000_000_000))
    result = remove("insecure-registries", REGISTRY)
    assert (result.returncode, result.stdout) == (0, "unchanged\n"), result.stderr
    if content is None:
        assert not daemon_json.exists()
    else:
        assert daemon_json.read_text() == content
        assert daemon_json.stat().st_mtime_ns == 1_000_000_000


def test_remove_second_run_changes_nothing(
    remove: Callable[[str, str], Run], daemon_json: Path
) -> None:
    write(daemon_json, {"debug": False, "insecure-registries": [REGISTRY, "10.0.0.1:5000"]})
    assert remove("insecure-registries", REGISTRY).stdout == "changed\n"
    before = daemon_json.read_bytes()
    assert remove("insecure-registries", REGISTRY).stdout == "unchanged\n"
    assert daemon_json.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"insecure-registries": [', "is not a JSON object"),
        (f'{{"insecure-registries": ["{REGISTRY}"]}}{{}}', "is not a JSON object"),
        (f'{{"insecure-registries": "{REGISTRY}"}}', '"insecure-registries" is not a list'),
        (f'{{"insecure-registries": ["{REGISTRY}", 5]}}', "holds an entry that is not a string"),
    ],
)
def test_remove_refuses_what_it_cannot_read_and_leaves_it(
    remove: Callable[[str, str], Run], daemon_json: Path, content: str, says: str
) -> None:
    write(daemon_json, content)
    before = daemon_json.read_bytes()
    _refused(remove("insecure-registries", REGISTRY), says)
    assert daemon_json.read_bytes() == before
    assert _names(daemon_json.parent) == ["daemon.json"]


def test_remove_keeps_mode_owner_and_symlink(
    remove: Callable[[str, str], Run], daemon_json: Path, tmp_path: Path
) -> None:
    real = tmp_path / "config" / "docker.json"
    write(real, {"debug": True, "insecure-registries": [REGISTRY]})
    real.chmod(0o600)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        os.chown(real, *owner)
    daemon_json.parent.mkdir(parents=True)
    daemon_json.symlink_to(Path("../../config/docker.json"))
    result = remove("insecure-registries", REGISTRY)
    assert (result.returncode, result.stdout) == (0, "changed\n"), result.stderr
    assert daemon_json.is_symlink() and read(real) == {"debug": True}
    info = real.stat()
    assert (info.st_mode & 0o7777, (info.st_uid, info.st_gid)) == (0o600, owner)
    assert _names(real.parent) == ["docker.json"]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("key", "content"),
    [
        ("registry-mirrors", '{"registry-mirrors": [1]}'),
        ("registry-mirrors", '{"registry-mirrors": ["https://m.example", null]}\n'),
        ("insecure-registries", '{"insecure-registries": [{"host": "10.0.0.1"}]}'),
        ("insecure-registries", '{"insecure-registries": [["10.0.0.1:5000"]], "debug": true}'),
    ],
)
def test_entry_jq_cannot_merge_is_refused_and_file_untouched(
    add: Callable[[str, str], Run], daemon_json: Path, key: str, content: str
) -> None:
    write(daemon_json, content)
    before = daemon_json.read_bytes()
    _refused(add(key, "http://192.168.56.1:5555"), f'"{key}" holds an entry that is not a string')
    assert daemon_json.read_bytes() == before
    assert _names(daemon_json.parent) == ["daemon.json"]


@pytest.mark.parametrize("content", ["", " ", "\n", " \t\n\n  \n"])
def test_empty_or_blank_file_counts_as_empty_object(
    add: Callable[[str, str], Run], daemon_json: Path, content: str
) -> None:
    write(daemon_json, content)
    result = add("insecure-registries", f"http://{REGISTRY}")
    assert (result.returncode, result.stdout) == (0, "changed\n"), result.stderr
    assert read(daemon_json) == {"insecure-registries": [REGISTRY]}
    assert add("insecure-registries", REGISTRY).stdout == "unchanged\n"


def test_mode_and_owner_are_kept(add: Callable[[str, str], Run], daemon_json: Path) -> None:
    write(daemon_json, {"debug": True})
    daemon_json.chmod(0o600)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        os.chown(daemon_json, *owner)
    result = add("insecure-registries", REGISTRY)
    assert (result.returncode, result.stdout) == (0, "changed\n"), result.stderr
    info = daemon_json.stat()
    assert (info.st_mode & 0o7777, (info.st_uid, info.st_gid)) == (0o600, owner)
    assert _names(daemon_json.parent) == ["daemon.json"]


def test_symlink_is_edited_through_and_stays_a_link(
    add: Callable[[str, str], Run], daemon_json: Path, tmp_path: Path
) -> None:
    real = tmp_path / "config" / "docker.json"
    write(real, {"debug": True})
    real.chmod(0o640)
    daemon_json.parent.mkdir(parents=True)
    daemon_json.symlink_to(Path("../../config/docker.json"))
    result = add("insecure-registries", REGISTRY)
    assert (result.returncode, result.stdout) == (0, "changed\n"), result.stderr
    assert daemon_json.is_symlink()
    assert os.readlink(daemon_json) == "../../config/docker.json"
    assert read(real) == {"debug": True, "insecure-registries": [REGISTRY]}
    assert real.stat().st_mode & 0o7777 == 0o640
    assert _names(real.parent) == ["docker.json"]
    assert add("insecure-registries", REGISTRY).stdout == "unchanged\n"


def test_dangling_symlink_creates_its_target(
    add: Callable[[str, str], Run], daemon_json: Path, tmp_path: Path
) -> None:
    (tmp_path / "config").mkdir()
    daemon_json.parent.mkdir(parents=True)
    daemon_json.symlink_to(tmp_path / "config" / "docker.json")
    assert add("insecure-registries", REGISTRY).returncode == 0
    assert daemon_json.is_symlink()
    assert read(tmp_path / "config" / "docker.json") == {"insecure-registries": [REGISTRY]}


def test_a_folder_in_its_place_is_refused(
    add: Callable[[str, str], Run], daemon_json: Path
) -> None:
    daemon_json.mkdir(parents=True)
    _refused(add("insecure-registries", REGISTRY), "is not a regular file", "left untouched")
    assert _names(daemon_json.parent) == ["daemon.json"]


@pytest.fixture
def tmpfs(tmp_path: Path, require: Callable[[str], None]) -> Iterator[Path]:
    """A real 64 KiB tmpfs (needs root), unmounted afterwards."""
    if os.geteuid() != 0:
        require("a real full or read-only disk needs root (a tmpfs mount)")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _add_on(node_sh: Path, daemon_json: Path, bash: str) -> Run:
    done = subprocess.run(
        [bash, str(node_sh), "daemon-json", "add", "insecure-registries", REGISTRY],
        capture_output=True,
        text=True,
        env={**os.environ, "LABGEN_DAEMON_JSON": str(daemon_json)},
        check=False,
        timeout=30,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def test_full_disk_leaves_the_file_as_it_was(
    node_sh: Path, tmpfs: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("jq")
    daemon_json = tmpfs / "daemon.json"
    write(daemon_json, {"debug": True})
    before = daemon_json.read_bytes()
    filler = os.open(tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError, match="No space left"):  # fill the disk up to its last byte
        while True:
            os.write(filler, b"\0" * 4096)
    os.close(filler)
    result = _add_on(node_sh, daemon_json, require_tool("bash"))
    _refused(result, f"cannot write {daemon_json}: No space left on device", "left untouched")
    assert daemon_json.read_bytes() == before
    assert _names(tmpfs) == ["daemon.json", "filler"]


def test_read_only_disk_leaves_the_file_as_it_was(
    node_sh: Path, tmpfs: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("jq")
    daemon_json = tmpfs / "daemon.json"
    write(daemon_json, {"debug": True})
    before = daemon_json.read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    result = _add_on(node_sh, daemon_json, require_tool("bash"))
    _refused(result, "Read-only file system", "left untouched")
    assert daemon_json.read_bytes() == before
    assert _names(tmpfs) == ["daemon.json"]


def test_symlink_loop_is_refused(add: Callable[[str, str], Run], daemon_json: Path) -> None:
    daemon_json.parent.mkdir(parents=True)
    daemon_json.symlink_to("loop.json")
    (daemon_json.parent / "loop.json").symlink_to("daemon.json")
    _refused(add("insecure-registries", REGISTRY), "is a symlink that leads nowhere")
    assert daemon_json.is_symlink() and _names(daemon_json.parent) == ["daemon.json", "loop.json"]


MIRROR = "http://192.168.56.1:5555"
# Stand-ins for the commands `provision` would use to change this machine; each logs its call.
STUBS = {
    "dockerd": "exit 0",
    "curl": "exit 0",
    "install": "exit 0",
    "id": "exit 1",
    "docker": "exit 0",
    "service": "echo 'stub: Docker not restarted' >&2; exit 1",
    "systemctl": "echo 'stub: Docker not restarted' >&2; exit 1",
}


@pytest.fixture
def provision(
    tmp_path: Path, daemon_json: Path, require_tool: Callable[[str], str]
) -> Callable[[], tuple[Run, list[str]]]:
    """Run `node.sh provision registry` of a lab with a mirror → (result, stub calls)."""
    jq = require_tool("jq")
    bash = require_tool("bash")
    (script,) = [
        f
        for f in plan_lab(parse_spec({"mirror": MIRROR})[0])
        if f.path.as_posix() == "provision/node.sh"
    ]
    node_sh = tmp_path / "node.sh"
    node_sh.write_text(script.content, encoding="utf-8")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "calls.log"
    for name, body in STUBS.items():
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >>{calls}\n{body}\n')
        stub.chmod(0o755)
    (stubs / "jq").symlink_to(jq)

    def run() -> tuple[Run, list[str]]:
        done = subprocess.run(
            [bash, str(node_sh), "provision", "registry"],
            capture_output=True,
            text=True,
            env={
                "PATH": f"{stubs}:/usr/bin:/bin",
                "LABGEN_DAEMON_JSON": str(daemon_json),
            },
            check=False,
            timeout=30,
        )
        logged = calls.read_text().splitlines() if calls.exists() else []
        return Run(done.returncode, done.stdout, done.stderr), logged

    return run


def test_provision_restarts_docker_after_a_merge(
    provision: Callable[[], tuple[Run, list[str]]], daemon_json: Path
) -> None:
    # The control for the test below: with a file it can merge, provisioning gets as far as
    # restarting Docker (the stub refuses, so nothing on this machine is touched).
    write(daemon_json, {"debug": True})
    result, calls = provision()
    assert "service docker restart" in calls or "systemctl restart docker" in calls, calls
    assert read(daemon_json) == {"debug": True, "registry-mirrors": [MIRROR]}
    assert "ready" not in result.stderr


@pytest.mark.parametrize(
    "content", ['{"registry-mirrors": [1]}', '{"registry-mirrors": "x"}', "{]", "{}{}"]
)
def test_provision_stops_on_a_file_it_cannot_merge(
    provision: Callable[[], tuple[Run, list[str]]], daemon_json: Path, content: str
) -> None:
    write(daemon_json, content)
    before = daemon_json.read_bytes()
    result, calls = provision()
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("labgen-node: error: "), result.stderr
    assert "ready" not in result.stderr
    assert not [call for call in calls if "restart" in call or "start" in call], calls
    assert daemon_json.read_bytes() == before
    assert _names(daemon_json.parent) == ["daemon.json"]


@pytest.mark.parametrize(
    ("content", "holds"),
    [
        ("", False),
        ("  \n\t\n", False),
        ("{}", False),
        ('{"insecure-registries": []}', False),
        ('{"insecure-registries": ["10.0.0.1:5000", 7]}', False),
        ("[]", False),
        ("{}{}", False),
        (f'{{"insecure-registries": ["{REGISTRY}"]}}', True),
        (f'{{"insecure-registries": [1, "http://{REGISTRY}"]}}', True),
        (f'{{"insecure-registries": ["{REGISTRY}"]}}\n{{}}', False),
    ],
)
def test_goal_and_done_if_see_the_entry_only_where_it_is(
    tmp_path: Path, require_tool: Callable[[str], str], content: str, holds: bool
) -> None:
    """The grading goal and the step's done_if, run with real jq on a real file."""
    require_tool("jq")
    scenario = load_scenario(parse_spec({})[0])
    goal = next(g.run for g in scenario.goals if g.id == "daemon-json-insecure")
    done_if = next(s.done_if for s in scenario.steps if s.id == "allow-insecure")
    assert done_if
    path = tmp_path / "daemon.json"
    path.write_text(content)
    for command in (goal, done_if):
        assert "/etc/docker/daemon.json" in command
        local = command.replace("/etc/docker/daemon.json", str(path))
        done = subprocess.run(
            [require_tool("bash"), "-c", local], capture_output=True, text=True, check=False
        )
        assert (done.returncode == 0) is holds, (command, done.stderr)


@pytest.mark.parametrize(
    ("op", "content"), [("add", {}), ("remove", {"insecure-registries": [REGISTRY]})]
)
def test_failed_rename_leaves_the_file_as_it_was(
    node_sh: Path,
    daemon_json: Path,
    require: Callable[[str], None],
    require_tool: Callable[[str], str],
    op: str,
    content: dict[str, Any],
) -> None:
    # An immutable file cannot be renamed over, not even by root: a real failure of mv,
    # after the new content was written next to it.
    write(daemon_json, {"debug": True, **content})
    before = daemon_json.read_bytes()
    chattr = require_tool("chattr")
    if subprocess.run([chattr, "+i", str(daemon_json)], capture_output=True).returncode != 0:
        require("chattr +i needs root and a filesystem with inode flags (ext4, xfs, btrfs)")
    try:
        result = _edit(op, node_sh, daemon_json, require_tool)("insecure-registries", REGISTRY)
    finally:
        subprocess.run([chattr, "-i", str(daemon_json)], check=True)
    _refused(result, f"cannot replace {daemon_json}: Operation not permitted", "left untouched")
    assert daemon_json.read_bytes() == before
    assert _names(daemon_json.parent) == ["daemon.json"]


def _default_signals() -> None:
    """Set up what the test relies on, whatever pytest inherited: a shell running it in the
    background ignores SIGINT, and a shell started with SIGINT ignored cannot trap it."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


@pytest.mark.parametrize("signal", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_write_leaves_no_temp_file(
    node_sh: Path,
    daemon_json: Path,
    tmp_path: Path,
    require_tool: Callable[[str], str],
    signal: signal.Signals,
) -> None:
    # A stand-in `sync` holds the script between writing the temp file and renaming it.
    jq = require_tool("jq")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    reached = tmp_path / "reached"
    (stubs / "sync").write_text(f"#!/bin/sh\ntouch {reached}\nexec sleep 30\n")
    (stubs / "sync").chmod(0o755)
    (stubs / "jq").symlink_to(jq)
    write(daemon_json, {"debug": True})
    before = daemon_json.read_bytes()
    running = subprocess.Popen(
        [require_tool("bash"), str(node_sh), "daemon-json", "add", "insecure-registries", REGISTRY],
        env={"PATH": f"{stubs}:/usr/bin:/bin", "LABGEN_DAEMON_JSON": str(daemon_json)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        deadline = time.monotonic() + 10
        while not reached.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reached.exists(), "the script never got to writing the new file"
        assert len(_names(daemon_json.parent)) == 2  # daemon.json and its temp file
        os.killpg(running.pid, signal)  # as Ctrl-C or a kill reaches the whole job
        running.wait(timeout=10)
    finally:
        if running.poll() is None:
            os.killpg(running.pid, 9)
            running.wait()
    assert running.returncode != 0
    assert daemon_json.read_bytes() == before
    assert _names(daemon_json.parent) == ["daemon.json"]
