"""`labgen matrix` on the sandbox engine: one combination, part 1 on Debian 12, written as
the doc and its JSON. The other compose e2e tests solve the default OS (Debian 13), so this
one also keeps Debian 12 solved on compose in every CI run, at the cost of one part-1 run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from e2e_support import MIRROR, RUNTIME, SOLVE_STATUSES, labgen

from labgen.matrix import markdown
from labgen.matrix.model import disagreements, from_json

pytestmark = pytest.mark.e2e


def test_matrix_of_one_combination(engine: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "docs" / "m.md"
    done = labgen(
        engine,
        "matrix",
        "--only",
        "part1-debian12-docker",
        "--out",
        str(out),
        "--mirror",
        MIRROR,
        "--runtime",
        RUNTIME,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip() == f"wrote {out} and {out.with_suffix('.json')}"
    data = json.loads(out.with_suffix(".json").read_text())
    assert set(data) == {"format", "labgen", "date", "runs"}
    [run] = data["runs"]
    assert run["name"] == "part1-debian12-docker" and run["error"] == ""
    assert set(run["seconds"]) == {"up", "check", "down"}
    assert run["registry"].startswith("registry:2: registry github.com/docker/distribution 2.")
    assert {h: e.split(".")[0] for h, e in run["engines"].items()} == {
        "registry": "docker 20",
        "client": "docker 20",
    }
    statuses = {(c["step"], c["host"]): c["status"] for c in run["cells"] if c["status"] != "pass"}
    assert statuses == SOLVE_STATUSES
    matrix = from_json(out.with_suffix(".json").read_text())
    assert disagreements(matrix) == []
    doc = out.read_text()
    assert doc == markdown.render(matrix, "m.json")
    assert "| `push-lan-untagged` | registry | success | deviates [3] |" in doc
    assert "tag does not exist: 192.168.56.101:5000/nginx:latest" in doc
    # The lab was taken down: nothing of it is left on the engine.
    project = "label=com.docker.compose.project=matrix-part1-debian12-docker"
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", project], env=engine, capture_output=True, text=True
    )
    assert left.returncode == 0 and left.stdout == "", left.stderr
