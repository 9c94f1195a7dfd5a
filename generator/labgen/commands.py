"""`labgen create` as a plain function that prints a short report."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from labgen.render.plan import BackendChoice, PlannedFile, plan_lab
from labgen.render.write import STATE_DIRS, compare, target_folder, with_manifest, write_lab
from labgen.spec.parse import kept_password, load_spec, with_password


def create_lab(
    spec_path: Path | None,
    out: Path | None,
    backend: str,
    *,
    mirror: str | None,
    force: bool,
    dry_run: bool,
) -> None:
    spec, warnings = load_spec(spec_path, {"mirror": mirror} if mirror else {})
    for warning in warnings:
        click.echo(f"labgen: warning: {warning}", err=True)
    out = out or Path("labs") / spec.name
    target_folder(out)  # a folder that cannot be one is refused before anything is read
    spec = with_password(spec, kept_password(out))
    files = plan_lab(spec, cast(BackendChoice, backend))
    summary = write_folder(files, out, force=force, dry_run=dry_run)
    if summary:
        click.echo(f"created {out} ({summary}; {spec.mode} mode)")


def write_folder(
    files: list[PlannedFile],
    out: Path,
    *,
    force: bool,
    dry_run: bool,
    keep: tuple[str, ...] = STATE_DIRS,
) -> str | None:
    """Write a planned folder, or with `dry_run` list what would change. Returns a summary
    of what was written (None on a dry run). `keep`: entries of the replaced folder kept."""
    if dry_run:
        for item in compare(with_manifest(files), out):
            click.echo(f"{item.status:8} {item.path}")
        click.echo(f"dry run: nothing written to {out}")
        return None
    written = write_lab(files, out, force=force, keep=keep)
    counts = {
        status: sum(1 for w in written if w.status == status)
        for status in ("new", "changed", "same")
    }
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    return f"{len(written)} files: {summary}"
