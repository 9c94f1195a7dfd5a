"""Solved-mode provisioning's step runner (the rendered provision/node.sh), run for real by
bash with stand-ins for every command that would change this machine.

The client host of a secure solved lab does three steps (trust the CA, `docker login`,
pull); a stand-in `mkdir` that fails stops the script right after them, before it marks
this machine as provisioned.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from labgen.render.plan import plan_lab
from labgen.spec.parse import parse_spec
from labgen.spec.rules import VAGRANT_LOGIN_USER
from labgen.steps.scenario import MASK

PASSWORD = "Lab-pass.2026"
# Each stand-in logs its call; sudo runs what it is given (`sudo -u USER -H bash -l -s`
# with the step on stdin: logged as `sudo stdin: CMD`, then run in a plain bash, since a
# login bash would reset PATH and lose the stand-ins).
STUBS = {
    "dockerd": "exit 0",
    "docker": "exit 0",
    "curl": "exit 0",
    "install": "exit 0",
    "usermod": "exit 0",
    "id": "echo docker",
    "mkdir": "echo 'stub: stop here' >&2; exit 1",
    "sudo": (
        'if [ "$1" = -u ]; then script=$(cat); '
        'echo "sudo stdin: $(printf "%s\\n" "$script" | sed -n 2p)" >>"${0%/*}/../calls.log"; '
        'printf "%s\\n" "$script" | bash -s; exit; fi; exec "$@"'
    ),
}


@pytest.fixture
def provision_client(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> Callable[..., tuple[str, list[str]]]:
    """provision_client(*args) runs `node.sh provision client ARGS` → (its output, calls)."""
    jq = require_tool("jq")
    spec, _ = parse_spec({"scenario": "secure", "mode": "solved", "auth": {"password": PASSWORD}})
    (script,) = [f for f in plan_lab(spec) if f.path.as_posix() == "provision/node.sh"]
    node_sh = tmp_path / "node.sh"
    node_sh.write_text(script.content, encoding="utf-8")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "calls.log"
    for name, body in STUBS.items():
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >>{calls}\n{body}\n')
        (stubs / name).chmod(0o755)
    (stubs / "jq").symlink_to(jq)
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str) -> tuple[str, list[str]]:
        calls.unlink(missing_ok=True)
        done = subprocess.run(
            [require_tool("bash"), str(node_sh), "provision", "client", *args],
            capture_output=True,
            text=True,
            env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(home)},
            check=False,
            timeout=60,
        )
        assert done.returncode != 0 and "stub: stop here" in done.stderr, done.stderr
        return done.stdout + done.stderr, calls.read_text().splitlines()

    return run


def test_the_password_never_shows_in_provisionings_log(
    provision_client: Callable[..., tuple[str, list[str]]],
) -> None:
    output, calls = provision_client()
    # The login step really ran, with the password, and its log line masks it.
    assert "docker login -u student --password-stdin 192.168.56.101:5000" in calls
    assert f"step login: echo {MASK} | docker login -u student" in output
    assert PASSWORD not in output


def test_steps_run_as_the_caller_without_as(
    provision_client: Callable[..., tuple[str, list[str]]],
) -> None:
    _, calls = provision_client()
    assert not [call for call in calls if call.startswith("sudo -u")]
    assert not [call for call in calls if call.startswith(("id", "usermod"))]


def test_steps_run_as_the_login_user_with_as(
    provision_client: Callable[..., tuple[str, list[str]]],
) -> None:
    """On VMs (`--as vagrant`): every step and its done_if run as the user the checker runs
    them as, in a login shell with that user's home."""
    output, calls = provision_client("--as", VAGRANT_LOGIN_USER)
    as_user = f"sudo -u {VAGRANT_LOGIN_USER} -H bash -l -s"
    assert [call for call in calls if call.startswith("sudo -u")] == [as_user] * 5
    ran = [call.removeprefix("sudo stdin: ") for call in calls if call.startswith("sudo stdin: ")]
    # trust-ca's done_if and command, login's, pull-lan-final's done_if (the stand-in
    # docker says the image is there): every one, and nothing else, went through sudo -u.
    assert [command.split()[0] for command in ran] == ["test", "curl", "jq", "echo", "docker"]
    assert "docker login" in ran[3] and "~/.docker/config.json" in ran[2]
    assert f"id {VAGRANT_LOGIN_USER}" in calls  # the user must exist
    assert PASSWORD not in output
    # The password went to the login step on stdin, never in a command's arguments.
    assert [c for c in calls if PASSWORD in c and not c.startswith("sudo stdin: ")] == []


