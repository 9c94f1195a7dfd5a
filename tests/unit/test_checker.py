"""The checker's judgement, on a scripted backend: no engine needed, every verdict covered."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest

from helpers import run_with_stub_docker
from labgen.backends.base import ExecResult, HostStatus, Progress
from labgen.check import report as check_report
from labgen.check import runner
from labgen.check.results import CheckResult
from labgen.errors import LabgenError
from labgen.spec.parse import parse_spec
from labgen.steps.scenario import Scenario, load_scenario

Answer = Callable[[str, str], ExecResult]


def ok(stdout: str = "") -> ExecResult:
    return ExecResult(0, stdout, "", 0.01)


def error(stderr: str) -> ExecResult:
    return ExecResult(1, "", stderr, 0.01)


class ScriptedBackend:
    """Answers each command as real Docker did, unless a test overrides it."""

    name = "scripted"

    def __init__(
        self, overrides: dict[str, list[ExecResult]] | None = None, version: str = "20.10.24+dfsg1"
    ) -> None:
        self.overrides = overrides or {}
        self.version = version
        self.calls: list[tuple[str, str]] = []
        self.restarted: set[str] = set()  # hosts whose engine re-read daemon.json

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        self.calls.append((host, command))
        for marker, answers in self.overrides.items():
            if marker in command and answers:
                return answers.pop(0) if len(answers) > 1 else answers[0]
        if command == runner.VERSION_COMMANDS["docker"]:
            return ok(self.version + "\n")
        if command == "sudo systemctl restart docker":
            self.restarted.add(host)
        return self.real_docker(host, command)

    def real_docker(self, host: str, command: str) -> ExecResult:
        """What Docker 20.10 answered in the end-to-end test, per step."""
        if command == "docker pull 192.168.56.101:5000/nginx:alpine" and host not in self.restarted:
            return error(
                'Error response from daemon: Get "https://192.168.56.101:5000/v2/": '
                "http: server gave HTTP response to HTTPS client"
            )
        if command == "docker push 192.168.56.101:5000/nginx":
            return error("tag does not exist: 192.168.56.101:5000/nginx:latest")
        if command == "docker images":
            return ok("REPOSITORY   TAG   IMAGE ID\nregistry     2     617fc2d77d51\n")
        return ok()

    def up(self, progress: Progress) -> None: ...

    def down(self, progress: Progress) -> None: ...

    def status(self) -> list[HostStatus]:
        return []


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(parse_spec({})[0])


def solve(backend: ScriptedBackend, scenario: Scenario, timeout: float = 5) -> list[CheckResult]:
    report = runner.solve(backend, scenario, "lab", timeout, lambda *a: None, lambda r: None)
    return report.results


def test_real_docker_gives_expected_failure_and_two_deviations(scenario: Scenario) -> None:
    results = solve(ScriptedBackend(), scenario)
    verdicts = {(r.id, r.host): r.status for r in results if r.status != "pass"}
    assert verdicts == {
        ("pull-lan-before-config", "client"): "expected-failure",
        ("pull-lan-after-config", "client"): "deviation",
        ("push-lan-untagged", "registry"): "deviation",
    }
    before = next(r for r in results if r.id == "pull-lan-before-config")
    assert before.excerpt.endswith("http: server gave HTTP response to HTTPS client")
    after = next(r for r in results if r.id == "pull-lan-after-config")
    assert "the post claims failure" in after.detail and "never sees the host:port" in after.detail


@pytest.mark.parametrize("version", ["20.10.24+dfsg1", "26.1.5+dfsg1"])
def test_each_verdict_names_the_engine_and_version_it_is_for(
    scenario: Scenario, version: str
) -> None:
    report = runner.solve(
        ScriptedBackend(version=version), scenario, "lab", 5, lambda *a: None, lambda r: None
    )
    assert report.ok
    assert {r.engine for r in report.results} == {f"docker {version}"}
    assert report.engines == {"registry": f"docker {version}", "client": f"docker {version}"}
    after = next(r for r in report.results if r.id == "pull-lan-after-config")
    assert f"real docker {version}: success" in after.detail


@pytest.mark.parametrize("version", ["27.0.1", "not a version"])
def test_a_deviation_is_never_assumed_on_an_unmeasured_version(
    scenario: Scenario, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "RETRY_PAUSE_S", 0.0)
    # Measured on docker-20 and docker-26 only: elsewhere the post's claim must hold.
    results = solve(ScriptedBackend(version=version), scenario, timeout=5)
    after = next(r for r in results if r.id == "pull-lan-after-config")
    assert after.status == "fail"
    assert "it succeeded, but the post claims failure" in after.detail


def test_the_posts_claim_holding_is_a_pass_not_a_deviation(scenario: Scenario) -> None:
    # An older Docker that pushed every tag: the post's claim holds.
    backend = ScriptedBackend({"docker push 192.168.56.101:5000/nginx": [ok()]})
    results = solve(backend, scenario)
    assert next(r for r in results if r.id == "push-lan-untagged").status == "pass"


def test_unexpected_outcome_fails_and_skips_the_rest(scenario: Scenario) -> None:
    backend = ScriptedBackend({"docker push localhost:5000": [error("connection refused")]})
    results = solve(backend, scenario)
    failed = next(r for r in results if r.id == "push-local")
    assert failed.status == "fail"
    assert failed.detail == "exit code 1; expected success"
    after = results[results.index(failed) + 1 :]
    assert after and {r.status for r in after} == {"skipped"}
    assert all(command != "docker images" for _, command in backend.calls)


def test_a_failure_the_post_expects_but_with_other_words_is_a_failure(scenario: Scenario) -> None:
    backend = ScriptedBackend({"docker pull 192.168.56.101:5000": [error("no route to host")]})
    results = solve(backend, scenario)
    step = next(r for r in results if r.id == "pull-lan-before-config")
    assert step.status == "fail"
    assert "expected failure with 'http: server gave HTTP response to HTTPS client'" in step.detail


def test_success_where_the_post_expects_a_failure_is_a_failure(scenario: Scenario) -> None:
    backend = ScriptedBackend({"docker pull 192.168.56.101:5000": [ok()]})
    step = next(r for r in solve(backend, scenario) if r.id == "pull-lan-before-config")
    assert step.status == "fail"
    assert step.detail.startswith("it succeeded, but the post claims failure")


def test_stdout_that_should_be_gone_fails(scenario: Scenario) -> None:
    backend = ScriptedBackend({"docker images": [ok("localhost:5000/nginx   alpine   8e75\n")]})
    step = next(r for r in solve(backend, scenario) if r.id == "list-images")
    assert step.status == "fail"
    assert step.detail == "the output still shows 'nginx'"


REFUSED = error("curl: (7) Failed to connect to localhost port 5000: Connection refused")
MANIFEST_UNKNOWN = error(
    "manifest for 192.168.56.101:5000/nginx:alpine not found: manifest unknown: manifest unknown"
)


def test_retries_while_the_step_fails(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "RETRY_PAUSE_S", 0)
    backend = ScriptedBackend({"curl -fsS http://localhost:5000/v2/": [REFUSED, REFUSED, ok()]})
    step = next(r for r in solve(backend, scenario) if r.id == "wait-registry")
    assert (step.status, step.attempts) == ("pass", 3)


def test_retries_stop_when_exhausted(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "RETRY_PAUSE_S", 0)
    backend = ScriptedBackend({"curl -fsS http://localhost:5000/v2/": [REFUSED]})
    (wait,) = [s for s in scenario.steps if s.id == "wait-registry"]
    step = next(r for r in solve(backend, scenario) if r.id == "wait-registry")
    assert wait.retries == 30
    assert (step.status, step.attempts) == ("fail", wait.retries)
    assert backend.calls.count(("registry", wait.run)) == wait.retries


def test_a_step_without_retries_runs_once(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "RETRY_PAUSE_S", 0)
    backend = ScriptedBackend({"docker push localhost:5000": [error("connection refused"), ok()]})
    step = next(r for r in solve(backend, scenario) if r.id == "push-local")
    assert (step.status, step.attempts) == ("fail", 1)


@pytest.mark.parametrize(
    ("answer", "status"), [(ok(), "deviation"), (MANIFEST_UNKNOWN, "expected-failure")]
)
def test_no_retry_once_the_outcome_is_judged(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, answer: ExecResult, status: str
) -> None:
    # pull-lan-after-config may run 30 times, but only while its outcome is a failure: a
    # second attempt here would get REFUSED.
    monkeypatch.setattr(runner, "RETRY_PAUSE_S", 0)
    backend = ScriptedBackend()

    def on_start(item: str, host: str, index: int, total: int) -> None:
        after = item == "pull-lan-after-config"
        backend.overrides = {"docker pull 192.168.56.101": [answer, REFUSED]} if after else {}

    report = runner.solve(backend, scenario, "lab", 5, on_start, lambda r: None)
    step = next(r for r in report.results if r.id == "pull-lan-after-config")
    assert (step.status, step.attempts) == (status, 1)
    assert report.ok


def test_timeout_stops_the_retries(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "RETRY_PAUSE_S", 0)
    hung = ExecResult(
        124, "", "labgen: timed out after 5 s", 5.0, timed_out=True, error="no answer within 5 s"
    )
    backend = ScriptedBackend({"curl -fsS http://localhost:5000/v2/": [hung, ok()]})
    (wait,) = [s for s in scenario.steps if s.id == "wait-registry"]
    results = solve(backend, scenario)
    step = next(r for r in results if r.id == "wait-registry")
    assert wait.retries > 1
    assert step.status == "unknown"  # a timeout says nothing about the lab
    assert step.detail.startswith("could not be checked: no answer within 5 s; ")
    assert step.attempts == 1
    assert backend.calls.count(("registry", wait.run)) == 1
    after = results[results.index(step) + 1 :]
    assert {(r.status, r.detail) for r in after} == {
        ("skipped", "an earlier step could not be checked")
    }


# What the backends give when the way to a host fails (ssh 255, a stopped node).
SSH_DOWN = ExecResult(
    255,
    "",
    "Connection closed by 192.168.121.5 port 22",
    3.0,
    error="ssh could not run the command on client (exit 255: Connection closed by 192.168.121.5 port 22)",
)
NODE_STOPPED = ExecResult(
    1,
    "",
    'service "client" is not running',
    0.1,
    error='docker compose exec could not run the command on client (exit 1: service "client" is not running)',
)


@pytest.mark.parametrize("answer", [SSH_DOWN, NODE_STOPPED])
def test_a_command_that_could_not_run_is_unknown_never_fail(
    scenario: Scenario, answer: ExecResult
) -> None:
    backend = ScriptedBackend({"jq -s -e": [answer], "| jq -e": [answer]})
    report = runner.grade(backend, scenario, "lab", 5, lambda *a: None, lambda r: None)
    statuses = {r.status for r in report.results}
    assert "fail" not in statuses and "unknown" in statuses and not report.ok
    unknown = next(r for r in report.results if r.status == "unknown")
    assert unknown.detail.startswith(f"could not be checked: {answer.error}; ")
    # Every report shows it as not checked, never as a failure.
    assert render.result_line(unknown).startswith("UNKNOWN (not checked)")
    summary = render.summary_line(report)
    assert f"{report.count('unknown')} could not be checked" in summary and "0 failed" in summary
    assert json.loads(render.to_json(report))["results"][0]["status"] in ("pass", "unknown")
    suite = ElementTree.fromstring(render.to_junit(report))
    assert suite.get("failures") == "0" and suite.get("errors") == str(report.count("unknown"))
    assert suite.find("testcase/failure") is None
    assert suite.find("testcase/error") is not None


class Interrupted(ScriptedBackend):
    """Ctrl-C arrives while a command containing `marker` runs."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        if self.marker in command:
            signal.raise_signal(signal.SIGINT)  # as the terminal's Ctrl-C
            time.sleep(1)  # the main thread is interrupted meanwhile
        return super().exec(host, command, timeout)


