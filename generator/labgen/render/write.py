"""Write a planned lab folder atomically: build it in a temp dir, then rename it into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from labgen.errors import UsageError
from labgen.render.plan import PlannedFile

FileStatus = Literal["new", "changed", "same"]
# Run-time state of a live lab, kept when a lab folder is re-created with --force.
STATE_DIRS = (".vagrant", ".labgen")


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    status: FileStatus


def compare(files: Iterable[PlannedFile], out: Path) -> list[WrittenFile]:
    """What writing `files` to `out` would do to each file."""
    result = []
    for file in files:
        target = out / file.path
        if not target.exists():
            status: FileStatus = "new"
        elif target.read_text(encoding="utf-8") == file.content:
            status = "same"
        else:
            status = "changed"
        result.append(WrittenFile(target, status))
    return result


def write_lab(files: list[PlannedFile], out: Path, *, force: bool) -> list[WrittenFile]:
    """Write `files` as the folder `out`. Refuses to replace an existing folder unless `force`."""
    if out.exists() and not force:
        raise UsageError(
            f"{out} already exists; pass --force to replace it, or --out to write elsewhere"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; remove it or choose another --out")
    report = compare(files, out)
    out = out.resolve()  # renames need a real name, also for `--out .`
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for file in files:
            target = staging / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.content, encoding="utf-8")
            target.chmod(_mode(file))
        staging.chmod(0o755)
        if out.exists():
            _replace(out, staging)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _mode(file: PlannedFile) -> int:
    if file.private:
        return 0o600
    return 0o755 if file.executable else 0o644


def _replace(out: Path, staging: Path) -> None:
    """Swap `staging` in for `out`, keeping a live lab's state dirs; restore `out` on failure."""
    moved = [name for name in STATE_DIRS if (out / name).exists()]
    for name in moved:
        os.rename(out / name, staging / name)

    def put_state_back() -> None:
        for name in moved:
            os.rename(staging / name, out / name)

    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(out, old)
    except OSError:
        put_state_back()
        raise
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        put_state_back()
        raise
    shutil.rmtree(old)
