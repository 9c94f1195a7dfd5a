"""The live-lab commands (up, down, status, check): plain functions that print short reports."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from labgen.backends.base import Backend
from labgen.check.results import CheckResult
from labgen.errors import LabgenError, UsageError
from labgen.lab import Lab, LabState


class Progress:
    """Progress lines on stderr, each with the time since the command started."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        click.echo(f"[{time.monotonic() - self.start:6.1f}s] {message}", err=True)


# Forces how commands reach the VMs (`ssh`: no multiplexing; `vagrant`: `vagrant ssh`),
# for comparing the routes; unset, the fastest one that works is used.
VM_EXEC_ENV = "LABGEN_VM_EXEC"


def make_backend(lab: Lab, backend: str | None, *, verbose: bool = False) -> Backend:
    """The backend `labgen up` used for this lab, or the one asked for, or the default."""
    state = lab.read_state()
    name = backend or (state.backend if state else None) or _default_backend(lab)
    if name == "compose":
        from labgen.backends.compose import ComposeBackend

        extra = state.compose_files if state and state.backend == "compose" else []
        return ComposeBackend(lab, extra)
    from labgen.backends.vagrant import VagrantBackend

    provider = state.vagrant_provider if state and state.backend == "vagrant" else None
    route = os.environ.get(VM_EXEC_ENV) or None
    if route not in (None, "ssh", "vagrant"):
        raise UsageError(f"{VM_EXEC_ENV}={route}: unknown; use ssh or vagrant (or leave it unset)")
    note = _verbose_line if verbose else None
    return VagrantBackend(lab, provider, note=note, exec_route=route)


def _verbose_line(message: str) -> None:
    click.echo(f"labgen: {message}", err=True)


def _default_backend(lab: Lab) -> str:
    return "compose" if (lab.path / "docker-compose.yml").exists() else "vagrant"


def up_lab(
    lab: Lab,
    backend: str | None,
    runtime: str | None,
    provider: str | None,
    *,
    verbose: bool = False,
) -> None:
    name = backend or _default_backend(lab)
    if runtime and name != "compose":
        raise UsageError("--runtime applies to the compose backend only")
    if provider and name != "vagrant":
        raise UsageError("--provider applies to the vagrant backend only")
    state = LabState(backend=name, vagrant_provider=provider)
    if runtime:
        from labgen.backends.compose import write_override

        state.compose_files = [write_override(lab, runtime)]
    lab.write_state(state)
    chosen = make_backend(lab, name, verbose=verbose)
    progress = Progress()
    progress(f"bringing up lab {lab.spec.name} in {lab.path} ({name} backend)")
    chosen.up(progress)
    progress("lab is up")


def down_lab(lab: Lab, backend: str | None, *, verbose: bool = False) -> None:
    chosen = make_backend(lab, backend, verbose=verbose)
    progress = Progress()
    chosen.down(progress)
    lab.clear_state()
    progress(f"lab {lab.spec.name} is down")


def provision_lab(
    lab: Lab, hosts: tuple[str, ...], timeout: float, *, verbose: bool = False
) -> None:
    """Provision the lab's running VMs again, over their connections."""
    from labgen.backends.vagrant import VagrantBackend

    chosen = make_backend(lab, "vagrant", verbose=verbose)
    assert isinstance(chosen, VagrantBackend)
    known = [h.name for h in lab.spec.hosts]
    for host in hosts:
        if host not in known:
            raise UsageError(
                f"--host {host}: not a host of lab {lab.spec.name}; use one of {', '.join(known)}"
            )
    if not (lab.path / "provision" / "node.sh").is_file():
        raise UsageError(
            f"{lab.path}: no provision/node.sh; re-create the lab with --backend vagrant or all"
        )
    progress = Progress()
    for host in hosts or known:
        result, sent = chosen.reprovision(host, timeout)
        if result.exit_code != 0:
            tail = "\n".join(f"    | {line}" for line in result.output.splitlines()[-10:])
            raise LabgenError(
                f"{host}: provisioning failed (exit {result.exit_code}):\n{tail}\n"
                f"fix the cause, then run `labgen provision` again"
            )
        how = "script sent" if sent else "script unchanged, not sent"
        progress(f"{host}: provisioned in {result.duration:.1f} s ({how})")


def show_status(lab: Lab, backend: str | None, *, verbose: bool = False) -> bool:
    chosen = make_backend(lab, backend, verbose=verbose)
    statuses = chosen.status()
    for item in statuses:
        engine = "engine answers" if item.engine else "engine does not answer"
        click.echo(f"{item.host:<16} {item.state:<12} {engine}")
    return all(item.engine for item in statuses)


def check_lab(
    lab: Lab,
    backend: str | None,
    mode: str,
    timeout: float,
    as_json: bool,
    junit: Path | None,
    *,
    verbose: bool = False,
) -> bool:
    from labgen.check import report as check_report
    from labgen.check import runner
    from labgen.steps.scenario import load_scenario

    chosen = make_backend(lab, backend, verbose=verbose)
    scenario = load_scenario(lab.spec)
    progress = Progress()
    if mode == "auto":
        mode = runner.choose_mode(chosen, lab.spec.registry_host.name, timeout, lab.spec.from_part1)
    progress(f"checking lab {lab.spec.name} ({mode} mode, {chosen.name} backend)")

    def on_start(item: str, host: str, index: int, total: int) -> None:
        progress(f"[{index}/{total}] {item} on {host} ...")

    def on_result(result: CheckResult) -> None:
        if not as_json:
            click.echo(check_report.result_line(result))

    check = runner.solve if mode == "solve" else runner.grade
    report = check(chosen, scenario, lab.spec.name, timeout, on_start, on_result)
    if as_json:
        click.echo(check_report.to_json(report))
    else:
        click.echo(check_report.summary_line(report))
    if junit:
        try:
            junit.write_text(check_report.to_junit(report), encoding="utf-8")
        except OSError as error:
            raise LabgenError(
                f"{junit}: cannot write the JUnit report ({error.strerror}); give --junit a "
                "file in an existing folder you can write to (the results are above)"
            ) from None
    return report.ok
