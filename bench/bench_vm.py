"""How long the two-VM lab takes: `labgen up --backend vagrant`, check, re-provision, down.

    sudo .venv/bin/python bench/bench_vm.py [--runs N]     (or: sudo make bench-vm)

Needs what the VM test needs (root; `sandbox/vm/libvirt.sh deps`; the image tarballs of
`sandbox/images.sh build`). Builds/registers the box once (not timed), starts libvirt
with its isolated networks and the hub, then N times (default 1: each run is minutes
under software emulation) times each phase as a whole process and prints medians.
Targets: whole lab (up + check + down) <= 4 min; re-provision <= 5 s per host.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABGEN = str(Path(sys.executable).with_name("labgen"))
SPEC = """name: vm-lab
mirror: http://192.168.56.1:5555
vagrant: {libvirt_driver: qemu, libvirt_cpu_model: qemu64}
"""
TARGET_WHOLE_S = 240.0
TARGET_REPROVISION_PER_HOST_S = 5.0


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.monotonic() - start


def vm_script(name: str, *args: str, env: dict[str, str]) -> None:
    subprocess.run(
        ["bash", str(REPO / "sandbox" / "vm" / name), *args],
        check=True,
        env=env,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    runs = parser.parse_args().runs
    if os.geteuid() != 0:
        sys.exit("bench: libvirt and the VMs need root; run it with sudo")
    env = {
        **os.environ,
        "VAGRANT_HOME": "/var/lib/labgen-vm/vagrant.d",
        "LABGEN_HUB_REQUIRE_IMAGES": "1",
    }
    phases: dict[str, list[float]] = {
        "up": [],
        "check": [],
        "reprovision": [],
        "down": [],
        "whole": [],
    }
    vm_script("box.sh", env=env)
    vm_script("libvirt.sh", "up", env=env)
    try:
        vm_script("hub.sh", "up", env=env)
        with tempfile.TemporaryDirectory() as tmp:
            spec, lab = Path(tmp) / "vm-lab.yaml", Path(tmp) / "vm-lab"
            spec.write_text(SPEC)
            subprocess.run(
                [LABGEN, "create", str(spec), "--out", str(lab)],
                check=True,
                env=env,
                capture_output=True,
            )
            for _ in range(runs):
                up = timed(
                    [LABGEN, "up", str(lab), "--backend", "vagrant", "--provider", "libvirt"], env
                )
                check = timed([LABGEN, "check", str(lab), "--mode", "solve"], env)
                again = timed(["vagrant", "provision"], env, cwd=lab)
                down = timed([LABGEN, "down", str(lab)], env)
                for name, value in (
                    ("up", up),
                    ("check", check),
                    ("reprovision", again),
                    ("down", down),
                    ("whole", up + check + down),
                ):
                    phases[name].append(value)
    finally:
        vm_script("hub.sh", "down", env=env)
        vm_script("libvirt.sh", "down", env=env)
    print(f"two-VM lab (libvirt, software emulation), {runs} run(s), medians:")
    for name, values in phases.items():
        print(
            f"  {name:<12} {statistics.median(values):7.1f} s   (runs: {', '.join(f'{v:.1f}' for v in values)})"
        )
    whole = statistics.median(phases["whole"])
    per_host = statistics.median(phases["reprovision"]) / 2
    print(
        f"  whole lab {whole:.0f} s, target <= {TARGET_WHOLE_S:.0f} s: {'PASS' if whole <= TARGET_WHOLE_S else 'MISS'}"
    )
    print(
        f"  re-provision {per_host:.1f} s per host, target <= {TARGET_REPROVISION_PER_HOST_S:.0f} s: "
        f"{'PASS' if per_host <= TARGET_REPROVISION_PER_HOST_S else 'MISS'}"
    )


if __name__ == "__main__":
    main()