def test_ctrl_c_gives_no_verdicts(scenario: Scenario) -> None:
    """Ctrl-C in the main thread (one host's check) or while hosts run in threads: the
    interrupt goes up, and the batch under way reports nothing."""
    # Set up what the test relies on: SIGINT raises KeyboardInterrupt (a shell that
    # ignores SIGINT would leave it ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for marker in ("docker run -d -p 5000:5000", "sudo systemctl restart docker"):
            seen: list[CheckResult] = []
            with pytest.raises(KeyboardInterrupt):
                runner.solve(Interrupted(marker), scenario, "lab", 5, lambda *a: None, seen.append)
            assert seen and all(marker not in r.command for r in seen), marker
            assert all(r.status in ("pass", "expected-failure", "deviation") for r in seen)
    finally:
        signal.signal(signal.SIGINT, previous)


class MeetingBackend(ScriptedBackend):
    """Commands containing `marker` wait until one per host has arrived: they only return
    when the hosts run them at the same time (sequential runs break the barrier)."""

    def __init__(self, marker: str, hosts: int = 2) -> None:
        super().__init__()
        self.marker = marker
        self.barrier = threading.Barrier(hosts, timeout=5)

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        if self.marker in command:
            self.barrier.wait()
        return super().exec(host, command, timeout)


