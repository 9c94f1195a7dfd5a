"""A hosted class on Kubernetes, proven as far as this machine allows: no cluster runs here.

1. The pod is the box: the `docker run` of alice's pod is derived from the generated
   StatefulSet (image, env, privileged, limits, the claim, the Secret volumes laid out
   as a kubelet lays them out, the NodePort) by pod_to_docker.py and started on the
   sandbox engine; alice then works through the tutorial over SSH through that port
   with her password, as her handout says, and grading passes every goal: the same
   checks as the local hosted class (test_class_hosted.py).
2. labgen's kubernetes path of class up, check, status and down runs against a kubectl
   STAND-IN (kubectl_standin.py) that does each kubectl command line on the sandbox
   engine: `kubectl exec POD -c box -- CMD` as `docker exec POD CMD`, apply as the
   derived `docker run`, delete by label as `docker rm`/`volume rm`.

What this machine needs and a cluster does not (an OCI runtime wrapper for privileged
containers, see sandbox/labgen-runc) is passed as pod_to_docker.MachineExtras, apart
from the pod. SSH goes to 127.0.0.1 inside the sandbox's network namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import MIRROR, RUNTIME, SANDBOX_NETNS, SOLVE_STATUSES, StudentShell, labgen
from pod_to_docker import MachineExtras, docker_run
from test_class_hosted import BOB_FAILS, docker, failing

from helpers import REPO_ROOT, tool_or_skip
from labgen.backends.base import ExecResult
from labgen.backends.compose import runtime_override
from labgen.backends.pod import PodBox
from labgen.check import runner
from labgen.classroom.boxes import box_for, box_spec
from labgen.classroom.kubernetes import write_manifests
from labgen.classroom.model import Class, Seat, open_class
from labgen.lab import open_lab
from labgen.steps.scenario import load_scenario

pytestmark = pytest.mark.e2e

CLASS = "k8s"
STANDIN = Path(__file__).resolve().parent / "kubectl_standin.py"


@pytest.fixture(scope="module")
def labbox_image(engine: dict[str, str]) -> dict[str, str]:
    subprocess.run(["bash", str(REPO_ROOT / "sandbox/images.sh"), "labbox"], check=True, env=engine)
    return engine


def make_class(tmp_path: Path, students: list[str]) -> Path:
    """`labgen class create` of a kubernetes class whose pods pull labgen/labbox:SUITE (the
    registry 'labgen': the sandbox engine's own image)."""
    raw = {
        "name": CLASS,
        "delivery": "hosted",
        "students": students,
        "lab": {"mirror": MIRROR},
        "hosted": {
            "server": "127.0.0.1",
            "ssh_ports": "30201-30210",
            "platform": "kubernetes",
            "kubernetes": {"registry": "labgen"},
        },
    }
    spec = tmp_path / "class-spec.yaml"
    spec.write_text(json.dumps(raw), encoding="utf-8")
    folder = tmp_path / "class"
    done = labgen(
        dict(os.environ), "class", "create", str(spec), "--out", str(folder), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return folder


def seat(cls: Class, student: str) -> Seat:
    return next(s for s in cls.seats if s.student == student)


def extras(class_dir: Path, tmp_path: Path) -> MachineExtras:
    override = runtime_override(open_lab(class_dir / "lab"), RUNTIME)
    return MachineExtras(
        RUNTIME, REPO_ROOT / "sandbox/labgen-runc", {".labgen/compose.runtime.yml": override}
    )


class PodContainer:
    """The pod's box container, reached as the pod backend reaches it, without kubectl."""

    name = "pod-container"

    def __init__(self, pod: str, project: str) -> None:
        self.pod = pod
        self.project = project

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        node = f"{self.project}-{host}-1"
        argv = ["docker", "exec", "-i", self.pod, "docker", "exec", "-i", node, "sh"]
        start = time.monotonic()
        done = subprocess.run(
            argv, input=command, capture_output=True, text=True, timeout=timeout, check=False
        )
        return ExecResult(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def wait_ready(pod: str, limit: float = 600) -> None:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        done = subprocess.run(
            [
                "docker",
                "exec",
                pod,
                "sh",
                "-c",
                "test -f /run/labbox/ready || cat /run/labbox/failed",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.stdout == "", done.stdout
        if done.returncode == 0:
            return
        time.sleep(2)
    pytest.fail(f"{pod} not ready after {limit} s")


@pytest.fixture
def engine_env(labbox_image: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in labbox_image.items():
        monkeypatch.setenv(key, value)
    return labbox_image


def remove_class_leftovers() -> None:
    label = f"label=labgen.class={CLASS}"
    for listing, removal in (
        (["ps", "--all", "--quiet"], ["rm", "--force"]),
        (["volume", "ls", "--quiet"], ["volume", "rm", "--force"]),
    ):
        found = docker(*listing, "--filter", label).split()
        if found:
            docker(*removal, *found)


def test_the_pods_container_runs_the_lab(
    engine_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool_or_skip("sshpass")
    class_dir = make_class(tmp_path, ["alice", "bob"])
    cls = open_class(class_dir)
    out = tmp_path / "manifests"
    write_manifests(cls, [box_spec(cls, s) for s in cls.seats], out, force=False)
    objects: list[dict[str, Any]] = [
        doc
        for path in sorted(out.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc.get("kind") in ("Secret", "Service", "StatefulSet")
    ]
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    services = [o for o in objects if o["kind"] == "Service"]
    (statefulset,) = [
        o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"].endswith("alice")
    ]
    creates, run = docker_run(
        statefulset, secrets, services, tmp_path / "volumes", extras(class_dir, tmp_path)
    )
    pod = "labgen-k8s-alice-0"
    assert run[run.index("--name") + 1] == pod
    # What the pod spec says, as docker run says it (extras apart).
    assert "--privileged" in run and run[-1] == "labgen/labbox:trixie"
    assert run[run.index("--cpus") + 1] == "1"
    assert run[run.index("--memory") + 1] == str(768 * 2**20)
    assert run[run.index("--publish") + 1] == "30201:22"
    try:
        for create in creates:
            subprocess.run(create, check=True, capture_output=True)
        subprocess.run(run, check=True, capture_output=True)
        wait_ready(pod)

        # Limits as the pod asks, and the lab's nodes inside them (their cgroups nest in the box's).
        limits = docker(
            "inspect",
            "-f",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} "
            "{{.HostConfig.CpuShares}}",
            pod,
        )
        assert limits.split() == ["1000000000", str(768 * 2**20), str(768 * 2**20), "256"]
        lab = open_lab(class_dir / "lab")
        box = PodContainer(pod, lab.spec.name)
        box_id = docker("inspect", "-f", "{{.Id}}", pod).strip()
        cgroups = box.exec("registry", "cat /proc/1/cgroup", 30).stdout
        limited = [line for line in cgroups.splitlines() if ":memory:" in line]
        assert limited and all(box_id in line for line in limited), cgroups
        # The account came from the Secret, as a file: alice's password opens, bob's not.
        alice = seat(cls, "alice")
        assert alice.ssh_port == 30201
        assert StudentShell(alice, netns=SANDBOX_NETNS).login("true").exit_code == 0
        assert (
            StudentShell(alice, seat(cls, "bob").password, netns=SANDBOX_NETNS)
            .login("true")
            .exit_code
            != 0
        )
        # Not on the box's command line nor in its environment.
        assert alice.password not in docker("inspect", pod)

        # alice: the whole tutorial over SSH through the NodePort, judged by the checker.
        scenario = load_scenario(lab.spec)
        solved = runner.solve(
            StudentShell(alice, netns=SANDBOX_NETNS),
            scenario,
            "alice",
            180,
            lambda *_: None,
            lambda _: None,
        )
        assert solved.ok, [(r.id, r.host, r.status, r.excerpt) for r in solved.results]
        assert {
            (r.id, r.host): r.status for r in solved.results if r.status != "pass"
        } == SOLVE_STATUSES
        graded = runner.grade(box, scenario, "alice", 60, lambda *_: None, lambda _: None)
        assert failing(graded) == set()
        catalog = "curl -sS --max-time 5 http://192.168.56.101:5000/v2/_catalog"
        assert "nginx" in box.exec("client", catalog, 30).stdout
    finally:
        remove_class_leftovers()


@pytest.fixture
def standin_kubectl(
    engine_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """`kubectl` on PATH is the stand-in, on the sandbox engine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    kubectl.chmod(0o755)
    state = tmp_path / "standin-state"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("LABGEN_KUBECTL_STANDIN_STATE", str(state))
    monkeypatch.setenv("LABGEN_STANDIN_RUNTIME", f"{RUNTIME}={REPO_ROOT / 'sandbox/labgen-runc'}")
    return state


def test_up_check_down_through_a_kubectl_standin(
    standin_kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`labgen class up|check|status|down` on a kubernetes class, with `kubectl` on PATH
    being the stand-in."""
    class_dir = make_class(tmp_path, ["alice", "bob"])
    override = tmp_path / "compose.runtime.yml"
    override.write_text(runtime_override(open_lab(class_dir / "lab"), RUNTIME))
    monkeypatch.setenv("LABGEN_STANDIN_LAB_OVERRIDE", str(override))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return labgen(dict(os.environ), "class", *args, str(class_dir), cwd=tmp_path)

    cls = open_class(class_dir)
    alice, bob = (box_for(cls, s) for s in cls.seats)
    assert isinstance(alice, PodBox) and isinstance(bob, PodBox)
    try:
        up = cli("up", "--jobs", "2")
        assert up.returncode == 0, up.stderr
        assert "every node's engine answers" in up.stderr
        # alice works through the tutorial (through kubectl exec), bob through its first half.
        scenario = load_scenario(cls.lab)
        solved = runner.solve(alice, scenario, "alice", 180, lambda *_: None, lambda _: None)
        assert solved.ok, [(r.id, r.host, r.status, r.excerpt) for r in solved.results]
        for step in scenario.steps[:5]:
            done = bob.exec(step.hosts[0].name, step.run, 120)
            assert done.exit_code == 0, (step.id, done.output)

        # A pod that goes away comes back on its claim: up again, bob's work survives.
        docker("rm", "--force", bob.pod)
        assert bob.state() == "not created"
        up = cli("up", "--jobs", "2")
        assert up.returncode == 0, up.stderr

        # class check grades through kubectl exec, and the report shows the matrix.
        check = cli("check", "--jobs", "2")
        assert check.returncode == 0, check.stderr
        assert cli("report").returncode == 0
        matrix = json.loads((class_dir / "report.json").read_text(encoding="utf-8"))
        not_done = {
            row["id"]: {goal for goal, cell in row["goals"].items() if cell["state"] != "done"}
            for row in matrix["students"]
        }
        assert not_done == {"alice": set(), "bob": {goal for goal, _ in BOB_FAILS}}
        status = cli("status")
        assert status.returncode == 0, status.stderr

        # down deletes by label: no container, volume or object of the class is left.
        down = cli("down")
        assert down.returncode == 0, down.stderr
        label = f"label=labgen.class={CLASS}"
        assert docker("ps", "--all", "--quiet", "--filter", label) == ""
        assert docker("volume", "ls", "--quiet", "--filter", label) == ""
        assert sorted(p.name for p in (standin_kubectl / "objects").rglob("*.json")) == []
    finally:
        remove_class_leftovers()
