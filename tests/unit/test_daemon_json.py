"""`labgen-node daemon-json add KEY VALUE` (the rendered provision/node.sh) merges daemon.json.

It runs for real (bash + jq) on a temp file that LABGEN_DAEMON_JSON points at.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labgen.render.plan import plan_lab
from labgen.spec.parse import parse_spec

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


@pytest.fixture
def add(
    node_sh: Path, daemon_json: Path, require_tool: Callable[[str], str]
) -> Callable[[str, str], Run]:
    require_tool("jq")
    bash = require_tool("bash")

    def run(key: str, value: str) -> Run:
        env = {**os.environ, "LABGEN_DAEMON_JSON": str(daemon_json)}
        result = subprocess.run(
            [bash, str(node_sh), "daemon-json", "add", key, value],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=30,
        )
        return Run(result.returncode, result.stdout, result.stderr)

    return run


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
    "content", ['{"insecure-registries": [', "not json\n", "[]\n", '"text"\n', "{} trailing"]
)
def test_malformed_json_is_left_untouched(
    add: Callable[[str, str], Run], daemon_json: Path, content: str
) -> None:
    write(daemon_json, content)
    before = daemon_json.read_bytes()
    _refused(add("insecure-registries", REGISTRY), "is not a JSON object", "left untouched")
    assert daemon_json.read_bytes() == before


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
        [require_tool("bash"), str(node_sh), "daemon-json", "remove", "x", "y"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "usage: labgen-node daemon-json add KEY VALUE" in result.stderr
