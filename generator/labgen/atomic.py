"""Files labgen writes and reads back: a reader sees the old file or the new one, never
half of one; and a read never blocks or runs without end, whatever the path names."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from labgen.errors import printable


class NotAFile(OSError):
    """The path names a folder, FIFO, device or socket: reading it could block forever
    (a FIFO) or never end (/dev/zero)."""


class TooLarge(OSError):
    """The file holds more than the reader's limit."""


def shown_path(path: Path | str) -> str:
    """A path as one line of a message shows it (control characters and NUL escaped)."""
    return printable(os.fspath(path))


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them: TooLarge when it
    holds more, NotAFile when it is no regular file, OSError when it cannot be read."""
    name = os.fspath(path)
    if "\0" in name:
        raise OSError(errno.EINVAL, "a path cannot hold a NUL byte", shown_path(name))
    # Checked before opening (opening a device can act on it) and after (the name may have
    # been replaced meanwhile); O_NONBLOCK: opening a FIFO must not wait for a writer.
    if not stat.S_ISREG(os.stat(name).st_mode):
        raise NotAFile(errno.EINVAL, _NOT_A_FILE, shown_path(name))
    handle = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise NotAFile(errno.EINVAL, _NOT_A_FILE, shown_path(name))
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(errno.EFBIG, f"larger than {limit} bytes", shown_path(name))
    return data


_NOT_A_FILE = "not a regular file (a folder, FIFO, device or socket)"


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
