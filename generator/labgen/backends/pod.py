"""A student's lab box as a pod on the teacher's Kubernetes cluster, through their kubectl.

labgen holds no cluster credentials: every call runs the teacher's own `kubectl`, with
the kubeconfig kubectl finds (KUBECONFIG, ~/.kube/config) and the context the class names
(else kubectl's current one). Every argv is built by `Kubectl`, in one place. Objects go
to `kubectl apply` on stdin and commands to the box's shell on stdin too, so neither a
password nor a step's text ever shows on a command line.

The pod runs the same box as on Docker (`labgen.kube.manifests`): the checker reaches a
lab host as `kubectl exec --stdin POD -c box -- docker exec -i NODE sh`, the command on
stdin, wrapped so that a way in that failed is told from a command that failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from labgen.backends.base import (
    ExecResult,
    HostStatus,
    Progress,
    host_statuses,
    last_line,
    run_process,
    unwrap,
    wrap,
)
from labgen.backends.box import CLASS_LABEL, STUDENT_LABEL, BoxSpec
from labgen.backends.labbox import (
    BOX_READY,
    COMPOSE_UP,
    LabWait,
    node_states,
    repair_nodes,
    wait_for_lab,
)
from labgen.errors import LabgenError
from labgen.kube.manifests import (
    BOX_CONTAINER,
    ClassCluster,
    PodSeat,
    account_secret,
    class_objects,
    lab_secret,
    object_name,
    pod_name,
    student_objects,
    to_yaml,
)
from labgen.lab import open_lab

# What kubectl deletes for a student, and for the class once its students are gone.
STUDENT_KINDS = "statefulset,service,secret,persistentvolumeclaim"
CLASS_KINDS = "networkpolicy,resourcequota,limitrange,secret"
# A box container waiting for one of these will not start without the teacher's help.
GIVE_UP = ("CrashLoopBackOff", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError")


class Runner(Protocol):
    """How a command is run (`run_process`; tests script it)."""

    def __call__(
        self, argv: Sequence[str], timeout: float, *, stdin: str | None = None
    ) -> ExecResult: ...


@dataclass(frozen=True)
class Kubectl:
    """The teacher's kubectl, in the class's namespace: every argv labgen runs."""

    namespace: str
    context: str | None = None
    program: str = "kubectl"

    def _argv(self, *args: str) -> list[str]:
        context = ["--context", self.context] if self.context else []
        return [self.program, *context, "--namespace", self.namespace, *args]

    def apply(self) -> list[str]:
        """Objects read from stdin, created or brought up to date."""
        return self._argv("apply", "--filename", "-")

    def get_pod(self, pod: str) -> list[str]:
        return self._argv("get", "pod", pod, "--output", "json")

    def get_service(self, service: str) -> list[str]:
        return self._argv("get", "service", service, "--output", "json")

    def statefulsets(self, class_name: str) -> list[str]:
        """The class's StatefulSets (one per student's pod), as JSON."""
        return self._argv(
            "get", "statefulset", "--selector", f"{CLASS_LABEL}={class_name}", "--output", "json"
        )

    def exec(self, pod: str, command: Sequence[str]) -> list[str]:
        """`command` in the box container, its stdin passed through."""
        return self._argv("exec", "--stdin", pod, "--container", BOX_CONTAINER, "--", *command)

    def logs(self, pod: str) -> list[str]:
        return self._argv("logs", pod, "--container", BOX_CONTAINER, "--tail", "5")

    def delete(self, kinds: str, selector: str) -> list[str]:
        return self._argv(
            "delete",
            kinds,
            "--selector",
            selector,
            "--ignore-not-found",
            "--wait",
            "--timeout",
            "300s",
        )


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


def apply_class(kubectl: Kubectl, cluster: ClassCluster, students: int, run: Runner) -> None:
    """What the class's pods need first: the namespace, its quota, limits and network
    policies, and the lab."""
    documents = to_yaml([*class_objects(cluster, students), lab_secret(cluster)])
    done = run(kubectl.apply(), 120, stdin=documents)
    if done.exit_code != 0:
        raise LabgenError(f"kubectl apply (class {cluster.name}) failed: {last_line(done.output)}")


def delete_class(kubectl: Kubectl, cluster: ClassCluster, run: Runner) -> None:
    """The class-wide objects, then the namespace, if labgen made it (its label says so)."""
    labels = selector({CLASS_LABEL: cluster.name})
    for argv in (kubectl.delete(CLASS_KINDS, labels), kubectl.delete("namespace", labels)):
        done = run(argv, 320)
        if done.exit_code != 0:
            raise LabgenError(
                f"kubectl delete (class {cluster.name}) failed: {last_line(done.output)}"
            )


def labelled_students(kubectl: Kubectl, class_name: str, run: Runner) -> set[str]:
    """Every student who has a pod (a StatefulSet) of the class, on the roster or not."""
    done = run(kubectl.statefulsets(class_name), 60)
    if done.exit_code != 0:
        raise LabgenError(
            f"kubectl get statefulset (class {class_name}) failed: {last_line(done.output)}"
        )
    items = json.loads(done.stdout).get("items", [])
    return {item["metadata"]["labels"][STUDENT_LABEL] for item in items}


class PodBox:
    """One student's lab box as a pod: the Box interface, through the teacher's kubectl.
    `server`: where a NodePort is reached (any node; the class's `hosted.server`)."""

    name = "pod"

    def __init__(
        self,
        spec: BoxSpec,
        kubectl: Kubectl,
        cluster: ClassCluster,
        server: str,
        *,
        ready_timeout: float = 600.0,
        poll: float = 2.0,
        run: Runner = run_process,
    ) -> None:
        self.spec = spec
        self.kubectl = kubectl
        self.cluster = cluster
        self.server = server
        self.lab = open_lab(spec.lab).spec
        self.ready_timeout = ready_timeout
        self.poll = poll
        self.run = run
        self.seat = PodSeat(spec.student, spec.ssh_port, spec.account)
        self.pod = pod_name(cluster.name, spec.student)

    def _kubectl(
        self, argv: list[str], timeout: float = 120, stdin: str | None = None
    ) -> ExecResult:
        return self.run(argv, timeout, stdin=stdin)

    def state(self) -> str:
        """The pod as kubectl shows it: running, pending (and why), failed (why), or "not created"."""
        done = self._kubectl(self.kubectl.get_pod(self.pod), 60)
        if done.exit_code != 0:
            if "NotFound" in done.output or "not found" in done.output:
                return "not created"
            return f"unknown (kubectl: {last_line(done.output)})"
        return pod_state(done.stdout)

    def address(self) -> tuple[str, int]:
        """nodeport: the server (any node) and the seat's port; loadbalancer: the Service's
        address as the cloud gave it; none: the Service inside the cluster."""
        if self.cluster.ssh == "nodeport":
            return self.server, self.spec.ssh_port
        service = object_name(self.cluster.name, self.spec.student)
        if self.cluster.ssh == "none":
            return f"{service}.{self.cluster.namespace}.svc", 22
        done = self._kubectl(self.kubectl.get_service(service), 60)
        ingress = []
        if done.exit_code == 0:
            status = json.loads(done.stdout).get("status", {})
            ingress = status.get("loadBalancer", {}).get("ingress", [])
        if not ingress:
            return "(no load balancer address yet)", self.spec.ssh_port
        return ingress[0].get("ip") or ingress[0].get("hostname", ""), self.spec.ssh_port

    # ------------------------------------------------------------------ up
    def up(self, progress: Progress) -> None:
        """Apply the student's objects (kubectl apply changes only what differs), then wait
        for the pod, the box's lab and every node's engine."""
        progress(f"applying pod {self.pod} (ssh port {self.spec.ssh_port})")
        documents = to_yaml(
            [account_secret(self.cluster, self.seat), *student_objects(self.cluster, self.seat)]
        )
        done = self._kubectl(self.kubectl.apply(), 120, documents)
        if done.exit_code != 0:
            raise LabgenError(
                f"{self.spec.student}: kubectl apply failed: {last_line(done.output)}"
            )
        self._wait_ready(progress)

    def _wait_ready(self, progress: Progress) -> None:
        state = ""

        def gone() -> str | None:
            nonlocal state
            state = self.state()
            if not state.startswith("failed"):
                return None  # running, or still being scheduled and started: wait
            logs = self._kubectl(self.kubectl.logs(self.pod), 30).output
            return f"pod {self.pod} is {state} (last log: {last_line(logs)})"

        def shell(command: str, timeout: float) -> ExecResult:
            # A pod still starting has no box to enter: not ready, without a kubectl exec.
            if state != "running":
                return ExecResult(1, "", f"pod {state}", 0.0)
            return self._box_shell(command, timeout)

        wait_for_lab(
            LabWait(
                student=self.spec.student,
                engine="the pod's engine",
                log_hint=f"see `kubectl -n {self.kubectl.namespace} describe pod {self.pod}`",
                gone=gone,
                shell=shell,
                node=self.exec,
            ),
            self.lab.hosts,
            time.monotonic(),
            self.ready_timeout,
            progress,
            pause=self.poll,
        )

    def repair(self, progress: Progress) -> list[str]:
        """Start again, with `docker compose up -d` in the box, every node that stopped or
        went missing since the box started its lab. Returns what was repaired."""
        if self._box_shell(BOX_READY, 30).exit_code != 0:
            return []  # still starting (or failed): the wait in `up` says which
        return repair_nodes(
            self.spec.student,
            self.lab.hosts,
            self._node_states(),
            "the box",
            progress,
            lambda: self._box_shell(COMPOSE_UP, 300),
        )

    # ------------------------------------------------------------------ use
    def node(self, host: str) -> str:
        """The container of `host` inside the box (compose's name: PROJECT-SERVICE-1)."""
        return f"{self.lab.name}-{host}-1"

    def _box_shell(self, script: str, timeout: float) -> ExecResult:
        return self._kubectl(self.kubectl.exec(self.pod, ["sh", "-s"]), timeout, script)

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        """`command` on a lab host: into the box, then into its node, the text on stdin."""
        argv = self.kubectl.exec(
            self.pod, ["docker", "exec", "--interactive", self.node(host), "sh"]
        )
        ran = self._kubectl(argv, timeout, wrap(command))
        return unwrap(ran, host, f"kubectl exec (pod {self.pod})")

    def _node_states(self) -> dict[str, str]:
        listed = self._box_shell("docker ps --all --format '{{json .}}'", 60)
        return node_states(listed.stdout, self.lab.name) if listed.exit_code == 0 else {}

    def status(self) -> list[HostStatus]:
        states = self._node_states() if self.state() == "running" else {}
        return host_statuses(self, self.lab.hosts, states)

    # ------------------------------------------------------------------ down
    def down(self, progress: Progress) -> None:
        """Delete the student's StatefulSet, Service, Secret and volume claim (their work)."""
        progress(f"deleting pod {self.pod} and what it owns")
        labels = selector(self.spec.labels)
        done = self._kubectl(self.kubectl.delete(STUDENT_KINDS, labels), 320)
        if done.exit_code != 0:
            raise LabgenError(
                f"{self.spec.student}: kubectl delete failed: {last_line(done.output)}"
            )


def pod_state(text: str) -> str:
    """`kubectl get pod -o json` → running, pending (why), failed (why), ..."""
    status = json.loads(text).get("status", {})
    phase = str(status.get("phase", "Unknown")).lower()
    for container in status.get("containerStatuses", []):
        reason = container.get("state", {}).get("waiting", {}).get("reason", "")
        if reason in GIVE_UP:
            return f"failed ({reason})"
        if reason:
            return f"{phase} ({reason})"
    return phase
