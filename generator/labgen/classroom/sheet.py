"""CSV files a teacher opens in a spreadsheet (report.csv, roster.csv, credentials.csv): every
cell is inert, whatever a roster or a submission put in it."""

from __future__ import annotations

import csv
import io

# What makes a spreadsheet read a cell as a formula, or as DDE in older ones.
_ACTIVE = ("=", "+", "-", "@", "|", "%")


def inert(value: str) -> str:
    """`value` as a cell no spreadsheet runs: line breaks become spaces (a cell stays on one
    line for every importer) and one that starts, after any blanks, as a formula would is
    kept as text by a leading apostrophe."""
    value = " ".join(value.splitlines()).replace("\t", " ")
    if value.lstrip().startswith(_ACTIVE):
        return "'" + value
    return value


def csv_lines(rows: list[list[str]]) -> str:
    """The rows as CSV text, each cell made inert."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([inert(cell) for cell in row])
    return out.getvalue()
