"""The end-to-end tests' translation of a pod into `docker run` (tests/e2e/pod_to_docker.py):
it carries every field of the generated pod, lays Secrets out as a kubelet does, and
refuses a field it does not translate, so that what is run is what was written."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from e2e.pod_to_docker import CannotRun, docker_run
from labgen.kube import manifests as m

CLUSTER = m.ClassCluster(
    name="ws",
    namespace="labgen-ws",
    image="registry.example.org/labgen/labbox:trixie",
    lab_gateway="192.168.56.1",
    lab_files=(
        m.LabFile("docker-compose.yml", "services: {}\n"),
        m.LabFile("provision/node.sh", "#!/bin/sh\n", executable=True),
    ),
)
SEAT = m.PodSeat("alice", 30001, "alice:pw\n")


def derive(tmp_path: Path, statefulset: dict[str, object]) -> tuple[list[list[str]], list[str]]:
    secrets = {
        s["metadata"]["name"]: s for s in (m.lab_secret(CLUSTER), m.account_secret(CLUSTER, SEAT))
    }
    return docker_run(statefulset, secrets, [m.ssh_service(CLUSTER, SEAT)], tmp_path)


def test_the_pod_as_docker_run(tmp_path: Path) -> None:
    creates, argv = derive(tmp_path, m.stateful_set(CLUSTER, SEAT))
    assert creates == [
        [
            *("docker", "volume", "create"),
            *("--label", "labgen.class=ws", "--label", "labgen.student=alice"),
            "docker-labgen-ws-alice-0",
        ]
    ]
    lab, account = (
        tmp_path / "labgen-ws-alice-0" / "lab",
        tmp_path / "labgen-ws-alice-0" / "account",
    )
    assert argv == [
        *("docker", "run", "--detach", "--name", "labgen-ws-alice-0"),
        *("--hostname", "labgen-ws-alice-0"),
        *("--label", "labgen.class=ws", "--label", "labgen.student=alice"),
        *("--label", "labgen.role=box", "--privileged"),
        *("--cpus", "1", "--memory", str(768 * 2**20), "--memory-swap", str(768 * 2**20)),
        *("--cpu-shares", "256"),
        *("--env", "LABBOX_USER=alice", "--env", "LABBOX_LAB_GATEWAY=192.168.56.1"),
        *("--volume", "docker-labgen-ws-alice-0:/var/lib/docker"),
        *("--volume", f"{lab}:/lab:ro"),
        *("--volume", f"{(account / 'student').resolve()}:/etc/labbox/student:ro"),
        *("--publish", "30001:22"),
        "registry.example.org/labgen/labbox:trixie",
    ]
    # The kubelet's layout: files in a dated folder, ..data and the top entries as links.
    assert (lab / "..data").is_symlink()
    assert (lab / "provision").resolve().parent == (lab / "..data").resolve()
    assert (lab / "provision" / "node.sh").stat().st_mode & 0o777 == 0o555
    assert (lab / "docker-compose.yml").stat().st_mode & 0o777 == 0o444
    assert (account / "student").read_text() == "alice:pw\n"
    assert (account / "student").stat().st_mode & 0o777 == 0o400


@pytest.mark.parametrize(
    "where", [("template", "spec", "hostNetwork"), ("container", "stdin"), ("volume", "hostPath")]
)
def test_a_field_it_does_not_translate_stops_it(tmp_path: Path, where: tuple[str, ...]) -> None:
    statefulset = copy.deepcopy(m.stateful_set(CLUSTER, SEAT))
    pod = statefulset["spec"]["template"]["spec"]
    if where[0] == "template":
        pod[where[2]] = True
    elif where[0] == "container":
        pod["containers"][0][where[1]] = True
    else:
        pod["volumes"][0][where[1]] = {"path": "/"}
    with pytest.raises(CannotRun):
        derive(tmp_path, statefulset)
