"""The `labgen` command line. Thin: each command parses options and calls plain functions.

Imports of heavier modules happen inside the commands that need them, so that
`labgen --help` and `labgen create` start fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from labgen.errors import LabgenError

BACKENDS = ("all", "vagrant", "compose")


class LabgenGroup(click.Group):
    """Shows labgen's own errors as one line each (no traceback) with their exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LabgenError as error:
            for line in str(error).splitlines():
                click.echo(f"labgen: error: {line}", err=True)
            raise click.exceptions.Exit(error.exit_code) from None


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
    "--force", is_flag=True, help="Replace an existing lab folder (its .vagrant state is kept)."
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
def create(spec: Path | None, out: Path | None, backend: str, force: bool, dry_run: bool) -> None:
    """Render a lab folder from SPEC (YAML; default: the tutorial's two-host lab)."""
    from labgen.commands import create_lab

    create_lab(spec, out, backend, force=force, dry_run=dry_run)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the lab spec (for editors and CI)."""
    import json

    from labgen.spec.schema import spec_schema

    click.echo(json.dumps(spec_schema(), indent=2, ensure_ascii=False))


def main() -> None:
    """Entry point of the `labgen` console script and `python -m labgen`."""
    cli()
