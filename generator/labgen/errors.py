"""The errors labgen shows a user: one line each, and the exit code that goes with them."""

import errno


class LabgenError(Exception):
    """A problem the user can fix; printed as one line, never with a traceback."""

    exit_code = 1


class SpecError(LabgenError):
    """The lab spec is invalid. Carries every problem found, one line each."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UsageError(LabgenError):
    """The command line asks for something that cannot be done (e.g. overwrite without --force)."""

    exit_code = 2


class ScenarioError(LabgenError):
    """A scenario file (scenarios/*.yaml) is invalid. Carries every problem, one line each."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# What a user can do about the file-system errors labgen meets; the rest get a generic fix.
_OS_FIXES = {
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space, or write elsewhere",
    errno.EROFS: "that file system is read-only: write elsewhere",
    errno.EACCES: "permission denied: check the folder's owner and mode, or write elsewhere",
    errno.EPERM: "not permitted: check the folder's owner and mode, or write elsewhere",
    errno.ENAMETOOLONG: "a name in the path is too long: use a shorter name or path",
    errno.ENOENT: "check that the path exists",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "it is a folder, not a file: check the path",
    errno.EFBIG: "give a smaller file",
    errno.ELOOP: "a symbolic link points to itself, directly or not: check the path",
}


def printable(text: str) -> str:
    """`text` as one line of a terminal shows it: control characters (newlines, escape
    sequences, NUL) written as Python escapes, so no input can forge or hide a line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def os_error_line(error: OSError) -> str:
    """One line for a file-system error: `path: what happened; what to do`."""
    where = printable(str(error.filename)) if error.filename is not None else "labgen"
    problem = error.strerror or str(error)
    fix = _OS_FIXES.get(error.errno or 0, "check the path and try again")
    return f"{where}: {problem}; {fix}"
