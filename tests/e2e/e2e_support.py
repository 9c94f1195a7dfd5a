"""Constants and helpers shared by the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOCKET = "unix:///run/labgen-sandbox/docker.sock"
MIRROR = "http://192.168.56.1:5555"
RUNTIME = "labgen-runc"
LABGEN = str(Path(sys.executable).with_name("labgen"))


def labgen(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `labgen` command as a user would."""
    return subprocess.run(
        [LABGEN, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
    )
