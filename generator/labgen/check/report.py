"""Print a CheckReport: text for people, JSON and JUnit XML for machines."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Literal
from xml.etree import ElementTree

import msgspec

from labgen.check.results import CheckReport, CheckResult

LABELS = {
    "pass": "PASS",
    "expected-failure": "FAILED AS THE POST SAYS",
    "deviation": "DEVIATION (documented)",
    "fail": "FAIL",
    "skipped": "SKIPPED",
    "unknown": "UNKNOWN (not checked)",
}


def result_line(result: CheckResult) -> str:
    """One result as the text report shows it, with indented detail lines."""
    engine = f", {result.engine}" if result.engine else ""
    head = f"{LABELS[result.status]:<24} {result.id} on {result.host} ({result.duration:.1f} s{engine})"
    lines = [head]
    if result.status in ("expected-failure", "deviation", "fail", "unknown") and result.excerpt:
        lines += [f"    | {line}" for line in result.excerpt.splitlines()]
    if result.detail and result.status != "skipped":
        lines.append(f"    {result.detail}")
    return "\n".join(lines)


def summary_line(report: CheckReport) -> str:
    counts = [
        f"{report.count('pass')} passed",
        f"{report.count('expected-failure')} expected failures seen",
        f"{report.count('deviation')} documented deviations",
        f"{report.count('fail')} failed",
    ]
    if report.count("unknown"):
        counts.append(f"{report.count('unknown')} could not be checked")
    if report.count("skipped"):
        counts.append(f"{report.count('skipped')} skipped")
    verdict = "OK" if report.ok else "NOT OK"
    return f"{verdict}: {report.lab} ({report.mode}, {report.backend}): {', '.join(counts)} in {report.duration:.1f} s"


def to_dict(report: CheckReport) -> dict[str, Any]:
    """The report as `labgen check --json` prints it; result and submission files embed it."""
    return {
        "lab": report.lab,
        "mode": report.mode,
        "backend": report.backend,
        "ok": report.ok,
        "duration": round(report.duration, 3),
        "engines": report.engines,
        "results": [{**asdict(r), "duration": round(r.duration, 3)} for r in report.results],
    }


def to_json(report: CheckReport) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)


class _ReportDoc(msgspec.Struct, forbid_unknown_fields=True):
    """The shape `to_dict` writes, checked strictly when a file is read back."""

    lab: str
    mode: Literal["solve", "grade"]
    backend: str
    ok: bool
    duration: float
    results: list[CheckResult]
    engines: dict[str, str] = {}


def from_dict(data: object) -> CheckReport:
    """A report read back from `to_dict`'s shape; raises msgspec.ValidationError saying where not."""
    doc = msgspec.convert(data, _ReportDoc)
    return CheckReport(doc.lab, doc.mode, doc.backend, doc.results, doc.duration, doc.engines)


def to_junit(report: CheckReport) -> str:
    suite = ElementTree.Element(
        "testsuite",
        name=f"labgen.{report.lab}.{report.mode}",
        tests=str(len(report.results)),
        failures=str(report.count("fail")),
        errors=str(report.count("unknown")),  # JUnit's "could not run", not a failed test
        skipped=str(report.count("skipped")),
        time=f"{report.duration:.3f}",
    )
    for number, result in enumerate(report.results, start=1):
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"{report.lab}.{report.backend}",
            name=f"{number:02d} {result.id} [{result.host}]",
            time=f"{result.duration:.3f}",
        )
        if result.engine:  # the engine and version this verdict is for
            properties = ElementTree.SubElement(case, "properties")
            ElementTree.SubElement(properties, "property", name="engine", value=result.engine)
        if result.status == "fail":
            failure = ElementTree.SubElement(case, "failure", message=result.detail)
            failure.text = result.excerpt
        elif result.status == "unknown":
            unknown = ElementTree.SubElement(case, "error", message=result.detail)
            unknown.text = result.excerpt
        elif result.status == "skipped":
            ElementTree.SubElement(case, "skipped", message=result.detail)
        out = ElementTree.SubElement(case, "system-out")
        out.text = (
            f"{LABELS[result.status]}: {result.command}\n{result.detail}\n{result.excerpt}".strip()
        )
    ElementTree.indent(suite)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
