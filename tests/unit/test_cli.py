"""`labgen create` and `labgen schema` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from labgen.cli import cli

DEFAULT_FILES = {
    ".gitignore",
    ".labgen-files",
    "Vagrantfile",
    "docker-compose.yml",
    "handout.en.md",
    "handout.zh.md",
    "lab.yaml",
    "node/Dockerfile",
    "node/boot.sh",
    "node/systemctl",
    "provision/client.sh",
    "provision/node.sh",
    "provision/registry.sh",
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def labgen(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Temp dirs the atomic writer may leave next to the lab folder: there must be none."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_create_default_lab(workdir: Path) -> None:
    result = labgen("create")
    assert result.exit_code == 0, result.output
    lab = workdir / "labs" / "registry-lab"
    assert set(files_under(lab)) == DEFAULT_FILES
    assert result.stdout.startswith(f"created {Path('labs/registry-lab')} (13 files: 13 new;")
    assert result.stderr == ""
    assert leftovers(workdir / "labs") == []


def test_second_create_needs_force(workdir: Path) -> None:
    assert labgen("create").exit_code == 0
    lab = workdir / "labs" / "registry-lab"
    (lab / "handout.en.md").write_text("my notes\n")
    before = files_under(lab)
    result = labgen("create")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("labgen: error: ")
    assert "--force" in lines[0]
    assert "Traceback" not in result.output
    assert files_under(lab) == before
    assert leftovers(workdir / "labs") == []


def test_force_replaces_and_keeps_vagrant_state(workdir: Path) -> None:
    assert labgen("create").exit_code == 0
    lab = workdir / "labs" / "registry-lab"
    state = lab / ".vagrant" / "machines" / "registry" / "id"
    state.parent.mkdir(parents=True)
    state.write_text("vm-uuid\n")
    (lab / "handout.en.md").write_text("stale\n")
    result = labgen("create", "--force")
    assert result.exit_code == 0, result.output
    assert "1 changed, 12 same" in result.stdout
    assert state.read_text() == "vm-uuid\n"
    assert (lab / "handout.en.md").read_text() != "stale\n"
    assert set(files_under(lab)) == DEFAULT_FILES | {".vagrant/machines/registry/id"}
    assert leftovers(workdir / "labs") == []


def test_dry_run_writes_nothing(workdir: Path) -> None:
    result = labgen("create", "--dry-run")
    assert result.exit_code == 0, result.output
    assert list(workdir.iterdir()) == []
    lines = result.stdout.splitlines()
    assert lines[-1] == f"dry run: nothing written to {Path('labs/registry-lab')}"
    listed = {line.split()[1] for line in lines[:-1]}
    assert all(line.split()[0] == "new" for line in lines[:-1])
    assert listed == {str(Path("labs/registry-lab") / name) for name in DEFAULT_FILES}


def test_dry_run_reports_changes(workdir: Path) -> None:
    assert labgen("create").exit_code == 0
    lab = workdir / "labs" / "registry-lab"
    (lab / "Vagrantfile").write_text("# edited\n")
    before = files_under(lab)
    result = labgen("create", "--dry-run")
    assert result.exit_code == 0
    statuses = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()[:-1]}
    assert statuses[str(lab.relative_to(workdir) / "Vagrantfile")] == "changed"
    assert statuses[str(lab.relative_to(workdir) / "lab.yaml")] == "same"
    assert files_under(lab) == before


def test_bad_spec_one_line_per_problem(workdir: Path, spec_file: Callable[[Any], Path]) -> None:
    path = spec_file({"name": "Bad", "registry": {"port": 0}, "mirror": "ftp://x"})
    out = workdir / "out" / "lab"
    result = labgen("create", str(path), "--out", str(out))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    for line, field in zip(lines, ("name", "registry.port", "mirror"), strict=True):
        assert line.startswith(f"labgen: error: {field}: "), line
        assert "; " in line
    assert result.stdout == ""
    assert not out.exists()
    assert not (workdir / "out").exists() or leftovers(workdir / "out") == []


def test_missing_spec_file(workdir: Path) -> None:
    result = labgen("create", "nope.yaml")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("labgen: error: nope.yaml: cannot read the spec")
    assert not (workdir / "labs").exists()


def test_yaml_error_is_one_line(workdir: Path, spec_file: Callable[[Any], Path]) -> None:
    result = labgen("create", str(spec_file("hosts: [\n")))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("labgen: error: ") and "line 2" in line
    assert "Traceback" not in result.output


def test_warning_goes_to_stderr(workdir: Path, spec_file: Callable[[Any], Path]) -> None:
    path = spec_file(
        {
            "subnet": "10.10.0.0/24",
            "hosts": [
                {"name": "r", "ip": "10.10.0.10", "role": "registry"},
                {"name": "c", "ip": "10.10.0.11", "role": "client"},
            ],
        }
    )
    result = labgen("create", str(path), "--out", "lab")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("labgen: warning: subnet: 10.10.0.0/24 is outside VirtualBox's")


def test_out_is_a_file(workdir: Path) -> None:
    (workdir / "lab").write_text("a file\n")
    result = labgen("create", "--out", "lab", "--force")
    assert result.exit_code == 2
    assert "is a file" in result.stderr  # click's own check of --out
    assert "Traceback" not in result.output
    assert (workdir / "lab").read_text() == "a file\n"
    assert leftovers(workdir) == []


def test_backend_compose_has_no_vagrantfile(workdir: Path) -> None:
    assert labgen("create", "--backend", "compose", "--out", "lab").exit_code == 0
    files = set(files_under(workdir / "lab"))
    assert "Vagrantfile" not in files
    assert {"docker-compose.yml", "node/Dockerfile", "provision/node.sh"} <= files


def test_backend_vagrant_has_no_compose_files(workdir: Path) -> None:
    assert labgen("create", "--backend", "vagrant", "--out", "lab").exit_code == 0
    files = set(files_under(workdir / "lab"))
    assert "Vagrantfile" in files and "provision/node.sh" in files
    assert "docker-compose.yml" not in files
    assert not any(name.startswith("node/") for name in files)


def test_schema_prints_json() -> None:
    result = labgen("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "labgen lab spec"
    assert "hosts" in schema["properties"]


def test_python_dash_m_help(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "labgen", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "create" in result.stdout and "schema" in result.stdout


def test_non_editable_install_works(tmp_path: Path, repo_root: Path) -> None:
    """`pip install .` (not editable) ships the templates and scenarios: create works from it."""
    started = time.monotonic()
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "sandbox", "labs", "tests", "build", "dist", "*.egg-info",
        "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    )  # fmt: skip
    shutil.copytree(repo_root, source, ignore=ignore, symlinks=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    bin_dir = venv / "bin"
    # The runtime dependencies as this interpreter has them (the venv may not see them):
    # appended to the new venv's sys.path, after its own site-packages.
    site = Path(
        subprocess.run(
            [bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "zz_labgen_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [bin_dir / "python", "-c", "import labgen; print(labgen.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), f"labgen imported from {where}, not the installed copy"
    created = subprocess.run(
        [bin_dir / "labgen", "create"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    assert set(files_under(elsewhere / "labs" / "registry-lab")) == DEFAULT_FILES
    assert os.access(elsewhere / "labs" / "registry-lab" / "provision" / "node.sh", os.X_OK)
    assert time.monotonic() - started < 60, "the install test is too slow for the default suite"


def test_mirror_option_reaches_every_host(workdir: Path) -> None:
    result = labgen("create", "--mirror", "http://192.168.56.1:5555")
    assert result.exit_code == 0, result.output
    lab = workdir / "labs" / "registry-lab"
    assert "mirror: http://192.168.56.1:5555" in (lab / "lab.yaml").read_text()
    assert "MIRROR=http://192.168.56.1:5555" in (lab / "provision" / "node.sh").read_text()


def test_mirror_option_is_validated(workdir: Path) -> None:
    result = labgen("create", "--mirror", "http://x/$(id)")
    assert result.exit_code == 2
    assert result.stderr.startswith("labgen: error: mirror: ")
    assert not (workdir / "labs").exists()


def test_out_dot_inside_a_lab_recreates_it(workdir: Path) -> None:
    assert labgen("create", "--out", "lab").exit_code == 0
    os.chdir(workdir / "lab")
    result = labgen("create", "lab.yaml", "--out", ".", "--force")
    assert result.exit_code == 0, result.output
    assert "13 same" in result.stdout
