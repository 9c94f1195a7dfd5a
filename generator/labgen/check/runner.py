"""Run the scenario against a live lab through a backend, and judge every outcome."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Literal

from labgen.backends.base import Backend, ExecResult
from labgen.check.results import CheckReport, CheckResult, Status
from labgen.errors import LabgenError
from labgen.spec.model import Host
from labgen.steps.scenario import Deviation, Goal, Outcome, Scenario, Step, mask, real_for

Mode = Literal["solve", "grade", "auto"]
# Called before each step or goal runs, with its id and host (progress, tests' fault hooks).
OnStart = Callable[[str, str, int, int], None]
# Called with each finished result.
OnResult = Callable[[CheckResult], None]

RETRY_PAUSE_S = 2.0
EXCERPT_LINES = 6
EXCERPT_CHARS = 600


# Whether the registry host has a container named registry, as one command whose exit
# code tells the cases apart: 0 it has one, FRESH none (the engine answered the listing),
# ENGINE_DOWN its engine did not answer. Any other code: the host itself could not run it.
FRESH = 10
ENGINE_DOWN = 11
REGISTRY_PROBE = (
    f"names=$(docker container ls --all --format '{{{{.Names}}}}') || exit {ENGINE_DOWN}; "
    f"printf '%s\\n' \"$names\" | grep -qx registry || exit {FRESH}"
)
# A lab that continues from part 1 starts with part 1's registry: one run without TLS is
# as fresh as none.
PART1_REGISTRY_PROBE = (
    f"{REGISTRY_PROBE}; "
    "env=$(docker container inspect -f '{{range .Config.Env}}{{println .}}{{end}}' registry) "
    f"|| exit {ENGINE_DOWN}; "
    f"printf '%s\\n' \"$env\" | grep -q '^REGISTRY_HTTP_TLS_CERTIFICATE=' || exit {FRESH}"
)


# How each engine tells its version (podman has no server: its client is the engine).
VERSION_COMMANDS = {
    "docker": "docker version --format '{{.Server.Version}}'",
    "podman": "podman version --format '{{.Client.Version}}'",
}


@dataclass(frozen=True)
class EngineInfo:
    """A host's engine as probed: the name a verdict is for, and the major version that
    picks the scenario's measured deviations."""

    label: str  # "docker 26.1.5+dfsg1", or "docker (version unknown)"
    engine: str
    major: int | None


def probe_engine(backend: Backend, host: Host, timeout: float) -> EngineInfo:
    """Ask the host's engine its version, once per check."""
    asked = backend.exec(host.name, VERSION_COMMANDS[host.engine], timeout)
    version = asked.stdout.strip().splitlines()[-1:] if asked.exit_code == 0 else []
    match = re.match(r"(\d+)\.\d+", version[0]) if version else None
    if not match:
        return EngineInfo(f"{host.engine} (version unknown)", host.engine, None)
    return EngineInfo(f"{host.engine} {version[0]}", host.engine, int(match.group(1)))


def probe_engines(backend: Backend, hosts: Sequence[Host], timeout: float) -> dict[str, EngineInfo]:
    seen: dict[str, Host] = {h.name: h for h in hosts}
    return {name: probe_engine(backend, host, timeout) for name, host in seen.items()}


def choose_mode(
    backend: Backend, registry_host: str, timeout: float, from_part1: bool = False
) -> Literal["solve", "grade"]:
    """Solve (replay the tutorial, which changes the lab) only where the registry host
    answered and has no registry container (or, continuing from part 1, only part 1's);
    grade where it has one. Any other answer (host down, timeout, engine not answering)
    may hide a student's work: stop and say why."""
    probe = backend.exec(
        registry_host, PART1_REGISTRY_PROBE if from_part1 else REGISTRY_PROBE, timeout
    )
    if probe.exit_code == 0:
        return "grade"
    if probe.exit_code == FRESH:
        return "solve"
    if probe.timed_out:
        reason = f"did not answer within {timeout:g} s"
    elif probe.error:
        reason = f"could not be reached ({probe.error})"
    elif probe.exit_code == ENGINE_DOWN:
        reason = "answered, but its Docker engine did not"
    else:
        last = probe.output.splitlines()[-1:] or ["no output"]
        reason = f"could not be examined (exit {probe.exit_code}: {last[0][:200]})"
    raise LabgenError(
        f"check --mode auto: the registry host {registry_host} {reason}, so it is not known to "
        "be a fresh lab; bring it up (labgen status shows it), or choose --mode grade or solve"
    )


