"""The two-VM lab for real: the rendered Vagrantfile, `vagrant up` on libvirt, `labgen check`.

The VMs run under QEMU's software emulation (this machine's KVM cannot run normal
guests), on isolated libvirt networks made by sandbox/vm/libvirt.sh: no NAT, no DNS
forwarding. Images reach the guests through the hub on the lab bridge (192.168.56.1:5555),
filled from the tarballs that sandbox/images.sh builds. The box is registered as
debian/bookworm64, so the Vagrantfile is used exactly as rendered from a spec that only
sets the libvirt driver and CPU model for this machine.
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
from e2e_support import MIRROR, SOLVE_STATUSES, labgen, solve_statuses

from helpers import REPO_ROOT, missing

pytestmark = pytest.mark.vm

VAGRANT_HOME = "/var/lib/labgen-vm/vagrant.d"
SPEC = f"""name: vm-lab
mirror: {MIRROR}
vagrant: {{libvirt_driver: qemu, libvirt_cpu_model: qemu64}}
"""


def vm_script(name: str, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["bash", str(REPO_ROOT / "sandbox" / "vm" / name), *args], check=True, env=env)


@pytest.fixture(scope="module")
def vm_env(engine: dict[str, str]) -> Iterator[dict[str, str]]:
    """libvirt up with the lab's isolated networks, the box registered, the hub filled."""
    for tool in ("vagrant", "virsh", "libvirtd", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            missing(f"`{tool}` is missing; run `sandbox/vm/libvirt.sh deps` (as root)")
    env = {**engine, "VAGRANT_HOME": VAGRANT_HOME, "LABGEN_HUB_REQUIRE_IMAGES": "1"}
    env.pop("DOCKER_HOST")
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


def test_two_vm_lab_up_check_reprovision_down(vm_env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "vm-lab.yaml"
    spec.write_text(SPEC)
    folder = tmp_path / "vm-lab"
    assert labgen(vm_env, "create", str(spec), "--out", str(folder), cwd=tmp_path).returncode == 0
    timings: dict[str, float] = {}
    try:
        start = time.monotonic()
        up = labgen(
            vm_env, "up", str(folder), "--backend", "vagrant", "--provider", "libvirt", cwd=tmp_path
        )
        timings["up"] = time.monotonic() - start
        assert up.returncode == 0, up.stderr[-3000:]
        assert "registry: " in up.stderr and "client: " in up.stderr  # progress per machine

        start = time.monotonic()
        check = labgen(vm_env, "check", str(folder), "--json", cwd=tmp_path)
        timings["check"] = time.monotonic() - start
        assert check.returncode == 0, check.stderr[-3000:] + check.stdout[-3000:]
        report = json.loads(check.stdout)
        assert report["backend"] == "vagrant"
        # The same report as the compose backend gives: same steps, same verdicts.
        assert solve_statuses(report) == SOLVE_STATUSES
        first = next(r for r in report["results"] if r["id"] == "pull-lan-before-config")
        assert "http: server gave HTTP response to HTTPS client" in first["excerpt"]

        digests = {h: daemon_json_digest(folder, h, vm_env) for h in ("registry", "client")}
        start = time.monotonic()
        again = subprocess.run(
            ["vagrant", "provision"], cwd=folder, env=vm_env, capture_output=True, text=True
        )
        timings["reprovision"] = time.monotonic() - start
        assert again.returncode == 0, again.stdout[-2000:]
        assert {h: daemon_json_digest(folder, h, vm_env) for h in ("registry", "client")} == digests
        print(f"\nvm lab timings (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    finally:
        start = time.monotonic()
        down = labgen(vm_env, "down", str(folder), cwd=tmp_path)
        print(f"down: {time.monotonic() - start:.1f} s")
    assert down.returncode == 0, down.stderr
    listed = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert "labgen-registry" not in listed.stdout and "labgen-client" not in listed.stdout
