"""The tutorial replayed end to end on a real dockerd, real registry and real docker pull/push.

Each test creates a lab with the labgen CLI, brings it up on the sandboxed engine
(runtime override: this machine's privileged containers need the labgen-runc
wrapper), checks it, and takes it down again, also when an assertion fails.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import MIRROR, RUNTIME, SOLVE_STATUSES, labgen, solve_statuses

from labgen.backends.base import run_process
from labgen.backends.compose import ComposeBackend
from labgen.check import runner
from labgen.check.results import CheckResult
from labgen.lab import open_lab
from labgen.steps.scenario import load_scenario

pytestmark = pytest.mark.e2e


class LiveLab:
    """A lab folder brought up with `labgen up`; `down()` is idempotent."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.lab = open_lab(folder)
        self.backend = ComposeBackend(self.lab, [".labgen/compose.runtime.yml"])

    def labgen(self, *args: str) -> tuple[int, str, str]:
        done = labgen(self.env, *args, str(self.folder), cwd=self.folder.parent)
        return done.returncode, done.stdout, done.stderr

    def sh(self, host: str, command: str) -> str:
        result = self.backend.exec(host, command, 120)
        assert result.exit_code == 0, f"{command} on {host}: {result.output}"
        return result.stdout


@pytest.fixture
def make_lab(engine: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """make_lab(*create_args) → a LiveLab that is up; every lab is taken down at the end."""
    for key, value in engine.items():
        monkeypatch.setenv(key, value)
    made: list[LiveLab] = []

    def make(*create_args: str, spec: str | None = None) -> LiveLab:
        folder = tmp_path / f"lab{len(made)}"
        if spec is not None:
            (tmp_path / f"spec{len(made)}.yaml").write_text(spec, encoding="utf-8")
            create_args = (str(tmp_path / f"spec{len(made)}.yaml"), *create_args)
        done = labgen(
            engine, "create", "--mirror", MIRROR, "--out", str(folder), *create_args, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        live = LiveLab(engine, folder)
        made.append(live)
        code, _, err = live.labgen("up", "--runtime", RUNTIME)
        assert code == 0, err
        return live

    yield make
    for live in made:
        live.labgen("down")


# Every engine combination solves once per CI run: the default (Debian 13, Docker 26.1),
# Debian 12 (Docker 20.10), and Debian 13 with a podman client next to the docker one.
PODMAN_LAB = """hosts:
  - {name: registry, ip: 192.168.56.101, role: registry}
  - {name: client, ip: 192.168.56.102, role: client}
  - {name: podclient, ip: 192.168.56.103, role: client, engine: podman}
"""
SOLVE_LABS = {
    "debian-13": (None, "docker 26."),
    "debian-12": ("os: debian-12\n", "docker 20.10."),
    "debian-13-podman": (PODMAN_LAB, "docker 26."),
}
# What podman 5.4 really does with the tutorial (podman's words).
PODMAN_STATUSES = {
    ("pull-lan-before-config", "podclient"): "expected-failure",
    ("pull-lan-daemon-json", "podclient"): "deviation",
    ("registries-conf-scheme", "podclient"): "deviation",
}


@pytest.mark.parametrize("lab", SOLVE_LABS)
def test_solve_replays_every_step_then_grade_passes(make_lab, lab: str) -> None:
    spec, docker = SOLVE_LABS[lab]
    live = make_lab(spec=spec)
    # A fresh lab: auto mode sees the engine answer and no registry container, and solves.
    code, out, err = live.labgen("check", "--json", "--junit", str(live.folder / "j.xml"))
    assert code == 0, err + out
    report = json.loads(out)
    assert report["mode"] == "solve"
    assert report["ok"] is True
    status = {(r["id"], r["host"]): r for r in report["results"]}
    scenario = load_scenario(live.lab.spec)
    assert len(report["results"]) == sum(len(s.hosts) for s in scenario.steps)
    # The post's first failure, with Docker's real words.
    first = status[("pull-lan-before-config", "client")]
    assert first["status"] == "expected-failure"
    assert "http: server gave HTTP response to HTTPS client" in first["excerpt"]
    # Where real Docker disagrees with the post: reported as documented deviations.
    assert status[("pull-lan-after-config", "client")]["status"] == "deviation"
    assert (
        "Downloaded newer image for 192.168.56.101:5000/nginx:alpine"
        in status[("pull-lan-after-config", "client")]["excerpt"]
    )
    untagged = status[("push-lan-untagged", "registry")]
    assert untagged["status"] == "deviation"
    assert "tag does not exist: 192.168.56.101:5000/nginx:latest" in untagged["excerpt"]
    assert status[("pull-lan-final", "client")]["status"] == "pass"
    # Each verdict names the engine and version it is for.
    assert report["engines"]["client"].startswith(docker)
    assert status[("pull-lan-final", "client")]["engine"] == report["engines"]["client"]
    podman = PODMAN_STATUSES if "podclient" in report["engines"] else {}
    assert solve_statuses(report) == SOLVE_STATUSES | podman
    if podman:
        assert report["engines"]["podclient"].startswith("podman 5.")
        # The post's daemon.json edit, as a student adapting it writes it: podman ignores it.
        ignored = status[("pull-lan-daemon-json", "podclient")]
        assert "http: server gave HTTP response to HTTPS client" in ignored["excerpt"]
        # The post's entry with its scheme, as a location: podman refuses the whole file.
        scheme = status[("registries-conf-scheme", "podclient")]["excerpt"]
        assert (
            'Error: getting registries: loading registries configuration "/etc/containers/'
            "registries.conf\": invalid location 'http://192.168.56.101:5000': URI schemes are "
            "not supported"
        ) in scheme
        assert status[("pull-lan-final", "podclient")]["status"] == "pass"
    junit = (live.folder / "j.xml").read_text()
    assert 'failures="0"' in junit and "pull-lan-final [client]" in junit
    assert f'<property name="engine" value="{report["engines"]["client"]}" />' in junit

    # The finished lab grades green, and auto mode picks grade for it.
    code, out, err = live.labgen("check", "--json")
    assert code == 0, err + out
    graded = json.loads(out)
    assert graded["mode"] == "grade"
    assert {r["status"] for r in graded["results"]} == {"pass"}
    if podman:
        assert ("registries-conf-insecure", "podclient") in {
            (r["id"], r["host"]) for r in graded["results"]
        }


def test_grade_half_done_lab_names_exactly_the_missing_goals(make_lab) -> None:
    live = make_lab()
    # A student who pushed through localhost and tried the LAN pull, but fixed nothing yet.
    for command in (
        "docker pull registry:2",
        "docker run -d -p 5000:5000 --restart=always --name registry registry:2",
        "docker pull nginx:alpine",
        "docker tag nginx:alpine localhost:5000/nginx:alpine",
        "docker push localhost:5000/nginx:alpine",
    ):
        live.sh("registry", command)
    before = live.sh("registry", "cat /etc/docker/daemon.json")
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 1, err + out
    report = json.loads(out)
    failing = sorted((r["id"], r["host"]) for r in report["results"] if r["status"] == "fail")
    assert failing == [
        ("client-has-image", "client"),
        ("daemon-json-insecure", "client"),
        ("daemon-json-insecure", "registry"),
        ("engine-insecure", "client"),
        ("engine-insecure", "registry"),
    ]
    hints = {r["id"]: r["detail"] for r in report["results"] if r["status"] == "fail"}
    assert hints["engine-insecure"] == "not yet: restart Docker after editing daemon.json"
    # Grading changed nothing.
    assert live.sh("registry", "cat /etc/docker/daemon.json") == before
    # Auto mode grades this lab: its registry exists.
    code, out, err = live.labgen("check", "--json")
    assert code == 1, err + out
    assert json.loads(out)["mode"] == "grade"

    # Provisioning again over a daemon.json it cannot merge stops, and changes nothing.
    unmergeable = '{"registry-mirrors": [1]}'
    live.sh("client", f"echo '{unmergeable}' | sudo tee /etc/docker/daemon.json >/dev/null")
    engine_pid = live.sh("client", "cat /var/run/docker.pid")
    rerun = live.backend.exec("client", "/lab/provision/client.sh", 300)
    assert rerun.exit_code != 0, rerun.output
    assert rerun.stderr.strip().splitlines() == [
        'labgen-node: error: /etc/docker/daemon.json: "registry-mirrors" holds an entry that is '
        "not a string; fix that, then run again (/etc/docker/daemon.json was left untouched)"
    ]
    assert live.sh("client", "cat /etc/docker/daemon.json") == unmergeable + "\n"
    left = live.sh("client", "ls -A /etc/docker").split()
    assert "daemon.json" in left and not [n for n in left if n.startswith("daemon.json.")]
    assert live.sh("client", "cat /var/run/docker.pid") == engine_pid  # not restarted

    # With the registry host's engine stopped, auto mode stops instead of replaying the
    # tutorial over the student's work.
    live.sh("registry", "sudo systemctl stop docker")
    code, out, err = live.labgen("check")
    assert code == 1, err + out
    assert err.strip().splitlines()[-1] == (
        "labgen: error: check --mode auto: the registry host registry answered, but its Docker "
        "engine did not, so it is not known to be a fresh lab; bring it up (labgen status "
        "shows it), or choose --mode grade or solve"
    )
    assert "pull-registry-image" not in out


def test_solved_lab_is_done_by_provisioning_and_provisioning_is_idempotent(
    make_lab, tmp_path: Path
) -> None:
    # With a podman client: solved mode works on every engine.
    spec = tmp_path / "solved.yaml"
    spec.write_text("name: solved-lab\nmode: solved\n" + PODMAN_LAB)
    live = make_lab(str(spec))
    # Provisioning did every step: the lab grades green without anyone touching it.
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 0, err + out
    assert ("registries-conf-insecure", "podclient") in {
        (r["id"], r["host"]) for r in json.loads(out)["results"]
    }

    configs = {
        "registry": "/etc/docker/daemon.json",
        "client": "/etc/docker/daemon.json",
        "podclient": "/etc/containers/registries.conf",
    }

    def digests() -> dict[str, str]:
        return {
            h: hashlib.sha256(live.sh(h, f"cat {path}").encode()).hexdigest()
            for h, path in configs.items()
        }

    before = digests()
    started = live.sh("registry", "docker inspect -f '{{.State.StartedAt}}' registry")
    for host in configs:
        rerun = live.backend.exec(host, f"/lab/provision/{host}.sh", 300)
        assert rerun.exit_code == 0, rerun.output
        assert "already done" in rerun.stderr
    assert digests() == before
    # Nothing was restarted: the registry container still runs since the same moment.
    assert live.sh("registry", "docker inspect -f '{{.State.StartedAt}}' registry") == started
    # Debian's registries.conf (comments only) was kept: the table was appended to it.
    conf = live.sh("podclient", "cat /etc/containers/registries.conf")
    assert conf.endswith('\n[[registry]]\nlocation = "192.168.56.101:5000"\ninsecure = true\n')
    assert conf.count("\n") > 70


def test_registries_conf_merge_keeps_the_rest_and_never_loses_a_file(make_lab) -> None:
    """`labgen-node registries-conf add-insecure` with the real podman parsing the files."""
    live = make_lab(spec=PODMAN_LAB)
    add = "LABGEN_REGISTRIES_CONF=/tmp/r.conf labgen-node registries-conf add-insecure 192.168.56.101:5000"
    # A table for the location gains insecure = true; other tables and lines stay; mode kept.
    live.sh(
        "podclient",
        "printf '%s\\n' '# mine' '[[registry]]' 'location = \"192.168.56.101:5000\"' "
        "'insecure = false' '[[registry.mirror]]' 'location = \"m:1\"' '' '[[registry]]' "
        "'location = \"other:1\"' 'insecure = false' >/tmp/r.conf && chmod 600 /tmp/r.conf",
    )
    assert live.sh("podclient", add).strip() == "changed"
    assert live.sh("podclient", "cat /tmp/r.conf; stat -c %a /tmp/r.conf").splitlines() == [
        "# mine",
        "[[registry]]",
        'location = "192.168.56.101:5000"',
        "insecure = true",
        "[[registry.mirror]]",
        'location = "m:1"',
        "",
        "[[registry]]",
        'location = "other:1"',
        "insecure = false",
        "600",
    ]
    assert live.sh("podclient", add).strip() == "unchanged"
    # remove-insecure drops only that table's insecure line (part 2 from part 1).
    remove = add.replace("add-insecure", "remove-insecure")
    assert live.sh("podclient", remove).strip() == "changed"
    assert live.sh("podclient", "cat /tmp/r.conf").splitlines() == [
        "# mine",
        "[[registry]]",
        'location = "192.168.56.101:5000"',
        "[[registry.mirror]]",
        'location = "m:1"',
        "",
        "[[registry]]",
        'location = "other:1"',
        "insecure = false",
    ]
    assert live.sh("podclient", remove).strip() == "unchanged"
    # A file podman cannot parse stops the tool, with podman's reason, byte-identical.
    live.sh(
        "podclient",
        "printf '[[registry]\\nlocation = 1\\n' >/tmp/r.conf; cp /tmp/r.conf /tmp/r.orig",
    )
    broken = live.backend.exec("podclient", add, 120)
    assert broken.exit_code == 1
    assert "podman cannot read /tmp/r.conf (" in broken.stderr
    assert "(/tmp/r.conf was left untouched)" in broken.stderr
    live.sh("podclient", "cmp /tmp/r.conf /tmp/r.orig && ! ls /tmp/r.conf.* 2>/dev/null")
    # The post's form, with a scheme: the tool says why podman would refuse it.
    schemed = live.backend.exec("podclient", add.replace(" 192.", " http://192."), 120)
    assert schemed.exit_code == 1
    assert "'http://192.168.56.101:5000' has a scheme, and podman refuses" in schemed.stderr

    # A student who wrote that location by hand: podman reads no configuration at all, and
    # grading passes on podman's reason instead of asking for a table they already have.
    live.sh(
        "podclient",
        "printf '[[registry]]\\nlocation = \"http://192.168.56.101:5000\"\\ninsecure = true\\n' "
        "| sudo tee -a /etc/containers/registries.conf >/dev/null",
    )
    info = live.backend.exec("podclient", "podman info", 120)
    assert info.exit_code != 0 and "URI schemes are not supported" in info.output
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 1, err + out
    goal = next(
        r
        for r in json.loads(out)["results"]
        if (r["id"], r["host"]) == ("registries-conf-insecure", "podclient")
    )
    assert goal["status"] == "fail"
    assert (
        "podman cannot read its configuration: getting registries: loading registries "
        'configuration "/etc/containers/registries.conf": invalid location '
        "'http://192.168.56.101:5000': URI schemes are not supported"
    ) in goal["excerpt"]


def test_dead_registry_leaves_its_step_unknown_within_the_timeout(make_lab) -> None:
    live = make_lab()
    timeout = 10.0
    scenario = load_scenario(live.lab.spec)

    def freeze_registry(step: str, host: str, index: int, total: int) -> None:
        if step == "pull-lan-final":
            # A frozen registry accepts connections and never answers: the worst case.
            live.sh("registry", "docker pause registry")

    results: list[CheckResult] = []
    started = time.monotonic()
    report = runner.solve(live.backend, scenario, "e2e", timeout, freeze_registry, results.append)
    elapsed = time.monotonic() - started
    final = next(r for r in report.results if r.id == "pull-lan-final")
    # A timeout says nothing about the lab: the step could not be checked, not failed.
    assert final.status == "unknown"
    assert final.detail.startswith("could not be checked: no answer within 10 s; ")
    assert final.duration < timeout + 5
    assert not report.ok
    assert elapsed < 120


def test_a_stopped_node_is_unknown_never_failed(make_lab) -> None:
    """`docker compose exec` cannot enter a stopped node: each of its goals is UNKNOWN,
    with compose's own reason, and the other host is graded as it is."""
    live = make_lab()
    done = run_process(live.backend._compose("stop", "client"), 120)
    assert done.exit_code == 0, done.output
    code, out, err = live.labgen("check", "--mode", "grade", "--json")
    assert code == 1, err + out
    report = json.loads(out)
    client = [r for r in report["results"] if r["host"] == "client"]
    registry = [r for r in report["results"] if r["host"] == "registry"]
    assert client and {r["status"] for r in client} == {"unknown"}
    for result in client:
        assert result["detail"].startswith(
            "could not be checked: docker compose exec could not run the command on client "
        ), result["detail"]
        assert "is not running" in result["detail"], result["detail"]
    assert registry and "unknown" not in {r["status"] for r in registry}
    code, out, _ = live.labgen("check", "--mode", "grade")
    assert "UNKNOWN (not checked)" in out and "could not be checked" in out.splitlines()[-1]


def test_run_takes_the_lab_down_when_a_step_fails(engine: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    spec = tmp_path / "broken.yaml"
    # An image the mirror does not have: the very first step fails.
    spec.write_text(f"name: broken-lab\nmirror: {MIRROR}\nregistry: {{image: 'registry:404'}}\n")
    assert labgen(engine, "create", str(spec), "--out", str(folder), cwd=tmp_path).returncode == 0
    done = labgen(engine, "run", str(folder), "--runtime", RUNTIME, "--timeout", "60", cwd=tmp_path)
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "pull-registry-image" in done.stdout
    assert "lab broken-lab is down" in done.stderr
    left = labgen(engine, "status", str(folder), "--backend", "compose", cwd=tmp_path)
    assert "not created" in left.stdout
