"""The sandboxed engine the end-to-end tests run labs on.

`sandbox/engine.sh` starts a real dockerd inside network namespace labgen-sbx (so the
lab's 192.168.56.0/24 exists only there), `sandbox/images.sh` builds the images offline
and fills the local hub the labs use as their mirror. Both need root on Linux; where
that is missing the tests skip saying so (and fail under CI, which must run them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from e2e_support import SOCKET

from helpers import REPO_ROOT, missing


def _why_not_here() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the sandboxed engine needs Linux"
    if os.geteuid() != 0:
        return "the sandboxed engine needs root (network namespaces, dockerd)"
    for tool in ("dockerd", "ip", "docker-registry", "skopeo", "jq", "debootstrap"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing; run `sandbox/engine.sh deps` (as root)"
    return None


@pytest.fixture(scope="session")
def engine() -> Iterator[dict[str, str]]:
    """Environment (DOCKER_HOST) of a running sandbox engine with the lab's images built."""
    reason = _why_not_here()
    if reason:
        missing(reason)
    subprocess.run(["bash", str(REPO_ROOT / "sandbox/engine.sh"), "up"], check=True)
    env = {**os.environ, "DOCKER_HOST": SOCKET}
    try:
        subprocess.run(["bash", str(REPO_ROOT / "sandbox/images.sh"), "build"], check=True, env=env)
        yield env
    finally:
        subprocess.run(["bash", str(REPO_ROOT / "sandbox/engine.sh"), "down"], check=False)
