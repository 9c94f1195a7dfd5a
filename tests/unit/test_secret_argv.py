"""The lab's password never goes on a command line: not in a step's commands (fed on stdin
only), not in how provisioning runs a step (node.sh), not in how labgen reaches a host."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import PurePosixPath

from labgen.render.plan import plan_lab
from labgen.spec.parse import parse_spec
from labgen.steps.scenario import load_scenario

PASSWORD = "Lab-pass.2026"


def secure_spec(**more: object) -> object:
    return parse_spec({"scenario": "secure", "auth": {"password": PASSWORD}, **more})[0]


def test_every_command_gives_the_password_on_stdin_only() -> None:
    for from_part1 in (False, True):
        scenario = load_scenario(secure_spec(from_part1=from_part1))  # type: ignore[arg-type]
        commands = [s.run for s in scenario.steps] + [g.run for g in scenario.goals]
        commands += [s.done_if for s in scenario.steps if s.done_if]
        holding = [c for c in commands if PASSWORD in c]
        assert holding, "the scenario no longer uses the password: update this test"
        for command in holding:
            # `echo` is the shell's builtin: its argument shows in no process's argv.
            assert re.fullmatch(rf"echo {re.escape(PASSWORD)} \| [^|]*", command), command
            assert command.count(PASSWORD) == 1, command


def test_provisioning_runs_a_step_with_no_secret_in_any_argv(
    require_tool: Callable[[str], str],
) -> None:
    """as_step_user from the rendered node.sh, run for real: the step's processes list
    every command line while it runs, and none holds the password."""
    files = {f.path: f.content for f in plan_lab(secure_spec())}  # type: ignore[arg-type]
    node = files[PurePosixPath("provision/node.sh")]
    function = re.search(r"^as_step_user\(\) \{\n.*?^\}\n", node, re.MULTILINE | re.DOTALL)
    assert function, "node.sh has no as_step_user"
    step = f"echo {PASSWORD} | (read -r given; ps -ww -eo args; echo read:$given)"
    script = f"{function.group(0)}\nSTEP_USER=\nas_step_user {step!r}\n"
    done = subprocess.run(  # the script on stdin too: no argv of this test holds it
        [require_tool("bash"), "-s"], input=script, capture_output=True, text=True, check=True
    )
    listed, _, read = done.stdout.rpartition("read:")
    assert read.strip() == PASSWORD  # the step ran, and got the password on its stdin
    assert "ps -ww -eo args" in listed  # the listing saw the step's own processes
    assert PASSWORD not in listed
