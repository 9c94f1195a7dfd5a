"""The pod backend's kubectl command lines, exactly, and what goes to kubectl on stdin.

A scripted runner stands in for kubectl here and records each call; the end-to-end test
runs the same calls against a kubectl stand-in on the sandbox engine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from labgen.backends.base import END, ExecResult, wrap
from labgen.backends.box import BoxSpec
from labgen.backends.pod import (
    Kubectl,
    PodBox,
    apply_class,
    delete_class,
    labelled_students,
    pod_state,
)
from labgen.errors import LabgenError
from labgen.kube import manifests as m
from labgen.render.plan import plan_lab
from labgen.render.write import write_lab
from labgen.spec.model import LabSpec

CLUSTER = m.ClassCluster(
    name="ws",
    namespace="labgen-ws",
    image="registry.example.org/labgen/labbox:trixie",
    lab_gateway="192.168.56.1",
    lab_files=(m.LabFile("docker-compose.yml", "services: {}\n"),),
)
SEAT = m.PodSeat("alice", 30001, "alice:s3cret-alice\n")
RUNNING = json.dumps(
    {"status": {"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]}}
)


class ScriptedKubectl:
    """Answers each call by the first rule whose words all appear in the argv."""

    def __init__(self, rules: list[tuple[tuple[str, ...], ExecResult]]) -> None:
        self.rules = rules
        self.calls: list[tuple[list[str], str]] = []

    def __call__(
        self, argv: Sequence[str], timeout: float, *, stdin: str | None = None
    ) -> ExecResult:
        self.calls.append((list(argv), stdin or ""))
        for words, result in self.rules:
            if all(word in argv for word in words):
                return result
        return ExecResult(0, "", "", 0.0)


def ok(stdout: str = "") -> ExecResult:
    return ExecResult(0, stdout, f"{END} 0\n", 0.0)


@pytest.fixture
def spec(tmp_path: Path) -> BoxSpec:
    """alice's box spec, with the default lab rendered."""
    write_lab(plan_lab(LabSpec(), "compose"), tmp_path / "lab", force=False)
    return BoxSpec("ws", "alice", 30001, "alice:s3cret-alice\n", tmp_path / "lab")


def pod_box(spec: BoxSpec, run: ScriptedKubectl, cluster: m.ClassCluster = CLUSTER) -> PodBox:
    return PodBox(spec, Kubectl("labgen-ws"), cluster, "lab.example.org", poll=0, run=run)


def test_every_argv() -> None:
    kubectl = Kubectl("labgen-ws", context="teacher@cluster")
    base = ["kubectl", "--context", "teacher@cluster", "--namespace", "labgen-ws"]
    assert kubectl.apply() == [*base, "apply", "--filename", "-"]
    assert kubectl.get_pod("labgen-ws-alice-0") == [
        *base,
        *("get", "pod", "labgen-ws-alice-0", "--output", "json"),
    ]
    assert kubectl.exec("labgen-ws-alice-0", ["sh"]) == [
        *base,
        *("exec", "--stdin", "labgen-ws-alice-0", "--container", "box", "--", "sh"),
    ]
    assert kubectl.statefulsets("ws") == [
        *base,
        *("get", "statefulset", "--selector", "labgen.class=ws", "--output", "json"),
    ]
    assert kubectl.logs("p-0") == [*base, "logs", "p-0", "--container", "box", "--tail", "5"]
    assert kubectl.delete("statefulset", "a=b") == [
        *base,
        *("delete", "statefulset", "--selector", "a=b", "--ignore-not-found"),
        *("--wait", "--timeout", "300s"),
    ]
    # Without a context, kubectl's current one.
    assert Kubectl("ns").apply() == ["kubectl", "--namespace", "ns", "apply", "--filename", "-"]


def test_up_applies_on_stdin_and_waits_for_every_node(spec: BoxSpec) -> None:
    run = ScriptedKubectl([(("get", "pod"), ok(RUNNING))])
    box = pod_box(spec, run)
    lines: list[str] = []
    box.up(lines.append)
    applied, documents = run.calls[0]
    assert applied == ["kubectl", "--namespace", "labgen-ws", "apply", "--filename", "-"]
    kinds = [doc["kind"] for doc in yaml.safe_load_all(documents)]
    assert kinds == ["Secret", "Service", "StatefulSet"]
    # The password went on stdin only, never into an argv.
    assert "s3cret-alice" in documents
    assert all("s3cret-alice" not in " ".join(argv) for argv, _ in run.calls)
    # Then: the pod, the box's ready file, each node's engine, through kubectl exec.
    node_calls = [
        (argv, stdin) for argv, stdin in run.calls if "docker" in argv and "exec" in argv[5:]
    ]
    assert [argv[-3:] for argv, _ in node_calls] == [
        ["--interactive", "registry-lab-registry-1", "sh"],
        ["--interactive", "registry-lab-client-1", "sh"],
    ]
    assert all("test -f /run/labgen/provisioned" in stdin for _, stdin in node_calls)
    assert all("s3cret-alice" not in stdin for _, stdin in node_calls)
    assert lines[-1].startswith("every node's engine answers")


def test_exec_sends_the_command_on_stdin(spec: BoxSpec) -> None:
    run = ScriptedKubectl([])
    box = pod_box(spec, run)
    box.exec("client", "docker login -p secret 192.168.56.101:5000", 30)
    argv, stdin = run.calls[0]
    assert argv == [
        *("kubectl", "--namespace", "labgen-ws", "exec", "--stdin", "labgen-ws-alice-0"),
        *("--container", "box", "--", "docker", "exec", "--interactive"),
        *("registry-lab-client-1", "sh"),
    ]
    assert stdin == wrap("docker login -p secret 192.168.56.101:5000")


