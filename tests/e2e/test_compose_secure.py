"""Part 2 (TLS + htpasswd login) replayed end to end on the sandbox engine: real openssl
certificates, the real registry with TLS and auth, real docker login, push and pull."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from e2e_support import MIRROR, SECURE_SOLVE_STATUSES, solve_statuses
from test_compose_lab import make_lab  # noqa: F401 (the fixture)

from labgen.backends.base import run_process

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
    # A certificate that names the host in subjectAltName, used by address.
    ("pull-dns-only", "client"): (
        'Get "https://192.168.56.101:5000/v2/": tls: failed to verify certificate: x509: '
        "cannot validate certificate for 192.168.56.101 because it doesn't contain any IP SANs"
    ),
    # distribution's TLS listener (Go's net/http) answering a plain-HTTP request.
    ("http-refused", "client"): "Client sent an HTTP request to an HTTPS server.",
}
REGISTRY = "192.168.56.101:5000"


def _password(folder: Path) -> str:
    password = yaml.safe_load((folder / "lab.yaml").read_text())["auth"]["password"]
    assert isinstance(password, str)
    return password


def test_from_part1_solve_replays_part_two_then_grade_passes(make_lab, tmp_path: Path) -> None:  # noqa: F811
    """A lab that continues from part 1 (the plain secure steps are a subset of its steps)."""
    spec = tmp_path / "secure.yaml"
    spec.write_text("name: secure-lab\nscenario: secure\nfrom_part1: true\n")
    live = make_lab(str(spec))
    password = _password(live.folder)
    stored = base64.b64encode(f"student:{password}".encode()).decode()
    # Provisioning left part 1's end state: the insecure entry everywhere, the plain-HTTP
    # registry running and holding the image pushed under the LAN address.
    for host in ("registry", "client"):
        part1 = json.loads(live.sh(host, "cat /etc/docker/daemon.json"))
        assert part1 == {"registry-mirrors": [MIRROR], "insecure-registries": [REGISTRY]}, host
    running = live.sh("registry", "docker container inspect -f '{{.Config.Env}}' registry")
    assert "REGISTRY_HTTP_TLS" not in running
    tags = live.sh("client", "curl -fsS http://192.168.56.101:5000/v2/nginx/tags/list")
    assert json.loads(tags)["tags"] == ["alpine"]
    # Grading that state: part 1's entry is what "no insecure-registries entry" catches.
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 1, err + out
    failing = {(r["id"], r["host"]) for r in json.loads(out)["results"] if r["status"] == "fail"}
    assert {("no-insecure-entry", "registry"), ("no-insecure-entry", "client")} <= failing

    code, out, err = live.labgen("check", "--json", "--junit", str(live.folder / "j.xml"))
    assert code == 0, err + out
    report = json.loads(out)
    assert report["mode"] == "solve" and report["ok"] is True  # auto: part 1's registry is fresh
    assert solve_statuses(report) == {
        **SECURE_SOLVE_STATUSES,
        ("http-refused", "client"): "expected-failure",
    }
    status = {(r["id"], r["host"]): r for r in report["results"]}
    for key, text in REAL_TEXTS.items():
        assert text in status[key]["excerpt"], (key, status[key]["excerpt"])
    # Part 1's entry is gone, every other key is kept; trusting the CA through certs.d
    # needed no restart: the engine that restarted without the entry pulled afterwards.
    engine_pid = live.sh("client", "cat /var/run/docker.pid")
    for host in ("registry", "client"):
        kept = json.loads(live.sh(host, "cat /etc/docker/daemon.json"))
        assert kept == {"registry-mirrors": [MIRROR]}, (host, kept)
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

    # Provisioning again does not redo part 1 over part 2 (no insecure entry comes back).
    for host in ("registry", "client"):
        rerun = live.backend.exec(host, f"/lab/provision/{host}.sh", 300)
        assert rerun.exit_code == 0, rerun.output
        assert "part 1's end state: set up before" in rerun.stderr
    assert live.sh("client", "cat /var/run/docker.pid") == engine_pid
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 0, err + out

    # A key made readable by others and an insecure-registries entry are both named.
    live.sh("registry", "chmod 644 /srv/registry/certs/domain.key")
    live.sh("client", "labgen-node daemon-json add insecure-registries 192.168.56.101:5000")
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 1, err + out
    failing = sorted(
        (r["id"], r["host"]) for r in json.loads(out)["results"] if r["status"] == "fail"
    )
    assert failing == [("key-files-private", "registry"), ("no-insecure-entry", "client")]


# Part 2 from a podman 5.4 client (Debian 13), podman's words: containers/image's texts
# around the same Go x509 errors, and its own for the registry's 401.
PODMAN_TEXTS = {
    ("pull-cn-only", "client"): (
        'pinging container registry 192.168.56.101:5000: Get "https://192.168.56.101:5000/v2/": '
        "tls: failed to verify certificate: x509: certificate relies on legacy Common Name "
        "field, use SANs instead"
    ),
    ("pull-dns-only", "client"): (
        "tls: failed to verify certificate: x509: cannot validate certificate for "
        "192.168.56.101 because it doesn't contain any IP SANs"
    ),
    ("pull-untrusted", "client"): (
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    ),
    ("pull-no-login", "client"): (
        "Error: initializing source docker://192.168.56.101:5000/nginx:alpine: reading "
        "manifest alpine in 192.168.56.101:5000/nginx: authentication required"
    ),
    ("login-wrong", "client"): (
        'Error: logging into "192.168.56.101:5000": invalid username/password'
    ),
    ("show-credentials-podman", "client"): "student:********",
}
PODMAN_PART2 = """name: secure-podman
scenario: secure
from_part1: true
hosts:
  - {name: registry, ip: 192.168.56.101, role: registry}
  - {name: client, ip: 192.168.56.102, role: client, engine: podman}
