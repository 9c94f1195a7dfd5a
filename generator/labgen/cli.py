"""The `labgen` command line. Thin: each command parses options and calls plain functions.

Imports of heavier modules happen inside the commands that need them, so that
`labgen --help` and `labgen create` start fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from labgen.errors import LabgenError, os_error_line, printable

BACKENDS = ("all", "vagrant", "compose")
# Command groups imported only when they are asked for (or listed by --help), so that
# `labgen create` does not pay for them at start-up.
LAZY_COMMANDS = {"class": "labgen.classroom.commands:class_group"}
# Subcommands that live above the group's own layer: `class serve` is the workspace's, and
# the class layer must not import it.
LAZY_SUBCOMMANDS = {"class": ("labgen.workspace.commands:serve",)}
# How a shell reports a process killed by SIGPIPE (128 + 13), as `yes | head -1` does.
EXIT_BROKEN_PIPE = 141


class LabgenGroup(click.Group):
    """Shows labgen's own errors as one line each (no traceback) with their exit code; a
    file-system error no command turned into one is the last wall: one line, exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            command = _load(LAZY_COMMANDS[cmd_name])
            assert isinstance(command, click.Group)
            for where in LAZY_SUBCOMMANDS.get(cmd_name, ()):
                command.add_command(_load(where))
            return command
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # No path or value can hold a NUL byte (the OS refuses it deep inside a command).
        for index, arg in enumerate(args):
            if "\0" in arg:
                option = arg.partition("=")[0] if arg.startswith("--") and "=" in arg else None
                if option is None and index and args[index - 1].startswith("-"):
                    option = args[index - 1]
                where = f"{option}'s value" if option else f"argument {arg.split(chr(0))[0]!r}..."
                click.echo(
                    f"labgen: error: {where}: holds a NUL byte, which no path or value can; "
                    "remove it",
                    err=True,
                )
                raise click.exceptions.Exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LabgenError as error:
            for line in str(error).splitlines():
                click.echo(f"labgen: error: {printable(line)}", err=True)
            raise click.exceptions.Exit(error.exit_code) from None
        except BrokenPipeError:
            # The reader of stdout left (`labgen create --dry-run | head -1`): nothing
            # went wrong in labgen. Exit quietly, as a process SIGPIPE ends would.
            _quiet_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except OSError as error:
            click.echo(f"labgen: error: {os_error_line(error)}", err=True)
            raise click.exceptions.Exit(1) from None


def _load(where: str) -> click.Command:
    """The click command at `module:name`, imported now."""
    module, _, name = where.partition(":")
    command = getattr(importlib.import_module(module), name)
    assert isinstance(command, click.Command)
    return command


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file (a test runner's stdout)
        pass


@click.group(cls=LabgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labgen")
def cli() -> None:
    """Turn the private Docker registry tutorial into a lab you can bring up and check."""


@cli.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Lab folder to write [default: labs/<name>].",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="all",
    show_default=True,
    help="Which backend's files to render.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace a lab folder labgen made (refused if it holds other files; "
    ".vagrant/ and .labgen/ are kept).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option(
    "--mirror", help="Registry mirror for Docker Hub names (overrides the spec's `mirror`)."
)
def create(
    spec: Path | None,
    out: Path | None,
    backend: str,
    force: bool,
    dry_run: bool,
    mirror: str | None,
) -> None:
    """Render a lab folder from SPEC (YAML; default: the tutorial's two-host lab)."""
    from labgen.commands import create_lab

    create_lab(spec, out, backend, mirror=mirror, force=force, dry_run=dry_run)


@cli.command()
@click.option("--class", "of_class", is_flag=True, help="The class spec's schema instead.")
def schema(of_class: bool) -> None:
    """Print the JSON Schema of the lab spec, or of the class spec (for editors and CI)."""
    import json

    from labgen.spec.schema import spec_schema, struct_schema

    if of_class:
        from labgen.classroom.spec import ClassFile

        schema = struct_schema(ClassFile, "labgen class spec")
    else:
        schema = spec_schema()
    click.echo(json.dumps(schema, indent=2, ensure_ascii=False))


LAB_ARGUMENT = click.argument(
    "lab", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
BACKEND_OPTION = click.option(
    "--backend",
    type=click.Choice(["compose", "vagrant"]),
    default=None,
    help="Backend to use [default: the one `labgen up` used, else compose when the lab has it].",
)
VERBOSE_OPTION = click.option(
    "--verbose", "-v", is_flag=True, help="Also say how labgen reaches each host."
)
TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=180,
    show_default=True,
    help="Seconds each step may take before it counts as failed.",
)


@cli.command()
@LAB_ARGUMENT
@BACKEND_OPTION
@click.option("--runtime", help="compose: run the nodes under this OCI runtime (machine-specific).")
@click.option("--provider", help="vagrant: the provider to use (virtualbox, libvirt, ...).")
@VERBOSE_OPTION
def up(
    lab: Path | None, backend: str | None, runtime: str | None, provider: str | None, verbose: bool
) -> None:
    """Bring up the lab in LAB (default: the only lab under labs/)."""
    from labgen.lab import open_lab
    from labgen.live import up_lab

    up_lab(open_lab(lab), backend, runtime, provider, verbose=verbose)


@cli.command()
@LAB_ARGUMENT
@BACKEND_OPTION
@VERBOSE_OPTION
def down(lab: Path | None, backend: str | None, verbose: bool) -> None:
    """Take the lab down and remove its hosts."""
    from labgen.lab import open_lab
    from labgen.live import down_lab

    down_lab(open_lab(lab), backend, verbose=verbose)


@cli.command()
@LAB_ARGUMENT
@click.option("--host", "hosts", multiple=True, help="Only this VM (repeatable) [default: all].")
@TIMEOUT_OPTION
@VERBOSE_OPTION
def provision(lab: Path | None, hosts: tuple[str, ...], timeout: float, verbose: bool) -> None:
    """Provision the running VMs again (vagrant backend) without starting Vagrant:
    provision/node.sh is sent only to VMs whose copy differs; an up-to-date VM changes nothing."""
    from labgen.lab import open_lab
    from labgen.live import provision_lab

    provision_lab(open_lab(lab), hosts, timeout, verbose=verbose)


@cli.command()
@LAB_ARGUMENT
@BACKEND_OPTION
@VERBOSE_OPTION
def status(lab: Path | None, backend: str | None, verbose: bool) -> None:
    """Show each host's state; exit 1 unless every engine answers."""
    from labgen.lab import open_lab
    from labgen.live import show_status

    if not show_status(open_lab(lab), backend, verbose=verbose):
        raise click.exceptions.Exit(1)


@cli.command()
@LAB_ARGUMENT
@BACKEND_OPTION
@click.option(
    "--mode",
    type=click.Choice(["auto", "solve", "grade"]),
    default="auto",
    show_default=True,
    help="solve: replay the tutorial's steps; grade: inspect a student's lab, changing "
    "nothing; auto: solve a lab seen to be fresh (its registry host answers and has no "
    "registry container), grade one where the registry exists, else stop and say why.",
)
@TIMEOUT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here."
)
@VERBOSE_OPTION
def check(
    lab: Path | None,
    backend: str | None,
    mode: str,
    timeout: float,
    as_json: bool,
    junit: Path | None,
    verbose: bool,
) -> None:
    """Check the live lab: every step (solve) or goal (grade); exit 0 only if all hold."""
    from labgen.lab import open_lab
    from labgen.live import check_lab

    if not check_lab(open_lab(lab), backend, mode, timeout, as_json, junit, verbose=verbose):
        raise click.exceptions.Exit(1)


