"""The two-VM lab for real: the rendered Vagrantfile, `vagrant up` on libvirt, `labgen check`.

The VMs run under QEMU's software emulation (this machine's KVM cannot run normal
guests), on isolated libvirt networks made by sandbox/vm/libvirt.sh: no NAT, no DNS
forwarding. Images reach the guests through the hub on the lab bridge (192.168.56.1:5555),
filled from the tarballs that sandbox/images.sh builds. The box is registered as
debian/trixie64 for the default os, debian-13 (LABGEN_VM_SUITE=bookworm: debian/bookworm64 and
os debian-12), so the Vagrantfile is used exactly as rendered from a spec that only sets
the os, the libvirt driver and the CPU model.

One lab runs part 1, then continues with part 2 on the same VMs (spec from_part1).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import MIRROR, SECURE_SOLVE_STATUSES, SOLVE_STATUSES, labgen, solve_statuses

from helpers import REPO_ROOT, missing
from labgen.backends.vmssh import VmShell, control_dir

pytestmark = pytest.mark.vm

VAGRANT_HOME = "/var/lib/labgen-vm/vagrant.d"
# The Debian release of the box sandbox/vm/box.sh builds: trixie (the default os) or bookworm.
SUITE = os.environ.get("LABGEN_VM_SUITE", "trixie")
OS = {"trixie": "debian-13", "bookworm": "debian-12"}[SUITE]
SPEC = f"""name: vm-lab
os: {OS}
mirror: {MIRROR}
vagrant: {{libvirt_driver: qemu, libvirt_cpu_model: qemu64}}
"""


# Part 2, continuing from where part 1's check left the same VMs.
PART2 = "scenario: secure\nfrom_part1: true\n"
# distribution's TLS listener answering plain HTTP (measured on the sandbox engine).
TLS_ONLY = "Client sent an HTTP request to an HTTPS server."

IMAGES_DIR = Path(os.environ.get("LABGEN_IMAGES_DIR", "/var/cache/labgen/images"))
HUB_IMAGES = ("registry-2.tar", "nginx-alpine.tar", "httpd-2.tar")


def failed_steps(check: subprocess.CompletedProcess[str]) -> str:
    """What a failed `check --json` says about its failing steps (the whole report is too
    long for an assertion message)."""
    try:
        results = json.loads(check.stdout)["results"]
    except (ValueError, KeyError):
        return check.stderr[-3000:] + check.stdout[-3000:]
    return json.dumps([r for r in results if r["status"] == "fail"], indent=1)


def vm_script(name: str, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["bash", str(REPO_ROOT / "sandbox" / "vm" / name), *args], check=True, env=env)


@pytest.fixture(scope="module")
def vm_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """libvirt up with the lab's isolated networks, the box registered, the hub filled."""
    for tool in ("vagrant", "virsh", "libvirtd", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            missing(f"`{tool}` is missing; run `sandbox/vm/libvirt.sh deps` (as root)")
    # The hub needs only the image tarballs: the sandbox engine (which builds them, and
    # may be serving another test run) is started only when they are missing.
    if all((IMAGES_DIR / name).is_file() for name in HUB_IMAGES):
        env = {**os.environ}
    else:
        env = {**request.getfixturevalue("engine")}
    env.update(VAGRANT_HOME=VAGRANT_HOME, LABGEN_HUB_REQUIRE_IMAGES="1", LABGEN_BOX_SUITE=SUITE)
    env.pop("DOCKER_HOST", None)
    try:
        vm_script("box.sh", env=env)
        vm_script("libvirt.sh", "up", env=env)
        vm_script("hub.sh", "up", env=env)
        yield env
    finally:
        vm_script("hub.sh", "down", env=env)
        vm_script("libvirt.sh", "down", env=env)


def daemon_json_digest(folder: Path, host: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["vagrant", "ssh", host, "-c", "cat /etc/docker/daemon.json", "--", "-q"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return hashlib.sha256(done.stdout.encode()).hexdigest()


# Exit code, both streams, the user, sudo and the shell (`bash -l -c`, as `vagrant ssh -c`).
PROBE = "echo out; echo err >&2; id -un; sudo -n id -un; echo $0; shopt -q login_shell && echo login; exit 3"


def masters_of(folder: Path) -> list[int]:
    """PIDs of ssh processes whose command line names the lab's control folder."""
    sockets = str(control_dir(folder))
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and cmdline.startswith("ssh\0") and sockets in cmdline:
            found.append(int(proc.name))
    return found


def compare_routes(
    folder: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, float]:
    """The same commands give the same results over every route (new, plain ssh, vagrant
    ssh). Returns each route's time for the probe on the registry."""
    monkeypatch.setenv("VAGRANT_HOME", env["VAGRANT_HOME"])
    hosts = ["registry", "client"]
    results = {}
    for force in (None, "ssh", "vagrant"):
        shell = VmShell(folder, hosts, force=force)
        results[force] = [shell.exec(h, PROBE, 120) for h in hosts]
        assert {shell.routes[h].kind for h in hosts} == {force or "mux"}
    for force in ("ssh", "vagrant"):
        for new, old in zip(results[None], results[force], strict=True):
            assert (new.exit_code, new.stdout, new.stderr) == (
                old.exit_code,
                old.stdout,
                old.stderr,
            )
    first = results[None][0]
    assert first.exit_code == 3 and first.stderr == "err\n"
    assert first.stdout.splitlines() == ["out", "vagrant", "root", "bash", "login"]
    timed_out = VmShell(folder, hosts).exec("registry", "sleep 30", 2)
    assert timed_out.timed_out and timed_out.exit_code == 124
    return {f"exec {force or 'mux'}": results[force][0].duration for force in results}


def test_two_vm_lab_up_check_reprovision_down(
    vm_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "vm-lab.yaml"
    spec.write_text(SPEC)
    folder = tmp_path / "vm-lab"
    assert labgen(vm_env, "create", str(spec), "--out", str(folder), cwd=tmp_path).returncode == 0
    timings: dict[str, float] = {}
    try:
        start = time.monotonic()
        up = labgen(
            vm_env,
            "up",
            str(folder),
            "--backend",
            "vagrant",
            "--provider",
            "libvirt",
            "--verbose",
            cwd=tmp_path,
        )
        timings["up"] = time.monotonic() - start
        assert up.returncode == 0, up.stderr[-3000:]
        assert "registry: " in up.stderr and "client: " in up.stderr  # progress per machine
        assert "registry: exec via multiplexed ssh" in up.stderr, up.stderr[-3000:]
        assert "client: exec via multiplexed ssh" in up.stderr
        monkeypatch.setenv("VAGRANT_HOME", vm_env["VAGRANT_HOME"])
        release = VmShell(folder, ["registry"]).exec(
            "registry", ". /etc/os-release && echo $VERSION_CODENAME", 60
        )
        assert release.stdout.strip() == SUITE  # the box asked for
        # Provisioning named each VM (not Vagrant's vm.hostname); sudo resolves the name
        # (no "unable to resolve host" on stderr).
        for host in ("registry", "client"):
            named = VmShell(folder, [host]).exec(host, "hostname && sudo true", 60)
            assert (named.exit_code, named.stdout, named.stderr) == (0, f"{host}\n", "")

        start = time.monotonic()
        check = labgen(vm_env, "check", str(folder), "--json", cwd=tmp_path)
        timings["check"] = time.monotonic() - start
        assert check.returncode == 0, failed_steps(check)
        report = json.loads(check.stdout)
        assert report["backend"] == "vagrant"
        # The same report as the compose backend gives: same steps, same verdicts.
        assert solve_statuses(report) == SOLVE_STATUSES
        first = next(r for r in report["results"] if r["id"] == "pull-lan-before-config")
        assert "http: server gave HTTP response to HTTPS client" in first["excerpt"]

        timings.update(compare_routes(folder, vm_env, monkeypatch))
        # Grading the solved lab gives the same verdicts through `vagrant ssh` as through
        # the multiplexed connections.
        graded = {}
        for route in ("", "vagrant"):
            env = {**vm_env, "LABGEN_VM_EXEC": route}
            start = time.monotonic()
            grade = labgen(
                env, "check", str(folder), "--mode", "grade", "--json", "-v", cwd=tmp_path
            )
            timings[f"grade {route or 'mux'}"] = time.monotonic() - start
            assert grade.returncode == 0, grade.stdout + grade.stderr[-2000:]
            graded[route] = [
                (r["id"], r["host"], r["status"]) for r in json.loads(grade.stdout)["results"]
            ]
        assert "registry: exec via vagrant ssh" in grade.stderr
        assert graded[""] == graded["vagrant"]

        digests = {h: daemon_json_digest(folder, h, vm_env) for h in ("registry", "client")}
        start = time.monotonic()
        again = subprocess.run(
            ["vagrant", "provision"], cwd=folder, env=vm_env, capture_output=True, text=True
        )
        timings["reprovision"] = time.monotonic() - start
        assert again.returncode == 0, again.stdout[-2000:]
        assert {h: daemon_json_digest(folder, h, vm_env) for h in ("registry", "client")} == digests
        # labgen's own re-provision: over the open connections, the script not sent again.
        start = time.monotonic()
        again = labgen(vm_env, "provision", str(folder), cwd=tmp_path)
        timings["labgen provision"] = time.monotonic() - start
        assert again.returncode == 0, again.stderr[-2000:]
        assert again.stderr.count("(script unchanged, not sent)") == 2, again.stderr
        assert {h: daemon_json_digest(folder, h, vm_env) for h in ("registry", "client")} == digests
        timings.update(continue_with_part_two(spec, folder, vm_env, tmp_path))
        print(f"\nvm lab timings (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    finally:
        start = time.monotonic()
        down = labgen(vm_env, "down", str(folder), cwd=tmp_path)
        print(f"down: {time.monotonic() - start:.1f} s")
    assert down.returncode == 0, down.stderr
    assert masters_of(folder) == [] and not control_dir(folder).exists()
    listed = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert "labgen-registry" not in listed.stdout and "labgen-client" not in listed.stdout


def continue_with_part_two(
    spec: Path, folder: Path, env: dict[str, str], tmp_path: Path
) -> dict[str, float]:
    """The same VMs, now in part 1's end state, become a part-2 lab (from_part1): the
    checker replays part 2 with the verdicts compose gives, grading passes, and solved
    mode over the finished lab redoes nothing, its steps running as the login user."""
    timings: dict[str, float] = {}

    def recreate(extra: str) -> None:
        spec.write_text(SPEC + PART2 + extra)
        made = labgen(env, "create", str(spec), "--out", str(folder), "--force", cwd=tmp_path)
        assert made.returncode == 0, made.stderr

    recreate("")
    start = time.monotonic()
    again = labgen(env, "provision", str(folder), cwd=tmp_path)  # sets part 1 up: all done
    timings["part 2 provision"] = time.monotonic() - start
    assert again.returncode == 0, again.stderr[-2000:]

    start = time.monotonic()
    check = labgen(env, "check", str(folder), "--json", cwd=tmp_path)  # auto: solves
    timings["part 2 check"] = time.monotonic() - start
    assert check.returncode == 0, failed_steps(check)
    report = json.loads(check.stdout)
    assert report["mode"] == "solve"
    assert solve_statuses(report) == {
        **SECURE_SOLVE_STATUSES,
        ("http-refused", "client"): "expected-failure",
    }
    status = {(r["id"], r["host"]): r["excerpt"] for r in report["results"]}
    assert TLS_ONLY in status[("http-refused", "client")]
    assert "/home/vagrant/.docker/config.json" in status[("login", "client")]

    start = time.monotonic()
    grade = labgen(env, "check", str(folder), "--mode", "grade", "--json", cwd=tmp_path)
    timings["part 2 grade"] = time.monotonic() - start
    assert grade.returncode == 0, grade.stdout + grade.stderr[-2000:]
    assert {r["status"] for r in json.loads(grade.stdout)["results"]} == {"pass"}

    # Solved mode over the finished lab: every done_if runs as vagrant and finds its
    # effect (a done_if run as root would not see vagrant's login, and log in as root).
    recreate("mode: solved\n")
    again = subprocess.run(
        ["vagrant", "provision"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout[-2000:]
    output = again.stdout + again.stderr  # Vagrant shows the script's stderr on either
    for host in ("registry", "client"):
        assert f"{host}: labgen-node: part 1's end state: set up before" in output
        assert f"{host}: labgen-node: step login: already done" in output
        assert f"{host}: labgen-node: step remove-insecure: already done" in output
        root_login = subprocess.run(
            ["vagrant", "ssh", host, "-c", "sudo test -e /root/.docker/config.json", "--", "-q"],
            cwd=folder,
            env=env,
            capture_output=True,
        )
        assert root_login.returncode == 1, host
    return timings


# A podman client next to the docker registry host (podman: Debian 13 only).
PODMAN_SPEC = (
    SPEC
    + """hosts:
  - {name: registry, ip: 192.168.56.101, role: registry}
  - {name: client, ip: 192.168.56.102, role: client, engine: podman}
"""
)
LAN_IMAGE = "192.168.56.101:5000/nginx:alpine"  # what the client pulls in the end
PODMAN_SOLVE_STATUSES = {
    ("pull-lan-before-config", "client"): "expected-failure",
    ("pull-lan-daemon-json", "client"): "deviation",
    ("push-lan-untagged", "registry"): "deviation",
    # The post's http:// form as a registries.conf location: podman refuses the file.
    ("registries-conf-scheme", "client"): "deviation",
}


@pytest.mark.skipif(SUITE != "trixie", reason="podman clients need os debian-13")
def test_podman_client_vm_solves_and_grades(vm_env: dict[str, str], tmp_path: Path) -> None:
    """On a VM the steps and goals run as the login user: podman is rootless there, with
    its own storage, and needs newuidmap (the box once lacked it: up failed)."""
    spec = tmp_path / "vm-pod.yaml"
    spec.write_text(PODMAN_SPEC)
    folder = tmp_path / "vm-pod"
    assert labgen(vm_env, "create", str(spec), "--out", str(folder), cwd=tmp_path).returncode == 0
    try:
        up = labgen(
            vm_env, "up", str(folder), "--backend", "vagrant", "--provider", "libvirt", cwd=tmp_path
        )
        assert up.returncode == 0, up.stderr[-3000:]
        status = labgen(vm_env, "status", str(folder), cwd=tmp_path)
        assert status.returncode == 0 and status.stdout.count("engine answers") == 2, status
        check = labgen(vm_env, "check", str(folder), "--json", cwd=tmp_path)
        assert check.returncode == 0, failed_steps(check)
        report = json.loads(check.stdout)
        assert report["engines"]["client"].startswith("podman 5.")
        assert solve_statuses(report) == PODMAN_SOLVE_STATUSES
        env = {**os.environ, "VAGRANT_HOME": vm_env["VAGRANT_HOME"]}
        pulled = subprocess.run(
            ["vagrant", "ssh", "client", "-c", f"podman image exists {LAN_IMAGE}", "--", "-q"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        assert pulled.returncode == 0, pulled.stderr  # in the login user's own storage
        grade = labgen(vm_env, "check", str(folder), "--mode", "grade", cwd=tmp_path)
        assert grade.returncode == 0, grade.stdout + grade.stderr[-2000:]
    finally:
        down = labgen(vm_env, "down", str(folder), cwd=tmp_path)
    assert down.returncode == 0, down.stderr