def solve(
    backend: Backend,
    scenario: Scenario,
    lab: str,
    timeout: float,
    on_start: OnStart,
    on_result: OnResult,
) -> CheckReport:
    """Replay every step in order; a step on several hosts runs on them at once (a student
    types it in each host's terminal). After the first step that fails or could not be
    checked the rest are skipped (they build on it)."""
    report = CheckReport(lab=lab, mode="solve", backend=backend.name)
    engines = probe_engines(backend, [h for s in scenario.steps for h in s.hosts], timeout)
    report.engines = {name: info.label for name, info in engines.items()}
    blocked = ""  # why the remaining steps are skipped

    def run(step: Step, host: str) -> CheckResult:
        if blocked:
            return CheckResult(
                step.id,
                host,
                step.title.en,
                step.run,
                "skipped",
                0.0,
                _claim(step.post),
                detail=blocked,
                engine=engines[host].label,
            )
        return _run_step(backend, step, host, engines[host], timeout, scenario.secrets)

    batches = [[(s.id, h.name, partial(run, s, h.name)) for h in s.hosts] for s in scenario.steps]
    start = time.monotonic()
    total = sum(map(len, batches))
    for batch in batches:
        results = _run_batch(report, batch, total, scenario.secrets, on_start, on_result)
        statuses = {r.status for r in results}
        if not blocked and "fail" in statuses:
            blocked = "an earlier step failed"
        elif not blocked and "unknown" in statuses:
            blocked = "an earlier step could not be checked"
    report.duration = time.monotonic() - start
    return report


def grade(
    backend: Backend,
    scenario: Scenario,
    lab: str,
    timeout: float,
    on_start: OnStart,
    on_result: OnResult,
) -> CheckReport:
    """Check every goal on every host it concerns. Goals only read state and change
    nothing, so the hosts are checked at once, each host's goals in order."""
    report = CheckReport(lab=lab, mode="grade", backend=backend.name)
    runs = [(goal, host.name) for goal in scenario.goals for host in goal.hosts]
    engines = probe_engines(backend, [h for g in scenario.goals for h in g.hosts], timeout)
    report.engines = {name: info.label for name, info in engines.items()}
    secrets = scenario.secrets
    checks = [
        (g.id, h, partial(_run_goal, backend, g, h, engines[h], timeout, secrets)) for g, h in runs
    ]
    start = time.monotonic()
    _run_batch(report, checks, len(checks), scenario.secrets, on_start, on_result, by_host=True)
    report.duration = time.monotonic() - start
    return report


Check = tuple[str, str, Callable[[], CheckResult]]


def _run_batch(
    report: CheckReport,
    checks: Sequence[Check],
    total: int,
    secrets: tuple[str, ...],
    on_start: OnStart,
    on_result: OnResult,
    *,
    by_host: bool = False,
) -> list[CheckResult]:
    """Run `checks` with one thread per host (each host's checks in order), telling the
    callers in the checks' order; every result has the lab's secrets masked before anyone
    sees it. by_host=False: the checks are on distinct hosts (one step's hosts).
    On Ctrl-C nothing more starts and the batch gives no verdicts: KeyboardInterrupt goes
    up once the commands under way have ended (they got the terminal's SIGINT too)."""
    first = len(report.results)
    for index, (item, host, _) in enumerate(checks, start=first + 1):
        on_start(item, host, index, total)
    lanes: dict[str, list[int]] = {}
    for index, (_, host, _) in enumerate(checks):
        lanes.setdefault(host if by_host else str(index), []).append(index)
    results: list[CheckResult | None] = [None] * len(checks)
    stop = threading.Event()

    def lane(indexes: list[int]) -> None:
        for index in indexes:
            if stop.is_set():
                return
            results[index] = redact(checks[index][2](), secrets)

    if len(lanes) == 1:
        lane(next(iter(lanes.values())))
    else:
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            try:
                for future in [pool.submit(lane, indexes) for indexes in lanes.values()]:
                    future.result()
            except KeyboardInterrupt:
                stop.set()
                raise
    done = [r for r in results if r is not None]
    for result in done:
        report.results.append(result)
        on_result(result)
    return done


