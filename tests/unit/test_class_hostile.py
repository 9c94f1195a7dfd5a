"""`class create`, `class report` and `labgen submit`'s reader driven with generated hostile
input: roster bytes, submission JSON trees, file names with control characters, extreme
dates. Whatever comes in: no traceback, one line per problem with nothing raw from the input
(no newline, no terminal escape), and a report written whenever one can be.

30 examples each keep the unit suite quick; LABGEN_HYPOTHESIS_EXAMPLES=300 searches longer."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from classkit import ALL, at, first, submission
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from labgen.cli import cli
from labgen.submit import parse_submission

FAST = settings(
    max_examples=int(os.environ.get("LABGEN_HYPOTHESIS_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # Shrinking a folder of files takes minutes; a failure prints its example unshrunk.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
# No control character reaches the terminal: C0 but newline (between lines), DEL, C1, bidi.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
dates = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00-23:59",
        "0999-06-01T12:00:00Z",
        "2026-11-28T08:05:00+08:00",
        "2099-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",
        "2026-02-30T00:00:00Z",
        "not a date",
    ]
)
# Any file name Linux allows but hidden ones (the system's, skipped without a word).
file_names = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
).filter(lambda name: not name.startswith(".") and len(name.encode()) < 200)


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    assert not RAW.search(result.output), result.output
    return result


@st.composite
def submissions(draw: st.DrawFn) -> object:
    """A real submission with some fields replaced by anything, or any JSON at all."""
    student = draw(st.sampled_from(["alice", "bob", "carol", "zed"]))
    content: dict[str, Any] = submission(
        student,
        at(draw(st.integers(0, 59))),
        draw(st.sampled_from([ALL, first(2)])),
        draw(st.sampled_from(["E1", "E2", "E3"])),
    )
    if draw(st.booleans()):
        content["created_at"] = draw(dates)
    for key in draw(st.lists(st.sampled_from(sorted(content)), max_size=2)):
        content[key] = draw(json_values)
    return draw(st.one_of(st.just(content), json_values))


def class_folder(root: Path) -> Path:
    folder = root / "ws"
    folder.mkdir()
    spec = {"name": "ws", "delivery": "byod", "students": ["alice", "bob", "carol"]}
    (folder / "class.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder


@FAST
@given(
    st.lists(
        st.tuples(file_names, submissions(), st.booleans()), max_size=6, unique_by=lambda f: f[0]
    )
)
def test_class_report_reads_anything_and_names_each_file_it_does_not_use(
    files: list[tuple[str, object, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = class_folder(Path(tmp))
        inbox = Path(tmp) / "inbox"
        for name, content, in_subfolder in files:
            where = inbox / "sub" if in_subfolder else inbox
            where.mkdir(parents=True, exist_ok=True)
            (where / name).write_text(json.dumps(content), encoding="utf-8")
        inbox.mkdir(exist_ok=True)
        result = run("class", "report", str(folder), "--submissions", str(inbox))
        assert result.exit_code == 0
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        used = sum(1 for row in report["students"] if row["state"] == "graded")
        warnings = [
            line for line in result.output.splitlines() if line.startswith("labgen: warning: ")
        ]
        # A file dated far after the others is used when it is its student's only one, and named.
        doubted = sum(1 for line in warnings if line.endswith("'s only file"))
        assert len(warnings) == len(files) - used + doubted == len(report["problems"]), (
            result.output
        )
        assert all(line.startswith(f"labgen: warning: {inbox}/") for line in warnings)


roster_cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ['"', '"unclosed', 'a,"b', "\x1b[2J", "=1+1", "\u202e", "id", "", "alice", "s01"]
    ),
)


@FAST
@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(st.lists(roster_cells, max_size=4), max_size=8).map(
            lambda rows: "\n".join(",".join(row) for row in rows).encode()
        ),
    )
)
def test_class_create_takes_any_roster_in_one_line_per_problem(roster: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "roster.csv").write_bytes(roster)
        spec = root / "class.yaml"
        spec.write_text(yaml.safe_dump({"name": "ws", "students": "roster.csv"}), encoding="utf-8")
        out = root / "out"
        result = run("class", "create", str(spec), "--out", str(out))
        assert result.exit_code in (0, 2)
        if result.exit_code == 0:
            assert (out / "class.yaml").is_file() and (out / "roster.csv").is_file()
        else:
            assert not out.exists()
            for line in result.output.splitlines():
                assert re.match(r"^labgen: (error: )?\S", line), line


@FAST
@given(
    st.one_of(
        st.binary(max_size=400),
        json_values.map(lambda v: json.dumps(v).encode()),
        submissions().map(lambda v: json.dumps(v).encode()),
    )
)
def test_submit_reader_says_one_line_whatever_the_bytes(raw: bytes) -> None:
    try:
        parse_submission(raw)
    except ValueError as error:
        message = str(error)
        assert message and "\n" not in message and not RAW.search(message), message
