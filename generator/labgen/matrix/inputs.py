"""What a matrix run depends on, as one digest: the scenario data, the templates of the
lab the runs bring up (provisioning, node image, compose file) and sandbox/images.sh (the
node images' packages and the registry stand-ins). The matrix records the digest it was
made from; a matrix whose digest is not the checkout's is stale (the test says so)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path, PurePosixPath

# Repo-relative globs of the inputs; handouts and reports are left out on purpose: they
# change what a student reads, not what an engine does.
INPUTS = (
    "generator/labgen/scenarios/*.yaml",
    "templates/docker-compose.yml.j2",
    "templates/provision/*",
    "templates/node/*",
    "sandbox/images.sh",
)


def checkout_root() -> Path:
    """The labgen checkout this module runs from (generator/labgen/matrix/inputs.py)."""
    return Path(__file__).resolve().parents[3]


def input_files(root: Path) -> list[PurePosixPath]:
    """The inputs under `root`, repo-relative, sorted."""
    return sorted(
        {PurePosixPath(p.relative_to(root).as_posix()) for g in INPUTS for p in root.glob(g)}
    )


def inputs_digest(root: Path) -> str:
    """sha256 of every input's path and bytes; "" when `root` holds none (not a checkout)."""
    files = input_files(root)
    if not files:
        return ""
    digest = hashlib.sha256()
    for name in files:
        data = (root / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def commit(root: Path) -> str:
    """The checkout's commit, "+changes" when an input differs from it; "" without git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *INPUTS],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f"{head}+changes" if changed else head


def staleness(recorded: str, root: Path) -> list[str]:
    """A line when the matrix was made from other inputs than `root` holds now."""
    current = inputs_digest(root)
    if recorded == current:
        return []
    return [
        f"the matrix was made from inputs {recorded[:12] or '(none recorded)'}, the checkout's "
        f"are {current[:12]} (scenario data, lab templates or node image recipes changed); "
        "run `sudo make matrix` again"
    ]