"""


def test_podman_client_solves_part_two_then_grade_passes(make_lab, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "podman.yaml"
    spec.write_text(PODMAN_PART2)
    live = make_lab(str(spec))
    password = _password(live.folder)
    stored = base64.b64encode(f"student:{password}".encode()).decode()
    # Part 1's end state on a podman client: its registries.conf edit (and the post's
    # daemon.json edit, which podman ignores).
    part1 = live.sh("client", "podman info --format '{{json .Registries}}'")
    assert json.loads(part1)[REGISTRY]["Insecure"] is True
    code, out, err = live.labgen("check", "--json")
    assert code == 0, err + out
    report = json.loads(out)
    assert report["mode"] == "solve" and report["ok"] is True
    assert report["engines"]["client"].startswith("podman 5.4.")
    assert solve_statuses(report) == {
        ("htpasswd-registry-image", "registry"): "deviation",
        ("pull-cn-only", "client"): "expected-failure",
        ("pull-dns-only", "client"): "expected-failure",
        ("pull-untrusted", "client"): "expected-failure",
        ("pull-no-login", "client"): "expected-failure",
        ("push-no-login", "registry"): "expected-failure",
        ("login-wrong", "registry"): "expected-failure",
        ("login-wrong", "client"): "expected-failure",
        ("http-refused", "client"): "expected-failure",
    }
    status = {(r["id"], r["host"]): r for r in report["results"]}
    assert status[("remove-insecure-podman", "client")]["status"] == "pass"
    for key, text in PODMAN_TEXTS.items():
        assert text in status[key]["excerpt"], (key, status[key]["excerpt"])
    assert status[("push-podman", "client")]["status"] == "pass"
    assert password not in out + err and stored not in out + err
    # podman kept the login where containers-auth.json(5) says root's goes without
    # XDG_RUNTIME_DIR, as base64 of user:password like Docker's config.json; no
    # ~/.docker/config.json, and the CA only under /etc/containers/certs.d.
    assert live.sh("client", 'echo "${XDG_RUNTIME_DIR:-unset}"').strip() == "unset"
    auth = json.loads(live.sh("client", "cat /run/containers/0/auth.json"))
    assert auth == {"auths": {REGISTRY: {"auth": stored}}}
    live.sh(
        "client",
        "! test -e ~/.docker/config.json && ! test -e /etc/docker/certs.d "
        f"&& test -s /etc/containers/certs.d/{REGISTRY}/ca.crt",
    )
    assert live.sh("client", f"podman login --get-login {REGISTRY}").strip() == "student"

    code, out, err = live.labgen("check", "--json")
    assert code == 0, err + out
    graded = json.loads(out)
    assert graded["mode"] == "grade"
    assert {r["status"] for r in graded["results"]} == {"pass"}
    goals = {(r["id"], r["host"]) for r in graded["results"]}
    assert {("podman-trusts-ca", "client"), ("podman-no-insecure", "client")} <= goals

    # The table part 1 appended stays, without its insecure line.
    conf = live.sh("client", "cat /etc/containers/registries.conf")
    assert conf.endswith(f'\n[[registry]]\nlocation = "{REGISTRY}"\n')
    # Provisioning again does not redo part 1 over part 2.
    rerun = live.backend.exec("client", "/lab/provision/client.sh", 300)
    assert rerun.exit_code == 0, rerun.output
    assert live.sh("client", "cat /etc/containers/registries.conf") == conf

    # Part 1's fix put back (insecure = true) would skip podman's certificate check: named.
    live.sh("client", f"labgen-node registries-conf add-insecure {REGISTRY}")
    live.sh("client", f"podman logout {REGISTRY}")
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 1, err + out
    failing = sorted(
        (r["id"], r["host"]) for r in json.loads(out)["results"] if r["status"] == "fail"
    )
    assert failing == [("client-logged-in", "client"), ("podman-no-insecure", "client")]


def test_secure_solved_lab_is_done_by_provisioning_idempotently(make_lab, tmp_path: Path) -> None:  # noqa: F811
    """Continuing from part 1: provisioning sets part 1 up, then does part 2 over it."""
    spec = tmp_path / "solved.yaml"
    spec.write_text("name: secure-solved\nscenario: secure\nmode: solved\nfrom_part1: true\n")
    live = make_lab(str(spec))
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 0, err + out
    # Provisioning's log (the nodes' own) shows the login step with the password masked.
    logs = run_process(live.backend._compose("logs", "--no-color"), 60).output
    assert "step login: echo ******** | docker login" in logs
    assert _password(live.folder) not in logs

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
        assert "part 1's end state: set up before" in rerun.stderr
        assert "step remove-insecure: already done" in rerun.stderr
    # No certificate regenerated, no file rewritten, no container or engine restarted.
    assert {h: live.sh(h, state) for h in ("registry", "client")} == before


# Lists every process's command line, in full, every 20 ms until its pid file is removed.
NODE_SAMPLER = (
    "setsid sh -c 'while [ -e /tmp/ps.pid ]; do ps -ww -eo args; echo @; sleep 0.02; done' "
    ">/tmp/ps.log 2>&1 </dev/null & echo $! >/tmp/ps.pid"
)


def test_ps_never_shows_the_password_during_a_secure_solve(make_lab, tmp_path: Path) -> None:  # noqa: F811
    """`ps` sampled on the server (which sees the nodes' processes too) and inside each node
    all through part 2's solve: the password is on no command line, not for docker login
    (--password-stdin), not for htpasswd (-i), not for how labgen reaches the nodes."""
    spec = tmp_path / "secure.yaml"
    spec.write_text("name: ps-lab\nscenario: secure\n")
    live = make_lab(str(spec))
    password = _password(live.folder)
    hosts = ("registry", "client")
    for host in hosts:
        live.sh(host, NODE_SAMPLER)
    seen: list[str] = []  # every distinct command line the server-side samples showed
    stop = threading.Event()

    def sample() -> None:
        lines: set[str] = set()
        while not stop.is_set():
            listed = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True)
            lines.update(listed.stdout.splitlines())
            stop.wait(0.02)
        seen.extend(sorted(lines))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        code, out, err = live.labgen("check", "--mode", "solve", "--json")
    finally:
        stop.set()
        sampler.join()
    assert code == 0, err + out
    assert solve_statuses(json.loads(out)) == SECURE_SOLVE_STATUSES
    in_nodes: dict[str, list[str]] = {}
    for host in hosts:
        live.sh(host, "rm /tmp/ps.pid")
        in_nodes[host] = live.sh(host, "sleep 0.1; cat /tmp/ps.log").splitlines()
    # The samples did cover the steps that use the password, while they ran (the docker
    # CLI lives for the container's whole run; htpasswd itself, a few ms, may be missed).
    htpasswd = "docker run --rm -i --entrypoint htpasswd httpd:2 -Bin student"
    assert any(line.startswith(htpasswd) for line in seen)
    assert any(line.startswith(htpasswd) for line in in_nodes["registry"])
    assert any(line.startswith("docker login -u student --password-stdin") for line in seen)
    assert "sh" in in_nodes["client"]  # the checker's shell, reading its script on stdin
    for where, lines in {"server": seen, **in_nodes}.items():
        showing = [line for line in lines if password in line]
        assert showing == [], (where, showing)
    # The password file holds the password (htpasswd -i dropped echo's newline).
    verify = (
        f"echo {password} | docker run --rm -i -v /srv/registry/auth:/auth "
        "--entrypoint htpasswd httpd:2 -vi /auth/htpasswd student"
    )
    verified = live.backend.exec("registry", verify, 60)
    assert verified.exit_code == 0 and "correct" in verified.output, verified.output