def test_as_names_a_missing_user_in_one_line(
    provision_client: Callable[..., tuple[str, list[str]]], tmp_path: Path
) -> None:
    (tmp_path / "stubs" / "id").write_text("#!/bin/sh\nexit 1\n")
    node_sh = tmp_path / "node.sh"
    done = subprocess.run(
        ["bash", str(node_sh), "provision", "client", "--as", "nobody-here"],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path / 'stubs'}:/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        "labgen-node: error: --as: no user 'nobody-here' on this host"
    ]


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Path]:
    """A stand-in /etc (hostname, hosts) and kernel hostname, as a fresh box has them."""
    etc = tmp_path / "etc"
    etc.mkdir()
    files = {"hostname": etc / "hostname", "hosts": etc / "hosts", "kernel": tmp_path / "kname"}
    files["hostname"].write_text("localhost\n")
    files["hosts"].write_text("127.0.0.1\tlocalhost\n# 127.0.1.1 client (a comment)\n")
    files["kernel"].write_text("localhost\n")
    return files


def provision_names(tmp_path: Path, machine: dict[str, Path], *args: str) -> str:
    """Run `node.sh provision client ARGS` on the stand-in machine; its stderr."""
    done = subprocess.run(
        ["bash", str(tmp_path / "node.sh"), "provision", "client", *args],
        capture_output=True,
        text=True,
        env={
            "PATH": f"{tmp_path / 'stubs'}:/usr/bin:/bin",
            "HOME": str(tmp_path / "home"),
            "LABGEN_ETC": str(machine["hosts"].parent),
            "LABGEN_KERNEL_HOSTNAME": str(machine["kernel"]),
        },
        check=False,
        timeout=60,
    )
    assert done.returncode != 0 and "stub: stop here" in done.stderr, done.stderr
    return done.stderr


def test_set_hostname_names_the_vm_once(
    provision_client: Callable[..., tuple[str, list[str]]],
    tmp_path: Path,
    machine: dict[str, Path],
) -> None:
    """--set-hostname (VMs) does what Vagrant's vm.hostname did, without its NIC restart:
    the name now and at boot, and resolving to a loopback address; a second run changes
    nothing."""
    provision_names(tmp_path, machine, "--as", VAGRANT_LOGIN_USER, "--set-hostname")
    assert machine["hostname"].read_text() == "client\n"
    assert machine["kernel"].read_text() == "client"
    hosts = "127.0.0.1\tlocalhost\n# 127.0.1.1 client (a comment)\n127.0.1.1\tclient\n"
    assert machine["hosts"].read_text() == hosts
    stamps = {name: path.stat().st_mtime_ns for name, path in machine.items()}
    provision_names(tmp_path, machine, "--set-hostname")
    assert machine["hosts"].read_text() == hosts
    assert {name: path.stat().st_mtime_ns for name, path in machine.items()} == stamps


def test_without_set_hostname_the_name_stays(
    provision_client: Callable[..., tuple[str, list[str]]],
    tmp_path: Path,
    machine: dict[str, Path],
) -> None:
    before = {name: path.read_text() for name, path in machine.items()}
    provision_names(tmp_path, machine, "--as", VAGRANT_LOGIN_USER)
    assert {name: path.read_text() for name, path in machine.items()} == before


def test_provision_names_a_wrong_option_in_one_line(
    provision_client: Callable[..., tuple[str, list[str]]], tmp_path: Path
) -> None:
    for args in (["--hostname"], ["--as"]):
        done = subprocess.run(
            ["bash", str(tmp_path / "node.sh"), "provision", "client", *args],
            capture_output=True,
            text=True,
            env={"PATH": f"{tmp_path / 'stubs'}:/usr/bin:/bin"},
            check=False,
        )
        assert done.returncode != 0
        assert done.stderr.splitlines() == [
            "labgen-node: error: usage: labgen-node provision HOST [--as USER] [--set-hostname]"
        ]
