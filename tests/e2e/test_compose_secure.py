"""Part 2 (TLS + htpasswd login) replayed end to end on the sandbox engine: real openssl
certificates, the real registry with TLS and auth, real docker login, push and pull."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from e2e_support import SECURE_SOLVE_STATUSES, solve_statuses
from test_compose_lab import make_lab  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e

# What each step's output really says on the default os, Debian 13 (Docker 26.1 client and
# engine, Go's crypto/x509). Docker 20.10 (Debian 12) says the same without "tls: failed to
# verify certificate: " before the x509 texts.
REAL_TEXTS = {
    ("htpasswd-registry-image", "registry"): 'exec: "htpasswd": executable file not found in $PATH',
    ("pull-cn-only", "client"): (
        'Get "https://192.168.56.101:5000/v2/": tls: failed to verify certificate: x509: '
        "certificate relies on legacy Common Name field, use SANs instead"
    ),
    ("pull-untrusted", "client"): (
        'Get "https://192.168.56.101:5000/v2/": tls: failed to verify certificate: x509: '
        "certificate signed by unknown authority"
    ),
    ("pull-no-login", "client"): (
        'Head "https://192.168.56.101:5000/v2/nginx/manifests/alpine": no basic auth credentials'
    ),
    ("push-no-login", "registry"): "no basic auth credentials",
    ("login-wrong", "client"): (
        "Error response from daemon: login attempt to https://192.168.56.101:5000/v2/ failed "
        "with status: 401 Unauthorized"
    ),
    ("login", "client"): (
        "WARNING! Your password will be stored unencrypted in /root/.docker/config.json."
    ),
    ("show-credentials", "client"): "student:********",
}


def _password(folder: Path) -> str:
    password = yaml.safe_load((folder / "lab.yaml").read_text())["auth"]["password"]
    assert isinstance(password, str)
    return password


def test_secure_solve_replays_part_two_then_grade_passes(make_lab, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "secure.yaml"
    spec.write_text("name: secure-lab\nscenario: secure\n")
    live = make_lab(str(spec))
    password = _password(live.folder)
    stored = base64.b64encode(f"student:{password}".encode()).decode()
    engine_pid = live.sh("client", "cat /var/run/docker.pid")

    code, out, err = live.labgen("check", "--json", "--junit", str(live.folder / "j.xml"))
    assert code == 0, err + out
    report = json.loads(out)
    assert report["mode"] == "solve" and report["ok"] is True
    assert solve_statuses(report) == SECURE_SOLVE_STATUSES
    status = {(r["id"], r["host"]): r for r in report["results"]}
    for key, text in REAL_TEXTS.items():
        assert text in status[key]["excerpt"], (key, status[key]["excerpt"])
    # Trusting the CA through certs.d needed no restart: the same engine pulled afterwards.
    assert live.sh("client", "cat /var/run/docker.pid") == engine_pid
    # The password and its base64 form are nowhere in the reports or the progress output.
    junit = (live.folder / "j.xml").read_text()
    for text in (out, err, junit):
        assert password not in text and stored not in text
    # ~/.docker/config.json holds it base64-encoded, not encrypted.
    assert live.sh("client", "jq -r '.auths[].auth' ~/.docker/config.json").strip() == stored

    code, out, err = live.labgen("check", "--json")
    assert code == 0, err + out
    graded = json.loads(out)
    assert graded["mode"] == "grade"
    assert {r["status"] for r in graded["results"]} == {"pass"}
    assert password not in out + err

    # A key made readable by others and an insecure-registries entry are both named.
    live.sh("registry", "chmod 644 /srv/registry/certs/domain.key")
    live.sh("client", "labgen-node daemon-json add insecure-registries 192.168.56.101:5000")
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 1, err + out
    failing = sorted(
        (r["id"], r["host"]) for r in json.loads(out)["results"] if r["status"] == "fail"
    )
    assert failing == [("key-files-private", "registry"), ("no-insecure-entry", "client")]


def test_secure_solved_lab_is_done_by_provisioning_idempotently(make_lab, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "solved.yaml"
    spec.write_text("name: secure-solved\nscenario: secure\nmode: solved\n")
    live = make_lab(str(spec))
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 0, err + out

    state = (
        "sha256sum /srv/registry/certs/* /srv/registry/auth/* /etc/docker/certs.d/*/ca.crt "
        "/etc/docker/daemon.json ~/.docker/config.json 2>/dev/null; "
        "docker inspect -f '{{.Name}} {{.State.StartedAt}}' $(docker ps -q); "
        "cat /var/run/docker.pid"
    )
    before = {h: live.sh(h, state) for h in ("registry", "client")}
    for host in ("registry", "client"):
        rerun = live.backend.exec(host, f"/lab/provision/{host}.sh", 300)
        assert rerun.exit_code == 0, rerun.output
        assert "step make-ca: already done" in rerun.stderr or host == "client"
        assert "step login: already done" in rerun.stderr
    # No certificate regenerated, no file rewritten, no container or engine restarted.
    assert {h: live.sh(h, state) for h in ("registry", "client")} == before
