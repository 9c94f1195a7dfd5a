"""The rendered files pass the tools their users run on them.

A missing tool skips its test here, and fails it when CI is set (CI installs them all).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from labgen.render.plan import plan_lab
from labgen.render.write import write_lab
from labgen.spec.parse import load_spec

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "spec.yaml").is_file())


@pytest.fixture(params=CASES)
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    spec, _ = load_spec(GOLDEN / request.param / "spec.yaml")
    out = tmp_path / "lab"
    write_lab(plan_lab(spec), out, force=False)
    return out


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert result.returncode == 0, (
        f"`{' '.join(args)}` failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    )


def test_shellcheck(lab: Path, require_tool: Callable[[str], str]) -> None:
    shellcheck = require_tool("shellcheck")
    scripts = sorted(str(p.relative_to(lab)) for p in (lab / "provision").glob("*.sh"))
    assert "provision/node.sh" in scripts and len(scripts) >= 3
    run([shellcheck, *scripts, "node/boot.sh"], lab)
    run([shellcheck, "-s", "sh", "node/systemctl"], lab)


def test_ruby_parses_vagrantfile(lab: Path, require_tool: Callable[[str], str]) -> None:
    run([require_tool("ruby"), "-c", "Vagrantfile"], lab)


def test_vagrant_validate(lab: Path, tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    vagrant = require_tool("vagrant")
    env = {
        **os.environ,
        "VAGRANT_HOME": str(tmp_path / "vagrant-home"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
    }
    # Vagrant may print warnings (plugins, providers); only its exit code counts.
    run([vagrant, "validate", "--ignore-provider"], lab, env)


def test_docker_compose_config(
    lab: Path, require_tool: Callable[[str], str], require: Callable[[str], None]
) -> None:
    docker = require_tool("docker")
    plugin = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    if plugin.returncode != 0:
        require("the docker compose v2 plugin is not installed (`docker compose version` fails)")
    run([docker, "compose", "config", "-q"], lab)