def test_a_pod_still_starting_is_waited_for_without_entering_it(spec: BoxSpec) -> None:
    creating = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}],
        }
    }
    answers = [ok(json.dumps(creating)), ok(json.dumps(creating)), ok(RUNNING)]

    class Starting(ScriptedKubectl):
        def __call__(
            self, argv: Sequence[str], timeout: float, *, stdin: str | None = None
        ) -> ExecResult:
            if "get" in argv and "pod" in argv:
                self.calls.append((list(argv), stdin or ""))
                return answers.pop(0) if len(answers) > 1 else answers[0]
            return super().__call__(argv, timeout, stdin=stdin)

    run = Starting([])
    lines: list[str] = []
    pod_box(spec, run).up(lines.append)
    kinds = [
        "get" if "get" in argv else "exec" if "exec" in argv else argv[3] for argv, _ in run.calls
    ]
    # apply, two polls of a pod still being created (no kubectl exec), then the box and nodes.
    assert kinds[:4] == ["apply", "get", "get", "get"] and set(kinds[4:]) == {"exec"}, kinds
    assert lines[1:] == [
        "waiting for the pod's engine and lab",
        lines[-1],
    ] and lines[-1].startswith("every node's engine answers")


def test_up_stops_on_a_pod_that_cannot_start(spec: BoxSpec) -> None:
    pulling = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff"}}}],
        }
    }
    run = ScriptedKubectl([(("get", "pod"), ok(json.dumps(pulling)))])
    box = pod_box(spec, run)
    with pytest.raises(
        LabgenError, match=r"alice: pod labgen-ws-alice-0 is failed \(ImagePullBackOff\)"
    ):
        box.up(lambda _: None)


def test_a_failed_lab_in_the_box_is_reported(spec: BoxSpec) -> None:
    failed = ExecResult(3, "docker compose up failed: no space left on device\n", "", 0.0)
    run = ScriptedKubectl([(("get", "pod"), ok(RUNNING)), (("--", "sh", "-s"), failed)])
    box = pod_box(spec, run)
    with pytest.raises(LabgenError, match="alice: docker compose up failed: no space left"):
        box.up(lambda _: None)


def test_down_deletes_by_label(spec: BoxSpec) -> None:
    run = ScriptedKubectl([])
    pod_box(spec, run).down(lambda _: None)
    assert run.calls == [
        (
            [
                *("kubectl", "--namespace", "labgen-ws", "delete"),
                "statefulset,service,secret,persistentvolumeclaim",
                *("--selector", "labgen.class=ws,labgen.student=alice"),
                *("--ignore-not-found", "--wait", "--timeout", "300s"),
            ],
            "",
        )
    ]


def test_the_class_is_applied_first_and_deleted_last() -> None:
    run = ScriptedKubectl([])
    apply_class(Kubectl("labgen-ws"), CLUSTER, 3, run)
    kinds = [doc["kind"] for doc in yaml.safe_load_all(run.calls[0][1])]
    assert kinds[0] == "Namespace"
    assert sorted(kinds[1:]) == [
        "LimitRange",
        "NetworkPolicy",
        "NetworkPolicy",
        "ResourceQuota",
        "Secret",
    ]
    run.calls.clear()
    delete_class(Kubectl("labgen-ws"), CLUSTER, run)
    assert [argv[3:5] for argv, _ in run.calls] == [
        ["delete", "networkpolicy,resourcequota,limitrange,secret"],
        ["delete", "namespace"],
    ]
    assert all(argv[argv.index("--selector") + 1] == "labgen.class=ws" for argv, _ in run.calls)


def test_a_missing_pod_is_not_created(spec: BoxSpec) -> None:
    missing = ExecResult(
        1, "", 'Error from server (NotFound): pods "labgen-ws-alice-0" not found', 0
    )
    run = ScriptedKubectl([(("get", "pod"), missing)])
    box = pod_box(spec, run)
    assert box.state() == "not created"
    assert [s.state for s in box.status()] == ["not created", "not created"]


def test_pod_states() -> None:
    assert pod_state(RUNNING) == "running"
    creating = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}],
        }
    }
    assert pod_state(json.dumps(creating)) == "pending (ContainerCreating)"
    assert pod_state(json.dumps({"status": {"phase": "Pending"}})) == "pending"


def test_students_with_pods_are_read_from_their_labels() -> None:
    listed = {
        "items": [
            {"metadata": {"labels": {"labgen.class": "ws", "labgen.student": "alice"}}},
            {"metadata": {"labels": {"labgen.class": "ws", "labgen.student": "zed"}}},
        ]
    }
    run = ScriptedKubectl([(("get", "statefulset"), ok(json.dumps(listed)))])
    assert labelled_students(Kubectl("labgen-ws"), "ws", run) == {"alice", "zed"}


def test_a_pod_that_cannot_be_entered_is_an_error_not_a_failed_command(spec: BoxSpec) -> None:
    gone = ExecResult(1, "", 'Error from server (NotFound): pods "labgen-ws-alice-0" not found', 0)
    failed = ExecResult(1, "", f"@labgen-start\nno such image\n{END} 1\n", 0)
    for answer, error in ((gone, True), (failed, False)):
        box = pod_box(spec, ScriptedKubectl([(("exec",), answer)]))
        result = box.exec("client", "docker pull 192.168.56.101:5000/nginx", 30)
        assert result.exit_code == 1
        assert bool(result.error) is error, result
        if error:
            assert result.error.startswith("kubectl exec (pod labgen-ws-alice-0) could not run")
