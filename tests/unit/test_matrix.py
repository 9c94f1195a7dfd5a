"""The committed fidelity matrix against the scenario data, and `labgen matrix` without an engine."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from helpers import REPO_ROOT
from labgen.cli import cli
from labgen.errors import LabgenError
from labgen.matrix import inputs, markdown, model, run
from labgen.matrix.model import Matrix, disagreements, from_json, missing_scenarios
from labgen.steps.scenario import Scenario

DOC = REPO_ROOT / "docs" / "fidelity-matrix.md"
DATA = DOC.with_suffix(".json")


def committed() -> Matrix:
    return from_json(DATA.read_text(encoding="utf-8"))


def test_committed_matrix_agrees_with_the_scenario_data() -> None:
    matrix = committed()
    assert disagreements(matrix) == []
    assert missing_scenarios(matrix) == []
    # Every combination of the matrix ran, and nothing else.
    assert [r.name for r in matrix.runs] == [c.name for c in run.COMBOS]


def test_committed_matrix_was_made_from_the_checkouts_inputs() -> None:
    assert inputs.checkout_root() == REPO_ROOT
    assert inputs.staleness(committed().inputs, REPO_ROOT) == []


def test_an_edited_scenario_makes_the_matrix_stale_and_a_handout_edit_does_not(
    tmp_path: Path,
) -> None:
    for name in inputs.input_files(REPO_ROOT):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((REPO_ROOT / name).read_bytes())
    made_from = inputs.inputs_digest(REPO_ROOT)
    assert inputs.staleness(made_from, tmp_path) == []

    handout = tmp_path / "templates" / "handout.en.md.j2"
    handout.write_text("edited\n")
    assert inputs.staleness(made_from, tmp_path) == []

    scenario = tmp_path / "generator" / "labgen" / "scenarios" / "secure.yaml"
    text = scenario.read_text(encoding="utf-8")
    scenario.write_text(text.replace("retries: 15", "retries: 16", 1), encoding="utf-8")
    problems = inputs.staleness(made_from, tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"the matrix was made from inputs {made_from[:12]}, ")
    assert problems[0].endswith("run `sudo make matrix` again")


def test_committed_doc_is_rendered_from_the_committed_json() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown.render(committed(), DATA.name)


def _cell(matrix: Matrix, step: str, host: str) -> model.Cell:
    return next(c for r in matrix.runs for c in r.cells if (c.step, c.host) == (step, host))


def test_a_claim_missing_from_the_matrix_is_named() -> None:
    matrix = committed()
    matrix.runs[0].cells = [c for c in matrix.runs[0].cells if c.step != "tag-lan"]
    assert disagreements(matrix) == [
        "part1-debian12-docker: tag-lan on registry: in the scenario, not in the matrix"
    ]


def test_a_verdict_other_than_the_scenario_data_is_named() -> None:
    matrix = committed()
    _cell(matrix, "push-lan-untagged", "registry").status = "pass"
    problems = disagreements(matrix)
    assert len(problems) == 1
    assert problems[0].startswith(
        "part1-debian12-docker: push-lan-untagged on registry (docker 20.10.24+dfsg1): the "
        "matrix says pass, the scenario data deviation"
    )


def test_a_deviation_with_another_text_is_named() -> None:
    matrix = committed()
    cell = _cell(matrix, "push-lan-untagged", "registry")
    cell.text = cell.text.replace("tag does not exist", "An image does not exist locally")
    assert [p.split(": ", 2)[2][:40] for p in disagreements(matrix)] == [
        "the matrix's text lacks the scenario's '"
    ]


def test_a_deviation_the_matrix_lacks_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The other way round: the scenario data documents a deviation the run did not see."""
    loaded = model.load_scenario

    def claims_a_deviation(spec: object) -> Scenario:
        scenario = loaded(spec)  # type: ignore[arg-type]
        deviating = next(s for s in scenario.steps if s.real and s.engine == "docker")
        steps = tuple(
            dataclasses.replace(s, reals=deviating.reals) if s.id == "tag-local" else s
            for s in scenario.steps
        )
        return dataclasses.replace(scenario, steps=steps)

    monkeypatch.setattr(model, "load_scenario", claims_a_deviation)
    matrix = committed()
    problems = disagreements(matrix)
    assert [p.split(", the scenario")[0] for p in problems] == [
        f"{r.name}: tag-local on registry ({r.engines['registry']}): the matrix says pass"
        for r in matrix.runs
        if r.scenario == "insecure"
    ]
    assert problems


def test_a_deviation_is_matched_by_engine_and_major_version() -> None:
    """The scenario keys `real` by engine version (docker-20, docker-26): a version it has
    no key for is expected to do what the post claims, and another engine is named."""
    matrix = committed()
    [first] = [r for r in matrix.runs if r.name == "part1-debian12-docker"]
    first.engines["registry"] = "docker 27.0.1"
    for cell in first.cells:
        if cell.host == "registry":
            cell.engine = "docker 27.0.1"
    assert disagreements(matrix) == [
        "part1-debian12-docker: push-lan-untagged on registry (docker 27.0.1): the matrix says "
        "deviation, the scenario data pass; fix the scenario's `real`, or run the matrix again"
    ]
    _cell(matrix, "tag-lan", "registry").engine = "podman 5.4.2"
    assert disagreements(matrix)[-1] == (
        "part1-debian12-docker: tag-lan on registry (podman 5.4.2): the scenario runs it with "
        "docker; run the matrix again"
    )


