"""sandbox/vm/libvirt.sh touches only what it made: its functions run against fake
virsh/libvirtd/ip commands (nothing real is started, stopped or removed but the
dummy processes these tests start themselves)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import REPO_ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")

SCRIPT = REPO_ROOT / "sandbox" / "vm" / "libvirt.sh"
FAKE_VIRSH = """#!/bin/bash
echo "virsh $*" >>"$FAKE_DIR/log"
while [[ ${1:-} == -q || ${1:-} == -c ]]; do [[ $1 == -c ]] && shift; shift; done
case ${1:-} in
  version) [[ -e $FAKE_DIR/answers ]] ;;
  list) cat "$FAKE_DIR/domains" ;;
  vol-list) sed 's|.*|  & /var/lib/libvirt/images/&|' "$FAKE_DIR/volumes" ;;
  *) exit 0 ;;
esac
"""
RECORDER = '#!/bin/bash\necho "$(basename "$0") $*" >>"$FAKE_DIR/log"\nexit 1\n'


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    """A folder of fake commands, their call log and what the fake libvirt holds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {
        "virsh": FAKE_VIRSH,
        "libvirtd": RECORDER,
        "virtlogd": RECORDER,
        "ip": RECORDER,
        "id": "#!/bin/bash\necho 0\n",
    }.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "log").write_text("")
    (tmp_path / "domains").write_text("")
    (tmp_path / "volumes").write_text("")
    return tmp_path


def run_function(fake: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Source libvirt.sh with its paths moved under `fake`, then run `body`."""
    script = f"""
source {SCRIPT}
RUN_DIR={fake}/run STATE_DIR={fake}/state QEMU_CONF={fake}/qemu.conf
FOUND_DOMAINS={fake}/state/found-domains FOUND_VOLUMES={fake}/state/found-volumes
{body}
"""
    env = {"PATH": f"{fake}/bin:/usr/bin:/bin", "FAKE_DIR": str(fake)}
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def dummy(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Starts a long sleep whose executable is named NAME; stops them afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> int:
        exe = tmp_path / "dummies" / name
        exe.parent.mkdir(exist_ok=True)
        shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
        started.append(subprocess.Popen([str(exe), "300"]))
        return started[-1].pid

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def test_stop_by_pidfile_spares_a_process_that_is_not_the_recorded_one(
    fake: Path,
    dummy: Callable[[str], int],
) -> None:
    other = dummy("sleep")  # the PID was reused by something else
    (fake / "libvirtd.pid").write_text(f"{other}\n")
    done = run_function(fake, f"stop_pidfile {fake}/libvirtd.pid libvirtd")
    assert done.returncode == 0, done.stderr
    assert alive(other)
    assert not (fake / "libvirtd.pid").exists()
    ours = dummy("libvirtd")
    (fake / "libvirtd.pid").write_text(f"{ours}\n")
    assert run_function(fake, f"stop_pidfile {fake}/libvirtd.pid libvirtd").returncode == 0
    assert not alive(ours)


def test_up_refuses_a_libvirtd_it_did_not_start(fake: Path) -> None:
    (fake / "answers").touch()  # someone else's libvirtd answers on qemu:///system
    (fake / "qemu.conf").write_text("# theirs\n")
    done = run_function(fake, "cmd_up")
    assert done.returncode != 0
    assert "not started by this script" in done.stderr
    calls = (fake / "log").read_text()
    assert "libvirtd" not in calls.replace("virsh", "") and "virtlogd" not in calls
    assert "net-define" not in calls and "pool-define" not in calls
    assert (fake / "qemu.conf").read_text() == "# theirs\n"


def test_down_leaves_a_libvirtd_it_did_not_start_alone(fake: Path) -> None:
    (fake / "answers").touch()
    (fake / "domains").write_text("labgen-registry\n")
    (fake / "volumes").write_text("labgen-registry.img\n")
    done = run_function(fake, "cmd_down")
    assert done.returncode == 0, done.stderr
    calls = (fake / "log").read_text()
    for removal in ("destroy", "undefine", "vol-delete"):
        assert removal not in calls
    assert "left alone" in done.stderr


def test_down_removes_only_domains_and_volumes_up_did_not_find(
    fake: Path,
    dummy: Callable[[str], int],
) -> None:
    (fake / "answers").touch()
    (fake / "run").mkdir()
    (fake / "run" / "libvirtd.pid").write_text(str(dummy("libvirtd")))
    (fake / "domains").write_text("labgen-theirs\nother-vm\n")
    box = "debian-VAGRANTSLASH-bookworm64_vagrant_box_image_0_box.img"
    (fake / "volumes").write_text(f"{box}\nlabgen-theirs.img\nuser.img\n")
    assert run_function(fake, "record_found").returncode == 0
    # Then the lab ran: vagrant-libvirt made two domains, their disks (the box was there).
    (fake / "domains").write_text("labgen-theirs\nother-vm\nlabgen-registry\nlabgen-client\n")
    (fake / "volumes").write_text(
        f"{box}\nlabgen-theirs.img\nuser.img\nlabgen-registry.img\nlabgen-client.img\n"
    )
    done = run_function(fake, "cmd_down")
    assert done.returncode == 0, done.stderr
    calls = (fake / "log").read_text().splitlines()
    destroyed = [c.split()[-1] for c in calls if " destroy " in c]
    deleted = [c.split()[-1] for c in calls if " vol-delete " in c]
    assert destroyed == ["labgen-registry", "labgen-client"]
    assert deleted == ["labgen-registry.img", "labgen-client.img"]
    assert not (fake / "state" / "found-domains").exists()


def test_down_without_a_record_removes_no_volume(
    fake: Path,
    dummy: Callable[[str], int],
) -> None:
    (fake / "answers").touch()
    (fake / "run").mkdir()
    (fake / "run" / "libvirtd.pid").write_text(str(dummy("libvirtd")))
    (fake / "volumes").write_text(
        "debian-VAGRANTSLASH-bookworm64_vagrant_box_image_0_box.img\nlabgen-x.img\n"
    )
    done = run_function(fake, "cmd_down")
    assert done.returncode == 0, done.stderr
    assert "vol-delete" not in (fake / "log").read_text()
    assert "no record" in done.stderr


def test_down_deletes_the_box_volumes_it_uploaded_of_either_suite(
    fake: Path,
    dummy: Callable[[str], int],
) -> None:
    (fake / "answers").touch()
    (fake / "run").mkdir()
    (fake / "run" / "libvirtd.pid").write_text(str(dummy("libvirtd")))
    (fake / "volumes").write_text("user.img\n")
    assert run_function(fake, "record_found").returncode == 0
    uploaded = [
        f"debian-VAGRANTSLASH-{suite}64_vagrant_box_image_0_1795862747_box.img"
        for suite in ("bookworm", "trixie")
    ]
    other_box = "debian-VAGRANTSLASH-sid64_vagrant_box_image_0_box.img"
    (fake / "volumes").write_text("\n".join(["user.img", *uploaded, other_box, ""]))
    done = run_function(fake, "cmd_down")
    assert done.returncode == 0, done.stderr
    calls = (fake / "log").read_text().splitlines()
    assert [c.split()[-1] for c in calls if " vol-delete " in c] == uploaded
