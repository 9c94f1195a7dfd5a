"""Part 2 (scenario: secure): the spec's login, the password's life, and reports that never
show it."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import yaml

from labgen.backends.base import ExecResult
from labgen.check import report as check_report
from labgen.check import runner
from labgen.check.results import CheckResult
from labgen.commands import create_lab
from labgen.errors import LabgenError, SpecError
from labgen.render.plan import plan_lab
from labgen.spec import rules
from labgen.spec.parse import kept_password, parse_spec, spec_to_data, with_password
from labgen.steps.scenario import MASK, load_scenario, placeholders

PASSWORD = "Lab-pass.2026"
STORED = base64.b64encode(f"student:{PASSWORD}".encode()).decode()


def secure(**extra: object) -> dict[str, object]:
    return {"scenario": "secure", "auth": {"password": PASSWORD}, **extra}


def test_secure_spec_with_a_login() -> None:
    spec, _ = parse_spec(secure())
    assert spec.scenario == "secure"
    assert (spec.login.user, spec.login.password) == ("student", PASSWORD)
    assert placeholders(spec)["registry_password"] == PASSWORD
    assert placeholders(spec)["registry_user"] == "student"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            {"auth": {"password": PASSWORD}},
            "auth: the login applies to scenario secure only; remove auth or set scenario: secure",
        ),
        (
            {"scenario": "secure", "auth": {"password": "it's me"}},
            "auth.password: ",
        ),
        ({"scenario": "secure", "auth": {"password": "short"}}, "auth.password: "),
        ({"scenario": "secure", "auth": {"password": "a" * 73}}, "auth.password: "),
        ({"scenario": "secure", "auth": {"password": "$(reboot)xx"}}, "auth.password: "),
        ({"scenario": "secure", "auth": {"user": "Root"}}, "auth.user: "),
        (
            {"scenario": "secure", "registry": {"port": 8000}},
            "registry.port: 8000 is where scenario secure shares the lab CA's certificate; "
            "use another port, such as 5000",
        ),
        ({"scenario": "secure", "auth": {"pasword": PASSWORD}}, "auth.pasword: unknown field"),
    ],
)
def test_bad_login_is_rejected_naming_the_field(data: dict[str, object], says: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(data)
    assert any(line.startswith(says) for line in raised.value.problems), raised.value.problems


def test_part_one_specs_carry_no_login() -> None:
    spec, _ = parse_spec({})
    assert "auth" not in spec_to_data(spec)
    assert with_password(spec) is spec


def test_a_password_is_generated_per_lab_and_fits_the_rules() -> None:
    spec, _ = parse_spec({"scenario": "secure"})
    first, second = with_password(spec), with_password(spec)
    assert first.login.password != second.login.password
    for made in (first, second):
        assert made.login.password and re.search(rules.PASSWORD_PATTERN, made.login.password)
        assert parse_spec(spec_to_data(made))[0] == made  # lab.yaml gives it back


def test_a_spec_without_password_cannot_be_rendered() -> None:
    spec, _ = parse_spec({"scenario": "secure"})
    with pytest.raises(LabgenError, match=r"scenario secure needs auth\.password"):
        load_scenario(spec)


def test_create_generates_the_password_and_force_keeps_it(tmp_path: Path) -> None:
    source = tmp_path / "spec.yaml"
    source.write_text("name: part-two\nscenario: secure\n")
    out = tmp_path / "lab"
    create_lab(source, out, "all", mirror=None, force=False, dry_run=False)
    password = kept_password(out)
    assert password and password in (out / "handout.en.md").read_text()
    assert password in (out / "handout.zh.md").read_text()
    create_lab(source, out, "all", mirror=None, force=True, dry_run=False)
    assert kept_password(out) == password
    lab = yaml.safe_load((out / "lab.yaml").read_text())
    assert lab["auth"] == {"user": "student", "password": password}


def test_kept_password_ignores_what_is_not_a_valid_password(tmp_path: Path) -> None:
    assert kept_password(tmp_path) is None
    (tmp_path / "lab.yaml").write_text("auth: {password: 'x; rm -rf /'}\n")
    assert kept_password(tmp_path) is None
    (tmp_path / "lab.yaml").write_text(": not yaml [")
    assert kept_password(tmp_path) is None


def test_the_password_is_in_the_handout_and_provisioning_only() -> None:
    spec, _ = parse_spec(secure(mode="solved"))
    files = {str(f.path): f.content for f in plan_lab(spec)}
    holding = sorted(path for path, content in files.items() if PASSWORD in content)
    assert holding == ["handout.en.md", "handout.zh.md", "lab.yaml", "provision/node.sh"]


class LeakyBackend:
    """Echoes every command and prints the stored credentials, as `docker login` and
    `base64 -d` of ~/.docker/config.json would."""

    name = "leaky"

    def exec(self, host: str, command: str, timeout: float) -> ExecResult:
        output = f'ran: {command}\n{{"auth": "{STORED}"}}\nstudent:{PASSWORD}\n'
        failing = "wrong-password" in command or "goal" in host
        return ExecResult(1 if failing else 0, output, "", 0.01)


def test_reports_and_progress_never_show_the_password() -> None:
    spec, _ = parse_spec(secure())
    scenario = load_scenario(spec)
    assert scenario.secrets == (PASSWORD, STORED)
    seen: list[str] = []

    def on_start(item: str, host: str, index: int, total: int) -> None:
        seen.append(f"{item} {host}")

    def on_result(result: CheckResult) -> None:
        seen.append(check_report.result_line(result))

    solved = runner.solve(LeakyBackend(), scenario, "lab", 5, on_start, on_result)
    graded = runner.grade(LeakyBackend(), scenario, "lab", 5, on_start, on_result)
    assert any("login" in r.command and MASK in r.command for r in solved.results)
    reports = [
        check_report.to_json(solved),
        check_report.to_junit(solved),
        check_report.to_json(graded),
    ]
    texts = [*seen, *reports, check_report.to_junit(graded), check_report.summary_line(solved)]
    for text in texts:
        assert PASSWORD not in text and STORED not in text
    data = json.loads(check_report.to_json(solved))
    assert any(MASK in r["excerpt"] for r in data["results"])
