"""Write a planned folder (a lab, a class) safely: build it beside its place, then swap it in.

Rules, in the order `write_lab` applies them, all while holding a lock on the parent folder
(so two runs at once take turns):

- The folder lists what labgen wrote in it (MANIFEST). `--force` replaces a folder only when
  it holds nothing else but the kept entries (`.vagrant/`, `.labgen/`: a live lab's state);
  anything else (`.git`, a user's notes.txt) makes it refuse, naming the files.
- An existing empty folder counts as free: it is replaced without --force (nothing is lost).
- A new folder is renamed into place; if a non-empty one appeared meanwhile the rename fails
  and nothing is touched (no check-then-act).
- Replacing: the new folder is built complete as `.NAME.new`, the kept entries hard-linked
  into it (NAME keeps its own), then the two folders are exchanged in one step (Linux
  renameat2; elsewhere NAME -> `.NAME.old`, `.NAME.new` -> NAME), then the old one is deleted.
  So NAME always holds a complete lab with its state; a kill -9 leaves at most a leftover
  that the next run's `recover` deletes (putting `.NAME.old` back first if NAME is missing,
  and moving back any kept entry only a leftover holds).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from labgen.errors import LabgenError, UsageError, os_error_line
from labgen.render.plan import PlannedFile

FileStatus = Literal["new", "changed", "same"]
# Run-time state of a live lab, kept when a lab folder is re-created with --force.
STATE_DIRS = (".vagrant", ".labgen")
# The list of files labgen wrote in a folder: what --force may replace.
MANIFEST = ".labgen-files"
MANIFEST_HEADER = (
    "# Written by labgen: the files it made in this folder. `--force` replaces the folder\n"
    "# only when it holds nothing else (but .vagrant/ and .labgen/, which are kept).\n"
)
SHOWN = 3  # foreign files named in an error


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    status: FileStatus


def with_manifest(files: list[PlannedFile]) -> list[PlannedFile]:
    """`files` and the manifest that lists them."""
    names = sorted(file.path.as_posix() for file in files)
    content = MANIFEST_HEADER + "".join(f"{name}\n" for name in names)
    return [*files, PlannedFile(PurePosixPath(MANIFEST), content)]


def compare(files: Iterable[PlannedFile], out: Path) -> list[WrittenFile]:
    """What writing `files` to `out` would do to each file (bytes compared: any encoding)."""
    result = []
    for file in files:
        target = out / file.path
        if not target.exists():
            status: FileStatus = "new"
        elif target.is_file() and target.read_bytes() == file.content.encode("utf-8"):
            status = "same"
        else:
            status = "changed"
        result.append(WrittenFile(target, status))
    return result


def write_lab(
    files: list[PlannedFile], out: Path, *, force: bool, keep: tuple[str, ...] = STATE_DIRS
) -> list[WrittenFile]:
    """Write `files` (and their manifest) as the folder `out`, keeping the entries `keep` of
    the folder it replaces. Refuses to replace a non-empty folder unless `force`, and even
    then unless labgen made it."""
    files = with_manifest(files)
    try:
        return _write(files, out, force=force, keep=keep)
    except OSError as error:
        raise LabgenError(f"{os_error_line(error)} (writing {out})") from None


def recover(out: Path, keep: tuple[str, ...] = STATE_DIRS) -> None:
    """Finish or undo a replacement of `out` that was interrupted (see the module's notes)."""
    real = out.resolve()
    if not real.parent.is_dir():
        return
    try:
        with _locked(real.parent):
            _recover(real, keep)
    except OSError as error:
        raise LabgenError(f"{os_error_line(error)} (recovering {out})") from None


def _write(
    files: list[PlannedFile], out: Path, *, force: bool, keep: tuple[str, ...]
) -> list[WrittenFile]:
    real = out.resolve()  # renames need a real name, also for `--out .`
    real.parent.mkdir(parents=True, exist_ok=True)
    with _locked(real.parent):
        _recover(real, keep)
        if real.exists() and not real.is_dir():
            raise UsageError(f"{out} exists and is not a folder; remove it or choose another --out")
        occupied = real.is_dir() and any(real.iterdir())
        if occupied and not force:
            raise UsageError(
                f"{out} already exists; pass --force to replace it, or --out to write elsewhere"
            )
        if occupied:
            _check_made_by_labgen(out, real, keep)
        report = compare(files, out)
        staging = _staging(real)
        try:
            _write_files(files, staging)
            if occupied:
                _swap(real, staging, keep)
            else:
                _place(out, real, staging)
        except BaseException:
            _recover(real, keep)
            raise
    return report


def _staging(out: Path) -> Path:
    return out.with_name(f".{out.name}.new")


def _old(out: Path) -> Path:
    return out.with_name(f".{out.name}.old")


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (a second labgen run waits for it)."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def _recover(out: Path, keep: tuple[str, ...]) -> None:
    old, staging = _old(out), _staging(out)
    if old.is_dir() and not out.exists():
        os.rename(old, out)  # stopped between the two renames: the old folder is complete
    for leftover in (staging, old):
        if leftover.is_dir():
            _rescue_kept(leftover, out, keep)
            shutil.rmtree(leftover)


def _rescue_kept(leftover: Path, out: Path, keep: tuple[str, ...]) -> None:
    """Move into `out` any kept entry that only `leftover` holds, before it is deleted."""
    for name in keep:
        if not (leftover / name).exists() or (out / name).exists():
            continue
        if not out.is_dir():
            raise LabgenError(
                f"{leftover / name}: left by an interrupted labgen run and {out} is missing; "
                f"move {leftover} to {out}, then run again"
            )
        os.rename(leftover / name, out / name)


def _check_made_by_labgen(out: Path, real: Path, keep: tuple[str, ...]) -> None:
    """UsageError unless every entry of `real` is one labgen wrote (or one it keeps)."""
    try:
        listed = (real / MANIFEST).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        raise UsageError(
            f"{out} was not made by labgen (no {MANIFEST} in it), and --force replaces only "
            "a labgen folder; choose another --out, or empty the folder first"
        ) from None
    expected = {MANIFEST}
    for line in listed:
        if line and not line.startswith("#"):
            expected.add(line)
            expected.update(parent.as_posix() for parent in PurePosixPath(line).parents)
    foreign = sorted(set(_entries(real, keep)) - expected)
    if foreign:
        more = f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else ""
        raise UsageError(
            f"{out} holds files labgen did not write ({', '.join(foreign[:SHOWN])}{more}), "
            "which --force would delete; move them out of the folder, or choose another --out"
        )


def _entries(root: Path, keep: tuple[str, ...]) -> Iterator[str]:
    """Every file and folder under `root` (relative, posix), but the kept entries."""
    for folder, dirs, names in os.walk(root):  # does not follow links to folders
        relative = Path(folder).relative_to(root)
        if folder == str(root):
            dirs[:] = [name for name in dirs if name not in keep]
            names = [name for name in names if name not in keep]
        for name in [*dirs, *names]:
            yield (relative / name).as_posix()


def _write_files(files: list[PlannedFile], staging: Path) -> None:
    staging.mkdir()
    for file in files:
        target = staging / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8")
        target.chmod(_mode(file))
    staging.chmod(0o755)


def _mode(file: PlannedFile) -> int:
    if file.private:
        return 0o600
    return 0o755 if file.executable else 0o644


def _place(out: Path, real: Path, staging: Path) -> None:
    """Rename the new folder in. An empty folder there is replaced (nothing is lost); a
    non-empty one that appeared since the check makes the rename fail, touching nothing."""
    try:
        os.rename(staging, real)
    except OSError as error:
        if real.exists():
            raise UsageError(
                f"{out} appeared while labgen was writing it; nothing was changed in it, "
                "run again (with --force to replace it)"
            ) from None
        raise error


def _swap(out: Path, staging: Path, keep: tuple[str, ...]) -> None:
    """Put the complete `staging` in place of `out`, with `out`'s kept entries."""
    for name in keep:
        _link_tree(out / name, staging / name)
    if not _exchange(staging, out):
        os.rename(out, _old(out))
        os.rename(staging, out)
        staging = _old(out)
    shutil.rmtree(staging)  # now the old folder


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link `source` (file or folder) as `target`: both names share the state's files."""
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        shutil.copytree(source, target, symlinks=True, copy_function=os.link)
    elif source.exists():
        os.link(source, target)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two folders in one step (Linux renameat2); False where the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    names = (os.fsencode(first), os.fsencode(second))
    if renameat2(_AT_FDCWD, names[0], _AT_FDCWD, names[1], _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))