def _run_step(
    backend: Backend,
    step: Step,
    host: str,
    engine: EngineInfo,
    timeout: float,
    secrets: tuple[str, ...],
) -> CheckResult:
    start = time.monotonic()
    real = real_for(step.reals, step.engine, engine.major)
    attempts = 0
    while True:
        attempts += 1
        executed = backend.exec(host, step.run, timeout)
        status, detail = _judge(step, real, engine, executed)
        if status != "fail" or attempts >= step.retries:
            break
        time.sleep(RETRY_PAUSE_S)
    focus = step.post.error if not step.post.ok else (real.outcome.error if real else None)
    return CheckResult(
        id=step.id,
        host=host,
        title=step.title.en,
        command=step.run,
        status=status,
        # Every attempt and pause: how long the student waits for this step.
        duration=time.monotonic() - start,
        expected=_claim(step.post),
        detail=detail,
        exit_code=executed.exit_code,
        excerpt=excerpt(executed.output, focus, secrets),
        attempts=attempts,
        engine=engine.label,
    )


def _judge(
    step: Step, real: Deviation | None, engine: EngineInfo, executed: ExecResult
) -> tuple[Status, str]:
    """pass / expected-failure when the post's claim holds, deviation when the behaviour
    measured on this engine and version shows instead, fail otherwise (with the reason);
    unknown when the command could not be run to its end."""
    if executed.error or executed.timed_out:
        return "unknown", _not_checked(executed)
    if _matches(step.post, executed, step.stdout_lacks):
        return ("pass" if step.post.ok else "expected-failure"), ""
    if real and _matches(real.outcome, executed, step.stdout_lacks):
        return (
            "deviation",
            f"{_who(step)} claims {_claim(step.post)}; real {engine.label}: "
            f"{_claim(real.outcome)}. {real.why.en}",
        )
    if step.stdout_lacks and step.stdout_lacks in executed.stdout:
        return "fail", f"the output still shows {step.stdout_lacks.strip()!r}"
    if executed.exit_code == 0:
        return "fail", f"it succeeded, but {_who(step)} claims {_claim(step.post)}"
    return "fail", f"exit code {executed.exit_code}; expected {_claim(step.post)}"


def _who(step: Step) -> str:
    """Who makes the step's claim, mid-sentence: the post, the documentation, labgen."""
    return step.claims.en[:1].lower() + step.claims.en[1:]


def _matches(outcome: Outcome, executed: ExecResult, stdout_lacks: str | None) -> bool:
    if outcome.ok:
        return executed.exit_code == 0 and not (stdout_lacks and stdout_lacks in executed.stdout)
    return (
        executed.exit_code != 0 and outcome.error is not None and outcome.error in executed.output
    )


def _run_goal(
    backend: Backend,
    goal: Goal,
    host: str,
    engine: EngineInfo,
    timeout: float,
    secrets: tuple[str, ...],
) -> CheckResult:
    executed = backend.exec(host, goal.run, timeout)
    if executed.error or executed.timed_out:
        status: Status = "unknown"
        detail = _not_checked(executed)
    elif executed.exit_code == 0:
        status, detail = "pass", ""
    else:
        status, detail = "fail", f"not yet: {goal.hint.en}"
    return CheckResult(
        id=goal.id,
        host=host,
        title=goal.title.en,
        command=goal.run,
        status=status,
        duration=executed.duration,
        expected="holds",
        detail=detail,
        exit_code=executed.exit_code,
        excerpt="" if status == "pass" else excerpt(executed.output, None, secrets),
        engine=engine.label,
    )


def _not_checked(executed: ExecResult) -> str:
    """Why a command that could not be run to its end says nothing about the lab."""
    why = executed.error or f"no answer within {executed.duration:.0f} s"
    return f"could not be checked: {why}; is the host (or its engine) up? `labgen status` shows it"


def redact(result: CheckResult, secrets: tuple[str, ...]) -> CheckResult:
    """The result with every secret replaced by MASK in the texts a report shows."""
    return dataclasses.replace(
        result,
        title=mask(result.title, secrets),
        command=mask(result.command, secrets),
        expected=mask(result.expected, secrets),
        detail=mask(result.detail, secrets),
        excerpt=mask(result.excerpt, secrets),
    )


def _claim(outcome: Outcome) -> str:
    return "success" if outcome.ok else f"failure with {outcome.error!r}"


def excerpt(output: str, focus: str | None, secrets: tuple[str, ...] = ()) -> str:
    """The lines that matter: those around `focus` if it shows, else the last few. The
    secrets are masked first: a cut must not keep a secret's tail."""
    lines = [line.rstrip() for line in mask(output, secrets).splitlines() if line.strip()]
    if focus:
        hits = [i for i, line in enumerate(lines) if focus in line]
        if hits:
            lines = lines[max(0, hits[0] - 1) : hits[0] + 2]
    text = "\n".join(lines[-EXCERPT_LINES:])
    return text if len(text) <= EXCERPT_CHARS else "..." + text[-EXCERPT_CHARS:]