def test_a_run_that_stopped_and_a_scenario_never_run_are_named() -> None:
    matrix = committed()
    matrix.runs[-1].error = "up: the node image is missing"
    assert disagreements(matrix) == [
        f"{matrix.runs[-1].name}: the run did not finish (up: the node image is missing); "
        "run it again"
    ]
    matrix.runs = [r for r in matrix.runs if r.scenario == "insecure"]
    assert missing_scenarios(matrix) == [
        "scenario secure: no run in the matrix; run `labgen matrix` with a combination of it"
    ]


def test_json_is_read_back_strictly() -> None:
    text = DATA.read_text(encoding="utf-8").replace('"cells"', '"cels"', 1)
    with pytest.raises(msgspec.ValidationError):
        from_json(text)
    assert from_json(model.to_json(committed())) == committed()


def test_doc_escapes_table_cells_and_numbers_the_texts() -> None:
    matrix = committed()
    matrix.runs = matrix.runs[:1]  # part1-debian12-docker alone
    _cell(matrix, "tag-lan", "registry").claim = "failure with 'a | b'"
    doc = markdown.render(matrix, "m.json")
    assert "| `tag-lan` | registry | failure with 'a \\| b' | holds |" in doc
    assert "| `push-lan-untagged` | registry | success | deviates [3] |" in doc
    assert (
        "3. `push-lan-untagged` on registry, docker 20.10.24+dfsg1 (part1-debian12-docker)" in doc
    )


def test_one_combination_failing_does_not_stop_the_next(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    downs: list[str] = []

    def up_fails(lab: object, *args: object) -> None:
        raise LabgenError("compose up: no such image labgen/node:bookworm")

    monkeypatch.setattr(run, "up_lab", up_fails)
    monkeypatch.setattr(run, "down_lab", lambda lab, backend: downs.append(lab.spec.name))  # type: ignore[attr-defined]
    lines: list[str] = []
    matrix = run.run_matrix(run.COMBOS, None, None, 10, lines.append)
    assert {r.error for r in matrix.runs} == {"compose up: no such image labgen/node:bookworm"}
    assert downs == [f"matrix-{combo.name}" for combo in run.COMBOS]
    assert all(set(r.seconds) == {"up", "down"} and not r.cells for r in matrix.runs)
    assert {r.registry for r in matrix.runs} == {""}
    secure = next(r for r in matrix.runs if r.scenario == "secure")
    assert "password" not in secure.spec["auth"]
    assert lines[-1].startswith(f"matrix: {run.COMBOS[-1].name}: compose up: no such image")


def test_a_tool_missing_stops_one_run_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: object) -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "docker")

    monkeypatch.setattr(run, "up_lab", missing)
    monkeypatch.setattr(run, "down_lab", missing)
    matrix = run.run_matrix(run.COMBOS[:2], None, None, 10, lambda line: None)
    line = "docker: No such file or directory; check that the path exists"
    assert [r.error for r in matrix.runs] == [f"{line}; {line}"] * 2


def test_cli_refuses_an_unknown_combination_and_a_non_markdown_out(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["matrix", "--only", "part9-debian99-docker"])
    assert done.exit_code == 2
    assert done.output.splitlines() == [
        "labgen: error: --only part9-debian99-docker: no such combination; use one of "
        "part1-debian12-docker, part1-debian13-docker, part1-debian13-podman, part2-debian12-docker, "
        "part2-debian13-docker, part2-debian13-podman"
    ]
    done = runner.invoke(cli, ["matrix", "--out", str(tmp_path / "m.txt")])
    assert done.exit_code == 2
    assert "give a .md file" in done.output
    assert not list(tmp_path.iterdir())


def test_an_engine_with_its_own_claim_gets_its_own_row() -> None:
    matrix = committed()
    matrix.runs = [r for r in matrix.runs if r.scenario == "insecure"][:2]
    claim = "failure with 'pinging container registry'"
    next(c for c in matrix.runs[1].cells if c.step == "pull-lan-before-config").claim = claim
    rows = [
        line for line in markdown.render(matrix, "m.json").splitlines() if "before-config" in line
    ]
    assert rows[0].endswith("| fails as claimed [1] | — |")
    assert rows[1] == f"| `pull-lan-before-config` | client | {claim} | — | fails as claimed [2] |"


def test_a_step_an_engine_lacks_is_a_dash_and_a_stopped_run_not_run() -> None:
    matrix = committed()
    [podman] = [r for r in matrix.runs if r.name == "part1-debian13-podman"]
    matrix.runs = [matrix.runs[0], podman]
    restart = "| `restart-docker` | client | success | holds | "
    assert f"{restart}— |" in markdown.render(matrix, "m.json")
    podman.error, podman.cells = "up: timed out", []
    assert f"{restart}not run |" in markdown.render(matrix, "m.json")


def test_nothing_below_the_matrix_imports_it() -> None:
    # The matrix sits on top of the single-lab pipeline: only cli.py may name it.
    package = Path(run.__file__).resolve().parent.parent
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "labgen.matrix" in path.read_text(encoding="utf-8") and path.parent.name != "matrix"
    )
    assert importers == ["cli.py"]


def test_cli_writes_the_doc_and_exits_1_when_a_run_disagrees(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from labgen.matrix import commands

    matrix = committed()
    matrix.runs = matrix.runs[:1]
    _cell(matrix, "tag-lan", "registry").status = "fail"
    monkeypatch.setattr(commands, "run_matrix", lambda *args: matrix)
    out = tmp_path / "m.md"
    done = CliRunner().invoke(cli, ["matrix", "--only", matrix.runs[0].name, "--out", str(out)])
    assert done.exit_code == 1
    assert "labgen: matrix: part1-debian12-docker: tag-lan on registry" in done.output
    assert from_json(out.with_suffix(".json").read_text()) == matrix
    assert out.read_text() == markdown.render(matrix, "m.json")
    assert "| `tag-lan` | registry | success | **FAILS** |" in out.read_text()
