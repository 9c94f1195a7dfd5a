"""How long the two-VM lab takes: `labgen up --backend vagrant`, check, re-provision, down.

    sudo .venv/bin/python bench/bench_vm.py [--runs N] [--routes new,old]   (or: sudo make bench-vm)

Needs what the VM test needs (root; `sandbox/vm/libvirt.sh deps`; the image tarballs of
`sandbox/images.sh build`). Builds/registers the box once (not timed), starts libvirt
with its isolated networks and the hub, then N times (default 1: each run is minutes
under software emulation) times each phase as a whole process and prints medians.
Each run does the lab once on the new route (labgen's multiplexed ssh) and, while it is
up, times old against new on the same VMs: grading, re-provisioning each host, one exec
of `true`. `--routes new,old` adds a whole cycle on the old route (LABGEN_VM_EXEC=vagrant:
`vagrant ssh` per command, as before issue 11) in the same run.
Targets (new route): whole lab (up + check + down) <= 150 s; check <= 30 s;
re-provision <= 3 s per host; one exec <= 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labgen.backends.vmssh import VmShell

REPO = Path(__file__).resolve().parent.parent
LABGEN = str(Path(sys.executable).with_name("labgen"))
HOSTS = ("registry", "client")
SPEC = """name: vm-lab
mirror: http://192.168.56.1:5555
vagrant: {{box: debian/{suite}64, libvirt_driver: qemu, libvirt_cpu_model: qemu64}}
"""
TARGETS_S = {"whole": 150.0, "check": 30.0, "reprovision registry": 3.0, "reprovision client": 3.0}
# (slower, faster) pairs timed in the same new-route cycle.
SAME_RUN_RATIOS = [
    ("grade via vagrant ssh", "grade"),
    ("reprovision registry (vagrant provision)", "reprovision registry"),
    ("reprovision client (vagrant provision)", "reprovision client"),
    ("exec vagrant", "exec mux"),
]
TARGET_EXEC_S = 0.2
EXEC_REPEATS = {"vagrant": 5, "mux": 30}


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    return timed_output(argv, env, cwd)[0]


def timed_output(
    argv: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[float, str]:
    start = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.monotonic() - start, done.stdout


def step_times(report_json: str) -> dict[str, float]:
    """Seconds per step (all attempts) from `check --json`, keyed `step STEP@HOST`."""
    results = json.loads(report_json)["results"]
    return {f"step {r['id']}@{r['host']}": r["duration"] for r in results}


def vm_script(name: str, *args: str, env: dict[str, str]) -> None:
    subprocess.run(
        ["bash", str(REPO / "sandbox" / "vm" / name), *args],
        check=True,
        env=env,
        capture_output=True,
    )


def lab_cycle(lab: Path, env: dict[str, str], route: str, compare: bool) -> dict[str, float]:
    """One up, check, re-provision (per host), down of the lab; seconds per phase.
    On the new route, the lab once up also times, old against new on the same VMs:
    grading (`check --mode grade`, which changes nothing), re-provisioning each host
    (`vagrant provision HOST` against `labgen provision --host HOST`) and one exec."""
    old = {**env, "LABGEN_VM_EXEC": "vagrant"}
    env = old if route == "old" else {**env, "LABGEN_VM_EXEC": ""}
    up = [LABGEN, "up", str(lab), "--backend", "vagrant", "--provider", "libvirt", "-v"]
    times = {"up": timed(up, env)}
    times["check"], report_json = timed_output(
        [LABGEN, "check", str(lab), "--mode", "solve", "--json"], env
    )
    times.update(step_times(report_json))
    if compare:
        for host in HOSTS:
            times[f"reprovision {host} (vagrant provision)"] = timed(
                ["vagrant", "provision", host], env, cwd=lab
            )
    if route == "new":
        grade = [LABGEN, "check", str(lab), "--mode", "grade"]
        times["grade"] = timed(grade, env)
        if compare:
            times["grade via vagrant ssh"] = timed(grade, old)
        for host in HOSTS:
            times[f"reprovision {host}"] = timed(
                [LABGEN, "provision", str(lab), "--host", host], env
            )
        times.update(exec_times(lab, compare))
    times["down"] = timed([LABGEN, "down", str(lab)], env)
    times["whole"] = times["up"] + times["check"] + times["down"]
    return times


def exec_times(lab: Path, compare: bool) -> dict[str, float]:
    """Median seconds of one `true` on the registry VM through the connection
    `labgen check` left open (and, to compare, through `vagrant ssh`)."""
    medians = {}
    for kind, repeats in EXEC_REPEATS.items():
        if kind == "vagrant" and not compare:
            continue
        shell = VmShell(lab, HOSTS, force="vagrant" if kind == "vagrant" else None)
        shell.exec("registry", "true", 60)  # choose the route (mux: reuse the open master)
        assert shell.routes["registry"].kind == kind, shell.routes["registry"]
        durations = []
        for _ in range(repeats):
            result = shell.exec("registry", "true", 60)
            if result.exit_code != 0:
                sys.exit(f"bench: exec via {kind} failed: {result.output}")
            durations.append(result.duration)
        medians[f"exec {kind}"] = statistics.median(durations)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--routes", default="new", help="new, old or new,old (a whole cycle on each route)"
    )
    parser.add_argument(
        "--old-runs", type=int, help="runs that also time the old route [default: all]"
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="skip the old-route timings on the same VMs (vagrant provision, grade and "
        "exec via vagrant ssh): about 50 s less per run",
    )
    parser.add_argument(
        "--suite",
        default="trixie",
        help="Debian release of the box: trixie (default os) or bookworm",
    )
    options = parser.parse_args()
    routes = options.routes.split(",")
    if os.geteuid() != 0:
        sys.exit("bench: libvirt and the VMs need root; run it with sudo")
    env = {
        **os.environ,
        "VAGRANT_HOME": "/var/lib/labgen-vm/vagrant.d",
        "LABGEN_HUB_REQUIRE_IMAGES": "1",
        "LABGEN_BOX_SUITE": options.suite,
    }
    os.environ["VAGRANT_HOME"] = env["VAGRANT_HOME"]  # for the in-process exec timings
    phases: dict[str, dict[str, list[float]]] = {route: {} for route in routes}
    vm_script("box.sh", env=env)
    vm_script("libvirt.sh", "up", env=env)
    try:
        vm_script("hub.sh", "up", env=env)
        with tempfile.TemporaryDirectory() as tmp:
            spec, lab = Path(tmp) / "vm-lab.yaml", Path(tmp) / "vm-lab"
            spec.write_text(SPEC.format(suite=options.suite))
            subprocess.run(
                [LABGEN, "create", str(spec), "--out", str(lab)],
                check=True,
                env=env,
                capture_output=True,
            )
            for run in range(options.runs):
                # Alternate which route goes first, so neither always meets a cold cache.
                this_run = routes if run % 2 == 0 else routes[::-1]
                if options.old_runs is not None and run >= options.old_runs:
                    this_run = [r for r in this_run if r != "old"]
                for route in this_run:
                    for name, value in lab_cycle(lab, env, route, not options.no_compare).items():
                        phases[route].setdefault(name, []).append(value)
                    print(f"run {run + 1} {route}: {format_times(phases[route], -1)}", flush=True)
    finally:
        vm_script("hub.sh", "down", env=env)
        vm_script("libvirt.sh", "down", env=env)
    report(phases, options.runs)


def format_times(times: dict[str, list[float]], index: int) -> str:
    return ", ".join(f"{name} {values[index]:.2f}" for name, values in times.items())


def report(phases: dict[str, dict[str, list[float]]], runs: int) -> None:
    print(f"two-VM lab (libvirt, software emulation), {runs} run(s), medians (runs):")
    new = phases.get("new", {})
    old = phases.get("old", {})
    for name in new or old:
        cells = []
        for route, times in (("new", new), ("old", old)):
            if name in times:
                values = times[name]
                listed = ", ".join(f"{v:.2f}" for v in values)
                cells.append(f"{route} {statistics.median(values):7.2f} s ({listed})")
        if name in new and name in old:
            cells.append(
                f"old/new {statistics.median(old[name]) / statistics.median(new[name]):.1f}x"
            )
        print(f"  {name:<41} " + "   ".join(cells))
    for slow, fast in SAME_RUN_RATIOS:
        if slow in new and fast in new:
            ratio = statistics.median(new[slow]) / statistics.median(new[fast])
            print(f"  {slow} / {fast}: {ratio:.1f}x (same runs)")
    for name, target in [*TARGETS_S.items(), ("exec mux", TARGET_EXEC_S)]:
        if name in new:
            value = statistics.median(new[name])
            verdict = "PASS" if value <= target else "MISS"
            print(f"  {name}: {value:.2f} s, target <= {target:g} s: {verdict}")


if __name__ == "__main__":
    main()
