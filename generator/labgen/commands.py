"""`labgen create` as a plain function that prints a short report."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from labgen.render.plan import BackendChoice, plan_lab
from labgen.render.write import compare, write_lab
from labgen.spec.parse import load_spec


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
    files = plan_lab(spec, cast(BackendChoice, backend))
    out = out or Path("labs") / spec.name
    if dry_run:
        for item in compare(files, out):
            click.echo(f"{item.status:8} {item.path}")
        click.echo(f"dry run: nothing written to {out}")
        return
    written = write_lab(files, out, force=force)
    counts = {
        status: sum(1 for w in written if w.status == status)
        for status in ("new", "changed", "same")
    }
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    click.echo(f"created {out} ({len(written)} files: {summary}; {spec.mode} mode)")