def test_a_step_on_every_host_runs_on_them_at_once(scenario: Scenario) -> None:
    results = solve(MeetingBackend("sudo systemctl restart docker"), scenario)
    restarts = [(r.host, r.status) for r in results if r.id == "restart-docker"]
    assert restarts == [("registry", "pass"), ("client", "pass")]  # the scenario's order
    assert [r.id for r in results] == [
        s.id for s in scenario.steps for _ in s.hosts
    ]  # every result in step order


def test_a_failure_on_one_of_a_steps_hosts_skips_the_rest(scenario: Scenario) -> None:
    backend = ScriptedBackend({"sudo systemctl restart docker": [error("Job failed")]})
    results = solve(backend, scenario)
    restarts = {r.host: r.status for r in results if r.id == "restart-docker"}
    assert restarts == {"registry": "fail", "client": "fail"}
    after = results[[r.id for r in results].index("wait-registry") :]
    assert {r.status for r in after} == {"skipped"}


def test_grade_checks_the_hosts_at_once(scenario: Scenario) -> None:
    # daemon-json-insecure is the first goal on the client, and concerns the registry too.
    backend = MeetingBackend("daemon.json")
    report = runner.grade(backend, scenario, "lab", 5, lambda *a: None, lambda r: None)
    assert report.ok
    assert [(r.id, r.host) for r in report.results] == [
        (g.id, h.name) for g in scenario.goals for h in g.hosts
    ]


