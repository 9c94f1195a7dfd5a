"""How the vagrant backend reaches a VM: route choice, ssh-config cache, masters (stubbed runner)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from labgen.backends.base import END, START, ExecResult
from labgen.backends.vmssh import VmShell, multiplexing_unsupported, remote_command
from labgen.doctor import ssh_finding

SSH_CONFIG = """Host {host}
  HostName 192.168.57.{n}
  User vagrant
  Port 22
  IdentityFile /home/u/.vagrant.d/insecure_private_key
  LogLevel FATAL

"""


class FakeMachines:
    """Stands in for ssh, vagrant and the master processes; records each call."""

    def __init__(self, lab: Path, *, ssh_version: str = "OpenSSH_9.2p1", running: int = 2) -> None:
        self.lab = lab
        self.ssh_version = ssh_version
        self.hosts = ["registry", "client"][:running]
        self.calls: list[list[str]] = []
        self.master_ok = True
        self.plain_ok = True
        self.answer = ExecResult(3, "out\n", "err\n", 0.01)
        self.reaches = True  # the host's shell runs the script sent (else ssh fails first)
        self.stdins: list[str] = []

    def set_ids(self, *ids: str) -> None:
        for host, machine_id in zip(["registry", "client"], ids, strict=False):
            folder = self.lab / ".vagrant" / "machines" / host / "libvirt"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "id").write_text(machine_id)

    def run(
        self, argv: Sequence[str], timeout: float, cwd: Path | None = None, stdin: str | None = None
    ) -> ExecResult:
        argv = list(argv)
        self.calls.append(argv)
        if stdin is not None:
            self.stdins.append(stdin)
            if self.reaches:  # what the wrapped script writes around the command's output
                marked = f"{START}\n{self.answer.stderr}{END} {self.answer.exit_code}\n"
                return ExecResult(self.answer.exit_code, self.answer.stdout, marked, 0.01)
            return self.answer
        if argv[:2] == ["ssh", "-V"]:
            if not self.ssh_version:
                return ExecResult(127, "", "ssh: command not found", 0.0)
            return ExecResult(0, "", self.ssh_version + "\n", 0.0)
        if argv[:2] == ["vagrant", "ssh-config"]:
            wanted = argv[2:] or self.hosts
            text = "".join(
                SSH_CONFIG.format(host=h, n=10 + i) for i, h in enumerate(self.hosts) if h in wanted
            )
            return ExecResult(0 if len(self.hosts) == 2 else 1, text, "", 0.1)
        if argv[0] == "ssh" and "-O" in argv:
            socket = Path(next(a for a in argv if a.startswith("ControlPath=")).split("=", 1)[1])
            if argv[argv.index("-O") + 1] == "exit":
                socket.unlink(missing_ok=True)
            return ExecResult(0 if socket.exists() else 255, "", "", 0.0)
        if argv[0] == "ssh":
            if "ControlPath=none" in argv and argv[-1] == remote_command("true"):
                return ExecResult(0 if self.plain_ok else 255, "", "", 0.0)
            return self.answer
        if argv[:2] == ["vagrant", "ssh"]:
            return self.answer
        raise AssertionError(f"unexpected command {argv}")

    def detach(self, argv: Sequence[str], log: Path, timeout: float) -> bool:
        self.calls.append(["detach", *argv])
        if self.master_ok:
            socket = next(a for a in argv if a.startswith("ControlPath=")).split("=", 1)[1]
            Path(socket).touch()
        return self.master_ok

    def count(self, *prefix: str) -> int:
        return sum(1 for call in self.calls if call[: len(prefix)] == list(prefix))


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    folder = tmp_path / "lab"
    folder.mkdir()
    return folder


def shell(
    lab: Path, fake: FakeMachines, notes: list[str] | None = None, **kw: str | None
) -> VmShell:
    return VmShell(
        lab,
        ["registry", "client"],
        run=fake.run,
        detach=fake.detach,
        note=notes.append if notes is not None else None,
        socket_base=lab.parent,
        **kw,
    )


def test_remote_command_is_what_vagrant_ssh_c_sends() -> None:
    # vagrant 2.3 ssh_run.rb: "#{shell} -c '#{ShellQuote.escape(command, "'")}'", shell "bash -l"
    assert (
        remote_command("echo 'a b'; sudo id -u")
        == "bash -l -c 'echo '\"'\"'a b'\"'\"'; sudo id -u'"
    )
    assert remote_command("true") == "bash -l -c true"


def test_multiplexed_route_reads_ssh_config_once_and_keeps_exit_and_streams(lab: Path) -> None:
    fake = FakeMachines(lab)
    fake.set_ids("uuid-r", "uuid-c")
    notes: list[str] = []
    vm = shell(lab, fake, notes)
    result = vm.exec("registry", "sudo docker info", 30)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    vm.exec("registry", "true", 30)
    vm.exec("client", "true", 30)
    assert fake.count("vagrant", "ssh-config") == 1
    assert fake.count("detach") == 2  # one master per host
    command = fake.calls[-1]
    assert command[-2:] == ["client", "bash -l -s"]
    assert "\nsudo docker info\n" in fake.stdins[0]  # the command went on stdin
    assert not any("sudo docker info" in arg for call in fake.calls for arg in call)
    assert result.error == ""
    assert f"ControlPath={vm.sockets / 'client'}" in command and "ControlMaster=no" in command
    assert notes[0].startswith("registry: exec via multiplexed ssh (control socket ")
    assert stat.S_IMODE(vm.config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(vm.sockets.stat().st_mode) == 0o700

    # The next labgen command reuses the cached config and the masters still open.
    fake.calls.clear()
    again = shell(lab, fake)
    again.exec("registry", "true", 30)
    assert fake.count("vagrant", "ssh-config") == 0 and fake.count("detach") == 0
    assert again.routes["registry"].kind == "mux"


def test_new_machines_refresh_the_config_and_end_the_old_masters(lab: Path) -> None:
    fake = FakeMachines(lab)
    fake.set_ids("uuid-r", "uuid-c")
    shell(lab, fake).exec("registry", "true", 30)
    fake.set_ids("uuid-r2", "uuid-c")  # registry was destroyed and created again
    fake.calls.clear()
    shell(lab, fake).exec("registry", "true", 30)
    exits = [c for c in fake.calls if "-O" in c and c[c.index("-O") + 1] == "exit"]
    assert [c[-1] for c in exits] == ["registry"]
    assert fake.count("vagrant", "ssh-config") == 1 and fake.count("detach") == 1


def test_no_ssh_client_falls_back_to_vagrant_ssh(lab: Path) -> None:
    fake = FakeMachines(lab, ssh_version="")
    notes: list[str] = []
    vm = shell(lab, fake, notes)
    result = vm.exec("client", "echo hi", 30)
    assert result.exit_code == 3 and result.stderr == "err\n"
    assert fake.calls[-1] == [
        "vagrant",
        "ssh",
        "client",
        "--no-tty",
        "-c",
        "bash -l -s",
        "--",
        "-q",
    ]
    assert "\necho hi\n" in fake.stdins[-1]
    assert notes == ["client: exec via vagrant ssh (slow) (no ssh client found)"]


def test_windows_openssh_uses_plain_ssh(lab: Path) -> None:
    fake = FakeMachines(lab, ssh_version="OpenSSH_for_Windows_9.5p1, LibreSSL 3.8.2")
    vm = shell(lab, fake)
    vm.exec("registry", "true", 30)
    assert vm.routes["registry"].kind == "ssh"
    assert fake.count("detach") == 0
    assert "ControlPath=none" in fake.calls[-1]


def test_master_that_does_not_start_gives_plain_ssh_then_vagrant(lab: Path) -> None:
    fake = FakeMachines(lab)
    fake.master_ok = False
    vm = shell(lab, fake)
    vm.exec("registry", "true", 30)
    assert vm.routes["registry"].kind == "ssh"
    fake.plain_ok = False
    vm.exec("client", "true", 30)
    assert vm.routes["client"].kind == "vagrant"
    assert fake.calls[-1][:3] == ["vagrant", "ssh", "client"]


def test_cached_config_that_no_longer_connects_is_read_again(lab: Path) -> None:
    fake = FakeMachines(lab)
    shell(lab, fake).exec("registry", "true", 30)
    shell(lab, fake).stop_masters()
    fake.calls.clear()
    fake.master_ok = False  # e.g. the VM got a new address after a halt
    vm = shell(lab, fake)
    vm.exec("registry", "true", 30)
    assert fake.count("vagrant", "ssh-config", "registry") == 1
    assert fake.count("detach") == 2


def test_a_host_that_is_not_running_goes_through_vagrant(lab: Path) -> None:
    fake = FakeMachines(lab, running=1)
    vm = shell(lab, fake)
    vm.exec("client", "true", 30)
    assert vm.routes["client"].kind == "vagrant"
    vm.exec("registry", "true", 30)
    assert vm.routes["registry"].kind == "mux"


def test_control_folder_open_to_others_is_not_used(lab: Path) -> None:
    fake = FakeMachines(lab)
    vm = shell(lab, fake)
    vm.sockets.mkdir(mode=0o755)
    os.chmod(vm.sockets, 0o755)
    notes: list[str] = []
    vm.note = notes.append
    vm.exec("registry", "true", 30)
    assert vm.routes["registry"].kind == "ssh"
    assert "is open to other users" in notes[0]
    assert fake.count("detach") == 0


def test_socket_path_too_long_is_not_used(lab: Path, tmp_path: Path) -> None:
    fake = FakeMachines(lab)
    vm = VmShell(
        lab, ["registry"], run=fake.run, detach=fake.detach, socket_base=tmp_path / ("x" * 90)
    )
    (tmp_path / ("x" * 90)).mkdir()
    vm.exec("registry", "true", 30)
    assert vm.routes["registry"].kind == "ssh" and "too long" in vm.routes["registry"].reason


def test_forced_routes(lab: Path) -> None:
    fake = FakeMachines(lab)
    vm = shell(lab, fake, force="vagrant")
    vm.exec("registry", "true", 30)
    assert fake.calls == [
        ["vagrant", "ssh", "registry", "--no-tty", "-c", "bash -l -s", "--", "-q"]
    ]
    forced_ssh = shell(lab, fake, force="ssh")
    forced_ssh.exec("registry", "true", 30)
    assert forced_ssh.routes["registry"].kind == "ssh" and fake.count("detach") == 0


def test_dead_master_makes_the_next_exec_choose_again(lab: Path) -> None:
    fake = FakeMachines(lab)
    vm = shell(lab, fake)
    vm.exec("registry", "true", 30)
    (vm.sockets / "registry").unlink()  # the master died (VM gone)
    fake.answer = ExecResult(255, "", "Connection closed by 192.168.57.10 port 22\n", 0.0)
    fake.reaches = False
    result = vm.exec("registry", "true", 30)
    assert "registry" not in vm.routes
    assert result.error == (
        "ssh could not run the command on registry "
        "(exit 255: Connection closed by 192.168.57.10 port 22)"
    )


def test_a_command_exiting_255_is_not_an_ssh_failure(lab: Path) -> None:
    fake = FakeMachines(lab)
    fake.answer = ExecResult(255, "", "", 0.0)
    result = shell(lab, fake).exec("registry", "exit 255", 30)
    assert (result.exit_code, result.error, result.stderr) == (255, "", "")


def test_forget_ends_masters_and_drops_the_cache(lab: Path) -> None:
    fake = FakeMachines(lab)
    vm = shell(lab, fake)
    vm.exec("registry", "true", 30)
    vm.exec("client", "true", 30)
    vm.forget()
    exits = [c[-1] for c in fake.calls if "-O" in c and c[c.index("-O") + 1] == "exit"]
    assert exits == ["registry", "client"]
    assert not vm.config_file.exists() and not vm.sockets.exists()


def test_multiplexing_support_and_doctor_line() -> None:
    assert multiplexing_unsupported("OpenSSH_9.2p1 Debian-2") is None
    assert multiplexing_unsupported("OpenSSH_for_Windows_8.1p1") is not None
    assert "multiplexed" in ssh_finding(0, "OpenSSH_9.2p1 Debian\n").detail
    assert "plain ssh" in ssh_finding(0, "OpenSSH_for_Windows_8.1p1").detail
    missing = ssh_finding(127, "")
    assert not missing.ok and "vagrant ssh" in missing.detail


def test_unknown_forced_route_is_one_line_error(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labgen.errors import UsageError
    from labgen.lab import Lab
    from labgen.live import make_backend
    from labgen.spec.parse import load_spec

    spec, _ = load_spec(None)
    monkeypatch.setenv("LABGEN_VM_EXEC", "telnet")
    with pytest.raises(UsageError, match="LABGEN_VM_EXEC=telnet: unknown"):
        make_backend(Lab(lab, spec), "vagrant")


def test_a_host_started_after_the_cache_was_written_is_read_again(lab: Path) -> None:
    fake = FakeMachines(lab, running=1)
    shell(lab, fake).exec("registry", "true", 30)  # cached while client was not running
    fake.hosts = ["registry", "client"]
    fake.calls.clear()
    vm = shell(lab, fake)
    vm.exec("client", "true", 30)
    assert vm.routes["client"].kind == "mux"
    assert fake.count("vagrant", "ssh-config", "client") == 1
    assert vm.config_file.read_text().count("Host registry") == 1


def test_a_lab_given_by_a_relative_path_gets_its_config_by_absolute_path(
    lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(lab.parent)
    fake = FakeMachines(lab)
    vm = shell(Path(lab.name), fake)
    vm.exec("registry", "true", 30)
    config = fake.calls[-1][fake.calls[-1].index("-F") + 1]
    assert Path(config).is_absolute() and Path(config).is_file()
