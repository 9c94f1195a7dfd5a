"""The errors labgen shows a user: one line each, and the exit code that goes with them."""


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
