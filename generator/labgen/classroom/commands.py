"""`labgen class ...`: thin click commands over the class layer's plain functions."""

from __future__ import annotations

import secrets
import string
from pathlib import Path

import click

CLASSES_DIR = Path("classes")


@click.group("class")
def class_group() -> None:
    """A whole class: every student's lab, handouts, grading and report."""


@class_group.command("create")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Class folder to write [default: classes/<name>].",
)
@click.option(
    "--force", is_flag=True, help="Replace an existing class folder (its passwords are kept)."
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
def create(spec: Path, out: Path | None, force: bool, dry_run: bool) -> None:
    """Render a class folder from the class spec SPEC (YAML)."""
    from labgen.classroom.create import SEED_FILE, plan_class
    from labgen.classroom.spec import load_class
    from labgen.commands import write_folder

    classroom, warnings = load_class(spec)
    for warning in warnings:
        click.echo(f"labgen: warning: lab.{warning}", err=True)
    out = out or CLASSES_DIR / classroom.name
    seed = _existing_seed(out / SEED_FILE) or secrets.token_hex(32)
    summary = write_folder(plan_class(classroom, seed), out, force=force, dry_run=dry_run)
    if summary:
        click.echo(
            f"created {out} ({summary}; {len(classroom.students)} students, "
            f"{classroom.delivery}); secrets are in {out / 'secrets'}"
        )


def _existing_seed(path: Path) -> str | None:
    """The seed of the class folder being replaced, so that its passwords stay the same."""
    try:
        seed = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return seed if len(seed) == 64 and set(seed) <= set(string.hexdigits) else None
