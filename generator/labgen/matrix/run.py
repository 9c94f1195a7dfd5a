"""Run each combination: create a lab in a temp folder, bring it up on the compose backend,
replay the tutorial (check --mode solve), take it down, and keep per step and host what the
engine did. One combination failing is recorded and the others still run."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labgen import __version__
from labgen.backends.base import Backend
from labgen.check import report as check_report
from labgen.check import runner
from labgen.check.results import CheckResult
from labgen.errors import LabgenError, UsageError, os_error_line
from labgen.lab import open_lab
from labgen.live import down_lab, make_backend, up_lab
from labgen.matrix.model import MATRIX_FORMAT, Cell, Combo, Matrix, Run
from labgen.render import quoting
from labgen.render.plan import plan_lab
from labgen.render.write import write_lab
from labgen.spec.model import LabSpec
from labgen.spec.parse import parse_spec, spec_to_data, with_password
from labgen.steps.scenario import load_scenario
from labgen.submit import utc_text

COMBOS = (
    Combo(
        "part1-debian12-docker", "debian-12, docker", {"scenario": "insecure", "os": "debian-12"}
    ),
    Combo(
        "part1-debian13-docker", "debian-13, docker", {"scenario": "insecure", "os": "debian-13"}
    ),
    Combo(
        "part1-debian13-podman",
        "debian-13, podman client",
        {
            "scenario": "insecure",
            "os": "debian-13",
            "hosts": [
                {"name": "registry", "ip": "192.168.56.101", "role": "registry"},
                {"name": "client", "ip": "192.168.56.102", "role": "client", "engine": "podman"},
            ],
        },
    ),
    # Part 2 has no podman combination: podman clients have part 1's steps only.
    Combo("part2-debian12-docker", "debian-12, docker", {"scenario": "secure", "os": "debian-12"}),
    Combo("part2-debian13-docker", "debian-13, docker", {"scenario": "secure", "os": "debian-13"}),
)
# The registry the steps talked to: its own version line, and whether the image is the
# stand-in sandbox/images.sh builds offline (it carries this label).
REGISTRY_PROBE = (
    "docker exec registry registry --version | tail -n 1 && "
    "docker image inspect --format '{{{{index .Config.Labels \"labgen.stand-in\"}}}}' {image}"
)

Echo = Callable[[str], None]


def select(only: Sequence[str]) -> list[Combo]:
    """The combinations named in `only` (all when empty), in the matrix's order."""
    names = [c.name for c in COMBOS]
    unknown = [name for name in only if name not in names]
    if unknown:
        raise UsageError(
            f"--only {','.join(unknown)}: no such combination; use one of {', '.join(names)}"
        )
    return [c for c in COMBOS if not only or c.name in only]


def run_matrix(
    combos: Sequence[Combo], mirror: str | None, runtime: str | None, timeout: float, echo: Echo
) -> Matrix:
    started = datetime.now(UTC)
    runs = []
    for index, combo in enumerate(combos, start=1):
        echo(f"matrix: [{index}/{len(combos)}] {combo.name}")
        with tempfile.TemporaryDirectory(prefix="labgen-matrix-") as work:
            run = run_combo(combo, Path(work) / combo.name, mirror, runtime, timeout, echo)
        echo(f"matrix: {combo.name}: {summary(run)}")
        runs.append(run)
    return Matrix(format=MATRIX_FORMAT, labgen=__version__, date=utc_text(started), runs=runs)


def summary(run: Run) -> str:
    counts: dict[str, int] = {}
    for cell in run.cells:
        counts[cell.status] = counts.get(cell.status, 0) + 1
    told = ", ".join(f"{n} {status}" for status, n in counts.items())
    times = ", ".join(f"{phase} {s:.1f} s" for phase, s in run.seconds.items())
    return f"{run.error or told} ({times})"


def run_combo(
    combo: Combo,
    folder: Path,
    mirror: str | None,
    runtime: str | None,
    timeout: float,
    echo: Echo,
) -> Run:
    """Create, up, solve, down; whatever fails is the run's `error`, and down always runs
    once up was tried."""
    run = Run(
        name=combo.name,
        label=combo.label,
        scenario=str(combo.spec.get("scenario")),
        spec=combo.spec,
        engines={},
        registry="",
        error="",
        seconds={},
        cells=[],
    )
    errors: list[str] = []
    lab = None
    try:
        data: dict[str, Any] = {"name": f"matrix-{combo.name}", **combo.spec}
        spec = with_password(parse_spec({**data, "mirror": mirror} if mirror else data)[0])
        run.spec = spec_to_data(spec)
        run.spec.get("auth", {}).pop("password", None)
        write_lab(plan_lab(spec, "compose"), folder, force=False)
        lab = open_lab(folder)
        with _timed(run, "up"):
            up_lab(lab, "compose", runtime, None)
        backend = make_backend(lab, "compose")

        def on_start(item: str, host: str, index: int, total: int) -> None:
            echo(f"matrix: {combo.name}: [{index}/{total}] {item} on {host}")

        with _timed(run, "check"):
            report = runner.solve(
                backend, load_scenario(spec), spec.name, timeout, on_start, _ignore
            )
        run.registry = _registry(backend, spec, timeout)
        run.engines = report.engines
        run.cells = [_cell(result) for result in check_report.to_dict(report)["results"]]
    except (LabgenError, OSError) as error:
        errors.append(_line(error))
    finally:
        if lab is not None:
            try:
                with _timed(run, "down"):
                    down_lab(lab, "compose")
            except (LabgenError, OSError) as error:
                errors.append(_line(error))
    run.error = "; ".join(line for e in errors for line in e.splitlines())
    return run


def _line(error: LabgenError | OSError) -> str:
    return os_error_line(error) if isinstance(error, OSError) else str(error)


@contextmanager
def _timed(run: Run, phase: str) -> Iterator[None]:
    """Record how long `phase` took, also when it fails."""
    clock = time.monotonic()
    try:
        yield
    finally:
        run.seconds[phase] = round(time.monotonic() - clock, 1)


def _registry(backend: Backend, spec: LabSpec, timeout: float) -> str:
    """`registry github.com/docker/distribution 2.8.2+ds1`, and whether it is the stand-in."""
    probe = REGISTRY_PROBE.format(image=quoting.shell(spec.registry.image))
    found = backend.exec(spec.registry_host.name, probe, timeout)
    lines = found.stdout.splitlines()
    if found.exit_code != 0 or not lines:
        return "unknown"
    stand_in = " (labgen's offline stand-in)" if len(lines) > 1 and lines[1].strip() else ""
    return f"{spec.registry.image}: {lines[0].strip()}{stand_in}"


def _cell(result: dict[str, Any]) -> Cell:
    return Cell(
        step=result["id"],
        host=result["host"],
        engine=result["engine"],
        claim=result["expected"],
        status=result["status"],
        text="" if result["status"] == "pass" else result["excerpt"],
        detail=result["detail"],
    )


def _ignore(result: CheckResult) -> None:
    """Results are read from the finished report; progress comes from on_start."""
