"""Write a planned folder (a lab, a class) safely: build it beside its place, then swap it in.

Rules, in the order `write_lab` applies them, all while holding a lock on the parent folder
(so two runs at once take turns):

- The folder lists what labgen wrote in it (MANIFEST). `--force` replaces a folder only when
  it holds nothing else but the kept entries (`.vagrant/`, `.labgen/`: a live lab's state);
  anything else (`.git`, a user's notes.txt) makes it refuse, naming the files.
- An existing empty folder counts as free: it is replaced without --force (nothing is lost).
- The new folder is built in a staging folder beside NAME, `.NAME.XXXXXXXX.new` (a new
  name each time, mode 0700 from its first moment, so no other user reaches into it), as
  its `lab/`; the staging folder holds a MARKER file from its first write on. Secret files
  are created 0600 and private folders 0700: no file is ever readable by others, not even
  for an instant.
- A new folder is renamed into place; if a non-empty one appeared meanwhile the rename fails
  and nothing is touched (no check-then-act).
- Replacing: the kept entries are hard-linked into the new `lab/` (NAME keeps its own), then
  `lab/` and NAME are exchanged in one step (Linux renameat2; elsewhere NAME -> the staging
  folder's `old/`, `lab/` -> NAME), then the staging folder is deleted. So NAME always holds
  a complete lab with its state; a kill -9 leaves at most a staging folder, which the next
  run's `recover` deletes (putting `old/` back first if NAME is missing, and moving back any
  kept entry only the leftover holds). Only a folder with the MARKER (or an empty one of
  labgen's staging names) is labgen's: a user's own `.NAME.new` or `.NAME.old` is never
  touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from labgen.atomic import NotAFile, TooLarge, read_bounded, shown_path
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
# In every staging folder labgen makes, from its first write on: what makes a leftover
# labgen's to delete.
MARKER = ".labgen-staging"
MARKER_TEXT = "labgen builds a folder here; a leftover with this file is labgen's to delete\n"
MAX_MANIFEST_BYTES = 1 << 20


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
    """What writing `files` to `out` would do to each file (bytes compared: any encoding;
    a file of another size is not read, whatever it is)."""
    result = []
    for file in files:
        target = out / file.path
        content = file.content.encode("utf-8")
        if not target.exists():
            status: FileStatus = "new"
        elif target.is_file() and target.stat().st_size == len(content):
            try:
                same = read_bounded(target, len(content)) == content
            except OSError:
                same = False
            status = "same" if same else "changed"
        else:
            status = "changed"
        result.append(WrittenFile(target, status))
    return result


def target_folder(out: Path) -> Path:
    """`out` as the real path renames need (also for `--out .`); UsageError, one line,
    when no folder can be written there."""
    shown = shown_path(out)
    if "\0" in os.fspath(out):
        raise UsageError(f"{shown}: a path cannot hold a NUL byte; remove it")
    try:
        real = out.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        raise UsageError(
            f"{shown}: a symbolic link in it points to itself, directly or not; fix the link "
            "or choose another folder"
        ) from None
    if real.parent == real:
        raise UsageError(
            f"{shown}: is the file system's root ({real}), which cannot be replaced; "
            "write the folder inside it, such as labs/NAME"
        )
    return real


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
        raise LabgenError(f"{os_error_line(error)} (writing {shown_path(out)})") from None


def recover(out: Path, keep: tuple[str, ...] = STATE_DIRS) -> None:
    """Finish or undo a replacement of `out` that was interrupted (see the module's notes)."""
    real = target_folder(out)
    if not real.parent.is_dir():
        return
    try:
        with _locked(real.parent):
            _recover(real, keep)
    except OSError as error:
        raise LabgenError(f"{os_error_line(error)} (recovering {shown_path(out)})") from None


def _write(
    files: list[PlannedFile], out: Path, *, force: bool, keep: tuple[str, ...]
) -> list[WrittenFile]:
    real = target_folder(out)
    real.parent.mkdir(parents=True, exist_ok=True)
    shown = shown_path(out)
    with _locked(real.parent):
        _recover(real, keep)
        if real.exists() and not real.is_dir():
            raise UsageError(
                f"{shown} exists and is not a folder; remove it or choose another --out"
            )
        occupied = real.is_dir() and any(real.iterdir())
        if occupied and not force:
            raise UsageError(
                f"{shown} already exists; pass --force to replace it, or --out to write elsewhere"
            )
        if occupied:
            _check_made_by_labgen(shown, real, keep)
        report = compare(files, out)
        # 0700 from the start (mkdtemp): nothing in it is reachable by other users.
        staging = Path(tempfile.mkdtemp(prefix=f".{real.name}.", suffix=".new", dir=real.parent))
        try:
            _write_file(staging / MARKER, MARKER_TEXT, 0o600)
            _write_files(files, staging / "lab")
            if occupied:
                _swap(real, staging, keep)
            else:
                _place(shown, real, staging)
            shutil.rmtree(staging)
        except BaseException:
            _recover(real, keep)
            raise
    return report


def _leftovers(out: Path) -> list[Path]:
    """The staging folders of `out` that labgen made: named as `_write` names them, and
    holding the MARKER (or nothing at all: a run stopped right after making it)."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.[A-Za-z0-9_]{{8}}\.new")
    found = []
    for entry in os.scandir(out.parent):
        if not pattern.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        folder = Path(entry.path)
        marker = folder / MARKER
        if (marker.is_file() and not marker.is_symlink()) or not any(folder.iterdir()):
            found.append(folder)
    return found


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
    for leftover in _leftovers(out):
        old = leftover / "old"
        if old.is_dir() and not out.exists():
            os.rename(old, out)  # stopped between the two renames: the old folder is complete
        for tree in (leftover / "lab", old):
            if tree.is_dir():
                _rescue_kept(tree, out, keep)
        shutil.rmtree(leftover)


def _rescue_kept(leftover: Path, out: Path, keep: tuple[str, ...]) -> None:
    """Move into `out` any kept entry that only `leftover` holds, before it is deleted."""
    for name in keep:
        if not (leftover / name).exists() or (out / name).exists():
            continue
        if not out.is_dir():
            raise LabgenError(
                f"{shown_path(leftover / name)}: left by an interrupted labgen run and "
                f"{shown_path(out)} is missing; move {shown_path(leftover)} to "
                f"{shown_path(out)}, then run again"
            )
        os.rename(leftover / name, out / name)


def _check_made_by_labgen(out: str, real: Path, keep: tuple[str, ...]) -> None:
    """UsageError unless every entry of `real` is one labgen wrote (or one it keeps)."""
    try:
        listed = read_bounded(real / MANIFEST, MAX_MANIFEST_BYTES).decode().splitlines()
    except (FileNotFoundError, NotADirectoryError, NotAFile, TooLarge, UnicodeDecodeError):
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


def _write_files(files: list[PlannedFile], folder: Path) -> None:
    """Write `files` as the new folder `folder`; each file and folder is made with its
    final mode (never wider: the umask can only narrow it, and chmod restores it)."""
    private = _private_folders(files)
    _make_folder(folder, 0o755)
    for file in files:
        for parent in reversed(file.path.parents[:-1]):
            if not (folder / parent).is_dir():
                _make_folder(folder / parent, 0o700 if parent in private else 0o755)
        _write_file(folder / file.path, file.content, _mode(file))


def _private_folders(files: list[PlannedFile]) -> set[PurePosixPath]:
    """Folders that hold only private files (`secrets/`): only their owner may enter them."""
    public = {parent for f in files if not f.private for parent in f.path.parents}
    return {parent for f in files if f.private for parent in f.path.parents} - public


def _make_folder(path: Path, mode: int) -> None:
    os.mkdir(path, mode)
    os.chmod(path, mode)  # what the umask took away (it never adds)


def _write_file(path: Path, text: str, mode: int) -> None:
    """Create `path` with `mode` from its first byte on (O_EXCL: never an existing file or
    a link someone placed)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    handle = os.open(path, flags, mode)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        os.fchmod(handle, mode)  # what the umask took away (it never adds)
        stream.write(text)


def _mode(file: PlannedFile) -> int:
    if file.private:
        return 0o600
    return 0o755 if file.executable else 0o644


def _place(out: str, real: Path, staging: Path) -> None:
    """Rename the new folder in. An empty folder there is replaced (nothing is lost); a
    non-empty one that appeared since the check makes the rename fail, touching nothing."""
    try:
        os.rename(staging / "lab", real)
    except OSError as error:
        if real.exists():
            raise UsageError(
                f"{out} appeared while labgen was writing it; nothing was changed in it, "
                "run again (with --force to replace it)"
            ) from None
        raise error


def _swap(out: Path, staging: Path, keep: tuple[str, ...]) -> None:
    """Put the complete `staging/lab` in place of `out`, with `out`'s kept entries; the
    old folder ends in the staging folder, which the caller deletes."""
    new = staging / "lab"
    for name in keep:
        _link_tree(out / name, new / name)
    if not _exchange(new, out):
        os.rename(out, staging / "old")
        os.rename(new, out)


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
