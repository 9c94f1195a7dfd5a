"""What a matrix run found, as the committed JSON holds it, and whether it agrees with the
scenario data (the test of the committed matrix, and `labgen matrix` itself, ask)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import msgspec

from labgen.check.results import Status
from labgen.spec.parse import parse_spec
from labgen.steps.scenario import load_scenario, real_for

# 2: the inputs digest and commit the matrix was made from
MATRIX_FORMAT = 2
# A stand-in password: the agreement check needs a secure spec, never the run's own.
CHECK_PASSWORD = "matrix-check"


@dataclass(frozen=True)
class Combo:
    """One combination the matrix runs: a scenario on an OS with each host's engine."""

    name: str
    label: str  # the column header in the doc
    spec: dict[str, Any]  # lab spec fields over the default lab


class Cell(msgspec.Struct, forbid_unknown_fields=True):
    """One step of the tutorial on one host: what the claim is and what the engine did."""

    step: str
    host: str
    engine: str  # "docker 20.10.24+dfsg1"
    claim: str  # as the check report says it: success, or failure with 'text'
    status: Status  # the check's verdict
    text: str  # what the engine printed (excerpt), for anything but a plain pass
    detail: str


class Run(msgspec.Struct, forbid_unknown_fields=True):
    """One combination run once: up, check --mode solve, down."""

    name: str
    label: str
    scenario: str
    spec: dict[str, Any]  # the lab's spec as lab.yaml holds it, without the password
    engines: dict[str, str]  # host -> engine and version
    registry: str  # the registry image and the version it reports
    error: str  # why the run stopped early ("" when it did not)
    seconds: dict[str, float]  # up, check, down
    cells: list[Cell]


class Matrix(msgspec.Struct, forbid_unknown_fields=True):
    format: int
    labgen: str
    date: str  # UTC, when the run started
    inputs: str  # sha256 of what the runs depend on (labgen.matrix.inputs)
    commit: str  # the checkout's commit then ("+changes": inputs differed from it)
    runs: list[Run]


def to_json(matrix: Matrix) -> str:
    return msgspec.json.format(msgspec.json.encode(matrix).decode(), indent=2) + "\n"


def from_json(text: str) -> Matrix:
    """Raises msgspec.ValidationError / DecodeError saying where the text is not a matrix."""
    return msgspec.json.decode(text, type=Matrix)


Expected = Literal["pass", "expected-failure", "deviation"]


def scenario_names() -> list[str]:
    folder = resources.files("labgen").joinpath("scenarios")
    return sorted(
        f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml")
    )


def expected_cells(
    spec_data: dict[str, Any], engines: dict[str, str]
) -> dict[tuple[str, str], tuple[str, Expected, str | None]]:
    """(step, host) -> the engine the scenario runs it with there, the verdict its data
    predicts for the engine version `engines` recorded (host -> "docker 26.1.5"), and
    the text the output must then contain (None: any)."""
    spec, _ = parse_spec(_with_check_password(spec_data))
    expected: dict[tuple[str, str], tuple[str, Expected, str | None]] = {}
    for step in load_scenario(spec).steps:
        for host in step.hosts:
            real = real_for(step.reals, step.engine, _major(engines.get(host.name, "")))
            if real:
                verdict: tuple[Expected, str | None] = ("deviation", real.outcome.error)
            elif step.post.ok:
                verdict = ("pass", None)
            else:
                verdict = ("expected-failure", step.post.error)
            expected[(step.id, host.name)] = (step.engine, *verdict)
    return expected


def _major(engine: str) -> int | None:
    """26 for "docker 26.1.5+dfsg1"; None for "docker (version unknown)"."""
    found = re.match(r"\S+ (\d+)\.", engine)
    return int(found.group(1)) if found else None


def _with_check_password(spec_data: dict[str, Any]) -> dict[str, Any]:
    if spec_data.get("scenario") != "secure":
        return spec_data
    return {**spec_data, "auth": {**spec_data.get("auth", {}), "password": CHECK_PASSWORD}}


def missing_scenarios(matrix: Matrix) -> list[str]:
    """A line for each scenario no run of the matrix replayed."""
    return [
        f"scenario {name}: no run in the matrix; run `labgen matrix` with a combination of it"
        for name in scenario_names()
        if name not in {run.scenario for run in matrix.runs}
    ]


def disagreements(matrix: Matrix) -> list[str]:
    """Where the matrix and the scenario data disagree, one line each: a run that did not
    finish, a claim missing or extra, a verdict or real text other than the data says."""
    problems = []
    for run in matrix.runs:
        if run.error:
            problems.append(f"{run.name}: the run did not finish ({run.error}); run it again")
            continue
        expected = expected_cells(run.spec, run.engines)
        seen = {(cell.step, cell.host): cell for cell in run.cells}
        for key in expected.keys() - seen.keys():
            problems.append(f"{run.name}: {key[0]} on {key[1]}: in the scenario, not in the matrix")
        for key in seen.keys() - expected.keys():
            problems.append(f"{run.name}: {key[0]} on {key[1]}: in the matrix, not in the scenario")
        for key in sorted(expected.keys() & seen.keys()):
            engine, status, text = expected[key]
            cell = seen[key]
            where = f"{run.name}: {cell.step} on {cell.host} ({cell.engine})"
            if cell.engine.split(" ")[0] != engine:
                problems.append(
                    f"{where}: the scenario runs it with {engine}; run the matrix again"
                )
            elif cell.status != status:
                problems.append(
                    f"{where}: the matrix says {cell.status}, the scenario data {status}; "
                    "fix the scenario's `real`, or run the matrix again"
                )
            elif text is not None and text not in cell.text:
                problems.append(
                    f"{where}: the matrix's text lacks the scenario's {text!r}; "
                    "fix the scenario's `real`, or run the matrix again"
                )
    return problems
