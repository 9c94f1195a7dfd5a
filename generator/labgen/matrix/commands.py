"""`labgen matrix` as a plain function: run the combinations, write the doc and its JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from labgen.atomic import write_text_atomic
from labgen.errors import UsageError
from labgen.matrix import markdown
from labgen.matrix.model import disagreements, missing_scenarios, to_json
from labgen.matrix.run import run_matrix, select


def make_matrix(
    only: Sequence[str], out: Path, mirror: str | None, runtime: str | None, timeout: float
) -> bool:
    """Writes OUT (Markdown) and OUT with .json; True when every run finished and agrees
    with the scenario data. The files are written either way: they say what happened."""
    combos = select(only)
    if out.suffix != ".md":
        raise UsageError(f"--out {out}: give a .md file; the JSON goes beside it")
    data = out.with_suffix(".json")
    matrix = run_matrix(combos, mirror, runtime, timeout, lambda line: click.echo(line, err=True))
    write_text_atomic(data, to_json(matrix))
    write_text_atomic(out, markdown.render(matrix, data.name))
    click.echo(f"wrote {out} and {data}")
    problems = disagreements(matrix) + ([] if only else missing_scenarios(matrix))
    for problem in problems:
        click.echo(f"labgen: matrix: {problem}", err=True)
    return not problems
