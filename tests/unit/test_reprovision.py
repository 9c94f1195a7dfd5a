"""`labgen provision`: the script goes to a VM only when its copy differs; the command
strings run for real in a local bash (sudo and the install path faked)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labgen.backends import vagrant
from labgen.backends.base import ExecResult
from labgen.backends.vagrant import VagrantBackend
from labgen.lab import Lab
from labgen.spec.parse import load_spec

# Says its arguments after `provision`: the host, and the user the steps run as.
NODE = '#!/usr/bin/env bash\necho "provisioned ${*:2} by $0 as $(id -u)"\n'


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VagrantBackend:
    lab = tmp_path / "lab"
    (lab / "provision").mkdir(parents=True)
    (lab / "provision" / "node.sh").write_text(NODE)
    spec, _ = load_spec(None)
    chosen = VagrantBackend(Lab(lab, spec), None)
    installed = tmp_path / "sbin" / "labgen-node"
    installed.parent.mkdir()
    monkeypatch.setattr(vagrant, "INSTALLED_NODE", str(installed))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_dir / "sudo").chmod(0o755)
    calls: list[str] = []

    def local_exec(host: str, command: str, timeout: float) -> ExecResult:
        calls.append(command)
        done = subprocess.run(
            ["bash", "-c", command],
            env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return ExecResult(done.returncode, done.stdout, done.stderr, 0.0)

    monkeypatch.setattr(chosen, "exec", local_exec)
    chosen.calls = calls  # type: ignore[attr-defined]
    return chosen


def test_script_is_sent_only_when_the_vm_copy_differs(backend: VagrantBackend) -> None:
    installed = Path(vagrant.INSTALLED_NODE)
    result, sent = backend.reprovision("registry", 30)
    assert sent and result.exit_code == 0, result.output
    # The sent copy ran.
    assert result.stdout.startswith("provisioned registry --as vagrant --set-hostname by /tmp/")
    installed.write_text(NODE)  # what node.sh does on its first run
    installed.chmod(0o755)
    result, sent = backend.reprovision("registry", 30)
    assert not sent and result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"provisioned registry --as vagrant --set-hostname by {installed} "
    )
    assert "base64" not in backend.calls[-1]  # only the check and the run went


def test_changed_script_is_sent_again(backend: VagrantBackend) -> None:
    installed = Path(vagrant.INSTALLED_NODE)
    installed.write_text(NODE.replace("provisioned", "old"))
    installed.chmod(0o755)
    result, sent = backend.reprovision("client", 30)
    assert sent and result.stdout.startswith(
        "provisioned client --as vagrant --set-hostname by /tmp/"
    )


def test_failed_provisioning_keeps_its_exit_code(backend: VagrantBackend) -> None:
    installed = Path(vagrant.INSTALLED_NODE)
    installed.write_text("#!/bin/bash\nexit 1\n")
    (backend.lab.path / "provision" / "node.sh").write_text("#!/bin/bash\necho boom >&2; exit 7\n")
    result, sent = backend.reprovision("client", 30)
    assert sent and result.exit_code == 7 and "boom" in result.stderr


def test_provision_names_an_unknown_host_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from labgen.cli import cli

    lab = tmp_path / "lab"
    assert CliRunner().invoke(cli, ["create", "--out", str(lab)]).exit_code == 0
    done = CliRunner().invoke(cli, ["provision", str(lab), "--host", "nope"])
    assert done.exit_code != 0
    assert "--host nope: not a host of lab" in done.output and "Traceback" not in done.output


def test_provision_that_could_not_run_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssh failing mid-way (exit 255, the script never ended) is not the script failing."""
    from click.testing import CliRunner

    from labgen.cli import cli

    lab = tmp_path / "lab"
    assert CliRunner().invoke(cli, ["create", "--out", str(lab)]).exit_code == 0
    broken = ExecResult(
        255, "", "", 3.0, error="ssh to registry ended before the command did (exit 255)"
    )
    monkeypatch.setattr(VagrantBackend, "reprovision", lambda self, host, timeout: (broken, True))
    done = CliRunner().invoke(cli, ["provision", str(lab), "--host", "registry"])
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert done.stderr.startswith(
        "labgen: error: registry: provisioning could not be run to its end: ssh to registry "
        "ended before the command did (exit 255) (exit 255):"
    )
