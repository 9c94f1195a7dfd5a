"""Finding a lab folder and remembering how it was brought up."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from labgen.cli import cli
from labgen.errors import UsageError
from labgen.lab import LabState, open_lab
from labgen.live import make_backend, up_lab


@pytest.fixture
def labs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "labs"


def create(*args: str) -> None:
    result = CliRunner().invoke(cli, ["create", *args])
    assert result.exit_code == 0, result.output


def test_no_lab_anywhere(labs: Path) -> None:
    with pytest.raises(UsageError, match="no lab found; run `labgen create` first"):
        open_lab(None)


def test_the_only_lab_is_the_default(labs: Path) -> None:
    create()
    assert open_lab(None).path == Path("labs/registry-lab")


def test_several_labs_need_a_name(labs: Path, tmp_path: Path) -> None:
    create()
    create("--out", "labs/second")
    with pytest.raises(UsageError, match="several labs found"):
        open_lab(None)


def test_a_folder_without_lab_yaml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no lab\.yaml here"):
        open_lab(tmp_path)


def test_state_round_trip_and_backend_choice(labs: Path) -> None:
    create()
    lab = open_lab(None)
    assert lab.read_state() is None
    assert make_backend(lab, None).name == "compose"  # the lab has a compose file
    lab.write_state(LabState(backend="vagrant", vagrant_provider="libvirt"))
    assert open_lab(None).read_state() == LabState(backend="vagrant", vagrant_provider="libvirt")
    assert make_backend(lab, None).name == "vagrant"  # what `up` used wins
    lab.clear_state()
    assert lab.read_state() is None


def test_up_refuses_options_of_the_other_backend(labs: Path) -> None:
    create()
    lab = open_lab(None)
    with pytest.raises(UsageError, match="--runtime applies to the compose backend only"):
        up_lab(lab, "vagrant", "labgen-runc", None)
    with pytest.raises(UsageError, match="--provider applies to the vagrant backend only"):
        up_lab(lab, "compose", None, "libvirt")


def test_compose_lab_without_docker_compose_file(labs: Path) -> None:
    create("--backend", "vagrant")
    result = CliRunner().invoke(cli, ["up", "labs/registry-lab", "--backend", "compose"])
    assert result.exit_code == 1
    assert "no docker-compose.yml; re-create the lab with --backend compose or all" in result.stderr