def test_grade_reports_missing_goals_with_hints(scenario: Scenario) -> None:
    backend = ScriptedBackend({"jq -s -e": [error("")], "| jq -e": [error("")]})
    report = runner.grade(backend, scenario, "lab", 5, lambda *a: None, lambda r: None)
    failing = {(r.id, r.host) for r in report.results if r.status == "fail"}
    assert failing == {
        ("daemon-json-insecure", "registry"),
        ("daemon-json-insecure", "client"),
        ("engine-insecure", "registry"),
        ("engine-insecure", "client"),
    }
    hint = next(r for r in report.results if r.id == "daemon-json-insecure").detail
    assert hint == "not yet: add it on every host, the registry's own included"
    assert not report.ok


PROBE = "docker container ls --all"


def test_choose_mode_grades_a_lab_whose_registry_exists() -> None:
    backend = ScriptedBackend({PROBE: [ok()]})
    assert runner.choose_mode(backend, "registry", 5) == "grade"
    assert backend.calls == [("registry", runner.REGISTRY_PROBE)]


def test_choose_mode_solves_only_a_lab_seen_to_be_fresh() -> None:
    fresh = ScriptedBackend({PROBE: [ExecResult(runner.FRESH, "", "", 0.01)]})
    assert runner.choose_mode(fresh, "registry", 5) == "solve"


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            ExecResult(124, "", "labgen: timed out after 5 s", 5.0, timed_out=True),
            "did not answer within 5 s",
        ),
        (
            ExecResult(runner.ENGINE_DOWN, "", "Cannot connect to the Docker daemon", 0.1),
            "answered, but its Docker engine did not",
        ),
        (  # compose: the node is stopped
            ExecResult(1, "", "", 0.1, error="docker compose exec could not run the command"),
            "could not be reached (docker compose exec could not run the command)",
        ),
        (  # vagrant: the VM is down, or ssh fails
            ExecResult(255, "", "", 3, error="ssh could not run the command on registry"),
            "could not be reached (ssh could not run the command on registry)",
        ),
        (  # a probe that ran and failed in a way labgen does not know
            ExecResult(1, "", "sh: 1: syntax error", 0.1),
            "could not be examined (exit 1: sh: 1: syntax error)",
        ),
        (ExecResult(127, "", "", 0.1), "could not be examined (exit 127: no output)"),
    ],
)
def test_choose_mode_stops_where_the_lab_cannot_be_examined(answer: ExecResult, says: str) -> None:
    backend = ScriptedBackend({PROBE: [answer]})
    with pytest.raises(LabgenError) as raised:
        runner.choose_mode(backend, "registry", 5)
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert message.startswith("check --mode auto: the registry host registry ")
    assert says in message and "choose --mode grade or solve" in message
    assert backend.calls == [("registry", runner.REGISTRY_PROBE)]  # nothing else was run


