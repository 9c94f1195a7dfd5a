"""byod on a real engine: `labgen submit` on a lab with a podman client (no Docker engine ID
there), and the class report that reads the file and a renamed copy of it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from e2e_support import labgen
from test_compose_lab import PODMAN_LAB
from test_compose_lab import make_lab as compose_lab  # noqa: F401 (a fixture)

from labgen.submit import HOST_ID, HOST_ID_FILE

pytestmark = pytest.mark.e2e

SPEC = "name: submit-lab\nmode: solved\n" + PODMAN_LAB


def test_submit_passes_on_a_podman_lab_and_a_copy_shows_as_shared(
    compose_lab,  # noqa: F811 (the fixture imported above)
    engine: dict[str, str],
    tmp_path: Path,
) -> None:
    live = compose_lab(spec=SPEC)
    out = tmp_path / "inbox" / "ann.json"
    out.parent.mkdir()
    code, stdout, stderr = live.labgen("submit", "--student", "alice", "--out", str(out))
    assert code == 0, stderr + stdout
    content = json.loads(out.read_text(encoding="utf-8"))
    assert re.search(r"wrote .*ann\.json: (\d+) of \1 checks hold; hand in this file", stdout)
    ids = content["host_ids"]
    assert sorted(ids) == ["client", "podclient", "registry"]
    assert all(re.match(HOST_ID, value) for value in ids.values()) and len(set(ids.values())) == 3
    # Made once: provisioning again (as `labgen up` on a stopped lab does) keeps it.
    rerun = live.backend.exec("podclient", "/lab/provision/podclient.sh", 300)
    assert rerun.exit_code == 0, rerun.output
    assert live.sh("podclient", f"cat {HOST_ID_FILE}") == ids["podclient"]

    # The measured case: ann's file and a copy renamed cat.json, its student changed.
    copy = json.loads(out.read_text(encoding="utf-8"))
    copy["student"] = "carol"
    (out.parent / "cat.json").write_text(json.dumps(copy), encoding="utf-8")
    shutil.copy(out, out.parent / "alice-again.json")
    spec = tmp_path / "class.yaml"
    lab = yaml.safe_load(SPEC)
    spec.write_text(
        yaml.safe_dump({"name": "ws", "students": ["alice", "bob", "carol"], "lab": lab}),
        encoding="utf-8",
    )
    folder = tmp_path / "ws"
    done = labgen(engine, "class", "create", str(spec), "--out", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = labgen(
        engine, "class", "report", str(folder), "--submissions", str(out.parent), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    states = {row["id"]: (row["state"], row["error"]) for row in report["students"]}
    assert states == {
        "alice": ("shared", "shares a lab host with carol"),
        "bob": ("never", ""),
        "carol": ("shared", "shares a lab host with alice"),
    }
    assert "cat.json: carol's file, from the same lab host as alice's" in done.stderr