@cli.command()
@LAB_ARGUMENT
@BACKEND_OPTION
@click.option("--runtime", help="compose: run the nodes under this OCI runtime (machine-specific).")
@click.option("--provider", help="vagrant: the provider to use (virtualbox, libvirt, ...).")
@TIMEOUT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here."
)
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards.")
@VERBOSE_OPTION
def run(
    lab: Path | None,
    backend: str | None,
    runtime: str | None,
    provider: str | None,
    timeout: float,
    as_json: bool,
    junit: Path | None,
    keep: bool,
    verbose: bool,
) -> None:
    """Up, check (solve), down: the whole tutorial replayed; the lab is taken down even on failure."""
    from labgen.lab import open_lab
    from labgen.live import check_lab, down_lab, up_lab

    opened = open_lab(lab)
    problems: list[LabgenError] = []  # a failing down must not hide what failed before it
    ok = False
    try:
        up_lab(opened, backend, runtime, provider, verbose=verbose)
        ok = check_lab(opened, None, "solve", timeout, as_json, junit, verbose=verbose)
    except LabgenError as error:
        problems.append(error)
    finally:
        if not keep:
            try:
                down_lab(opened, None, verbose=verbose)
            except LabgenError as error:
                problems.append(error)
    if problems:
        combined = LabgenError("\n".join(str(problem) for problem in problems))
        combined.exit_code = problems[0].exit_code
        raise combined
    if not ok:
        raise click.exceptions.Exit(1)


@cli.command()
@LAB_ARGUMENT
@BACKEND_OPTION
@click.option("--student", required=True, help="Your student id, as your teacher gave it.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Submission file to write [default: <lab>-<student>.submission.json].",
)
@TIMEOUT_OPTION
def submit(
    lab: Path | None, backend: str | None, student: str, out: Path | None, timeout: float
) -> None:
    """Grade your lab (changing nothing in it) and write the file to hand in to your teacher."""
    from labgen.submit import submit_lab

    submit_lab(lab, backend, student, out, timeout)


@cli.command()
def doctor() -> None:
    """What this machine can run: Docker, compose, Vagrant and its providers, KVM."""
    from labgen.doctor import examine

    findings, verdicts = examine()
    for finding in findings:
        click.echo(f"  {'ok' if finding.ok else '--':<3} {finding.name:<16} {finding.detail}")
    for verdict in verdicts:
        click.echo(f"{verdict.backend:<21} {verdict.detail}")
    if not any(v.ok for v in verdicts):
        raise click.exceptions.Exit(1)


@cli.command()
@click.option(
    "--only",
    help="Comma-separated combinations to run, e.g. part1-debian12-docker [default: all; "
    "an unknown name lists them].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("docs/fidelity-matrix.md"),
    show_default=True,
    help="The Markdown doc to write; the JSON goes beside it (.json).",
)
@click.option(
    "--mirror", help="Registry mirror for Docker Hub names, for every lab (as `create --mirror`)."
)
@click.option("--runtime", help="Run the nodes under this OCI runtime (as `up --runtime`).")
@TIMEOUT_OPTION
def matrix(
    only: str | None, out: Path, mirror: str | None, runtime: str | None, timeout: float
) -> None:
    """Replay the tutorial on every OS and engine combination (compose backend, the engine
    DOCKER_HOST names) and write the fidelity matrix: claim x engine, with the real texts.
    Exit 1 when a run fails or disagrees with the scenario data (the doc is written anyway)."""
    from labgen.matrix.commands import make_matrix

    names = [name.strip() for name in only.split(",") if name.strip()] if only else []
    if not make_matrix(names, out, mirror, runtime, timeout):
        raise click.exceptions.Exit(1)


def main() -> None:
    """Entry point of the `labgen` console script and `python -m labgen`."""
    cli()