@pytest.mark.parametrize(
    ("docker", "code"),
    [
        ("printf 'web\\nregistry\\n'", 0),
        ("printf 'registry-old\\nmy-registry\\n'", runner.FRESH),
        ("true", runner.FRESH),
        ("echo 'Cannot connect to the Docker daemon' >&2; exit 1", runner.ENGINE_DOWN),
    ],
)
def test_registry_probe_exit_codes_in_a_real_shell(
    tmp_path: Path, require_tool: Callable[[str], str], docker: str, code: int
) -> None:
    """The probe as the hosts' sh runs it, with a stand-in `docker` answering the listing."""
    done = run_with_stub_docker(tmp_path, require_tool("sh"), docker, runner.REGISTRY_PROBE)
    assert done.returncode == code, done.stderr


def test_reports_json_junit_and_text(scenario: Scenario) -> None:
    backend = ScriptedBackend({"docker push localhost:5000": [error("connection refused")]})
    report = runner.solve(backend, scenario, "lab", 5, lambda *a: None, lambda r: None)
    data = json.loads(check_report.to_json(report))
    assert data["ok"] is False and len(data["results"]) == len(report.results)
    suite = ElementTree.fromstring(check_report.to_junit(report))
    assert suite.get("failures") == "1"
    assert int(suite.get("skipped", "0")) == report.count("skipped") > 0
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == "exit code 1; expected success"
    assert check_report.summary_line(report).startswith("NOT OK: lab (solve, scripted): ")
    line = check_report.result_line(next(r for r in report.results if r.status == "fail"))
    assert line.splitlines()[0].startswith("FAIL") and "| connection refused" in line
    # Every format says which engine each verdict is for.
    assert data["engines"] == {
        "registry": "docker 20.10.24+dfsg1",
        "client": "docker 20.10.24+dfsg1",
    }
    assert {r["engine"] for r in data["results"]} == {"docker 20.10.24+dfsg1"}
    assert line.splitlines()[0].endswith(", docker 20.10.24+dfsg1)")
    engines = {
        p.get("value") for p in suite.iterfind("testcase/properties/property[@name='engine']")
    }
    assert engines == {"docker 20.10.24+dfsg1"}
    # and a report written before engines existed still reads back
    del data["engines"]
    for result in data["results"]:
        del result["engine"]
    assert check_report.from_dict(data).results[0].engine == ""


def test_excerpt_centres_on_the_focus_and_is_bounded() -> None:
    output = "\n".join(f"line {i}" for i in range(50)) + "\nthe error here\n" + "after\n" * 3
    assert runner.excerpt(output, "the error") == "line 49\nthe error here\nafter"
    assert len(runner.excerpt("x" * 5000, None)) <= runner.EXCERPT_CHARS + 3


def test_a_cut_excerpt_keeps_no_tail_of_a_secret() -> None:
    secret = "pw-" + "s" * 30
    # The cut falls inside the secret: masking after it would leave its tail.
    output = "x" * 10 + secret + "y" * (runner.EXCERPT_CHARS - 20)
    assert output[-runner.EXCERPT_CHARS :].startswith("s" * 20)
    shown = runner.excerpt(output, None, (secret,))
    assert "sssss" not in shown and "pw-" not in shown


def test_a_verdict_names_who_makes_the_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "RETRY_PAUSE_S", 0)
    # Part 2's claims are the documentation's, not the post's; a step labgen adds is its own.
    spec = parse_spec({"scenario": "secure", "auth": {"password": "s3cret-pass"}})[0]

    class EverythingWorks(ScriptedBackend):
        def real_docker(self, host: str, command: str) -> ExecResult:
            return ok()

    results = solve(EverythingWorks(), load_scenario(spec))
    cn_only = next(r for r in results if r.id == "pull-cn-only")
    assert cn_only.detail.startswith("it succeeded, but the documentation claims failure")
