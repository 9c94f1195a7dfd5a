"""The class spec's `hosted.platform: kubernetes` and its `kubernetes:` block: defaults that
keep a Docker class as it was, and one-line errors for what a cluster cannot take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labgen.classroom.spec import HostedSettings, parse_class
from labgen.errors import SpecError


def problems(tmp_path: Path, **hosted: Any) -> list[str]:
    raw = {"name": "ws", "delivery": "hosted", "students": 3, "hosted": {"server": "lab", **hosted}}
    try:
        parse_class(raw, tmp_path)
    except SpecError as error:
        return error.problems
    return []


def test_docker_stays_the_default() -> None:
    hosted = HostedSettings()
    assert hosted.platform == "docker"
    assert hosted.kubernetes.ssh == "nodeport"
    assert hosted.kubernetes.registry is None


def test_a_valid_kubernetes_class(tmp_path: Path) -> None:
    kubernetes = {"registry": "registry.example.org:5000/labgen", "runtime_class": "kata"}
    assert (
        problems(
            tmp_path,
            platform="kubernetes",
            isolation="vm",
            ssh_ports="30000-30099",
            kubernetes=kubernetes,
        )
        == []
    )


@pytest.mark.parametrize(
    ("hosted", "expected"),
    [
        (
            {"platform": "kubernetes", "ssh_ports": "30000-30099"},
            "hosted.kubernetes.registry: is missing; name the registry the cluster pulls the lab box from",
        ),
        (
            {"platform": "kubernetes", "kubernetes": {"registry": "r.example.org/x"}},
            "hosted.ssh_ports: 2200-2299 is outside Kubernetes' NodePort range",
        ),
        (
            {"platform": "kubernetes", "kubernetes": {"registry": "r.example.org/x", "bogus": 1}},
            "hosted.kubernetes.bogus: unknown field; use one of: registry",
        ),
        (
            {
                "platform": "kubernetes",
                "isolation": "vm",
                "ssh_ports": "30000-30099",
                "kubernetes": {"registry": "r.example.org/x"},
            },
            "hosted.kubernetes.runtime_class: is missing; isolation: vm on Kubernetes runs",
        ),
        (
            {
                "platform": "kubernetes",
                "ssh_ports": "30000-30099",
                "kubernetes": {"registry": "r.example.org/x", "runtime_class": "kata"},
            },
            "hosted.isolation: is container, but hosted.kubernetes.runtime_class names",
        ),
        (
            {"platform": "k8s"},
            "hosted.platform: 'k8s' is not valid; use one of: docker, kubernetes",
        ),
        (
            {"platform": "kubernetes", "kubernetes": {"registry": "Bad Registry!"}},
            "hosted.kubernetes.registry: 'Bad Registry!' is not valid; use a registry and path",
        ),
        (
            {"kubernetes": {"ssh": "ingress"}},
            "hosted.kubernetes.ssh: 'ingress' is not valid; use one of: nodeport, loadbalancer, none",
        ),
        (
            {"kubernetes": {"namespace": "Not_A_Label"}},
            "hosted.kubernetes.namespace: 'Not_A_Label' is not valid; use a DNS label",
        ),
    ],
)
def test_one_line_errors(tmp_path: Path, hosted: dict[str, Any], expected: str) -> None:
    found = problems(tmp_path, **hosted)
    assert any(line.startswith(expected) for line in found), found
    assert all("\n" not in line for line in found)


def test_loadbalancer_takes_any_ports(tmp_path: Path) -> None:
    kubernetes = {"registry": "r.example.org/x", "ssh": "loadbalancer"}
    assert problems(tmp_path, platform="kubernetes", kubernetes=kubernetes) == []
