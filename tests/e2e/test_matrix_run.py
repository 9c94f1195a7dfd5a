"""`labgen matrix` on the sandbox engine: one combination, written as the doc and its JSON.

It runs part 2 on Debian 12, the one combination of the matrix no other e2e test solves
(the compose tests solve part 1 on every OS and engine, and part 2 on the default OS), so
that every combination solves once per CI run and none twice."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from e2e_support import MIRROR, RUNTIME, SECURE_SOLVE_STATUSES, labgen

from labgen.matrix import inputs, markdown
from labgen.matrix.model import disagreements, from_json

pytestmark = pytest.mark.e2e

COMBO = "part2-debian12-docker"


def test_matrix_of_one_combination(engine: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "docs" / "m.md"
    done = labgen(
        engine,
        "matrix",
        "--only",
        COMBO,
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
    assert set(data) == {"format", "labgen", "date", "inputs", "commit", "runs"}
    # made from this checkout's inputs, named by their digest and the commit
    assert data["inputs"] == inputs.inputs_digest(inputs.checkout_root())
    assert data["commit"].startswith(
        subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
    )
    [run] = data["runs"]
    assert run["name"] == COMBO and run["error"] == ""
    assert set(run["seconds"]) == {"up", "check", "down"}
    assert run["registry"].startswith("registry:2: registry github.com/docker/distribution 2.")
    assert {h: e.split(".")[0] for h, e in run["engines"].items()} == {
        "registry": "docker 20",
        "client": "docker 20",
    }
    statuses = {(c["step"], c["host"]): c["status"] for c in run["cells"] if c["status"] != "pass"}
    assert statuses == SECURE_SOLVE_STATUSES
    # The lab's generated password is not kept (the reports mask it; the spec drops it).
    assert run["spec"]["auth"] == {"user": "student"}
    matrix = from_json(out.with_suffix(".json").read_text())
    assert disagreements(matrix) == []
    doc = out.read_text()
    assert doc == markdown.render(matrix, "m.json")
    assert "## Part 2: TLS and a login" in doc and "## Part 1" not in doc
    assert "| `htpasswd-registry-image` | registry | success | deviates [1] |" in doc
    assert 'exec: "htpasswd": executable file not found in $PATH' in doc
    # The lab was taken down: nothing of it is left on the engine.
    project = f"label=com.docker.compose.project=matrix-{COMBO}"
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", project], env=engine, capture_output=True, text=True
    )
    assert left.returncode == 0 and left.stdout == "", left.stderr
