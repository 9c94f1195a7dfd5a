"""sandbox/images.sh shares its cache between sandbox instances: its stand_in function
runs against a stand-in `docker` (each instance's engine is a folder of image IDs), so
two instances building at once are seen to both succeed, build once and agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO_ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs flock")

SCRIPT = REPO_ROOT / "sandbox" / "images.sh"
# A stand-in docker: the engine FAKE_ENGINE holds one file per image (its ID); a build
# and a save are slow and written in two halves, so runs that overlap interleave.
FAKE_DOCKER = r"""#!/bin/bash
set -e
img_file() { echo "$FAKE_ENGINE/${1//[:\/]/_}"; }
case "$1 $2" in
  "image inspect")
    shift 2
    [ "$1" = -f ] && shift 2
    [ -f "$(img_file "$1")" ] || exit 1
    cat "$(img_file "$1")" ;;
  "build -q")
    echo "build $FAKE_ENGINE" >>"$FAKE_LOG"
    sleep 0.5
    echo "sha256:$(basename "$FAKE_ENGINE")-$RANDOM" >"$(img_file "$4")" ;;
  "save -o")
    id=$(cat "$(img_file "$4")")
    printf '%s' "${id:0:10}" >"$3"; sleep 0.5; echo "${id:10}" >>"$3" ;;
  "load -q")
    echo "load $FAKE_ENGINE" >>"$FAKE_LOG"
    cp "$4" "$(img_file img:1)" ;;
  *) echo "fake docker: unexpected $*" >&2; exit 2 ;;
esac
"""
RECIPE = "build_img() { have_image img:1 || docker build -q -t img:1 ctx; }"


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """A stand-in docker on PATH, a shared cache folder and two empty engines."""
    (tmp_path / "bin").mkdir()
    docker = tmp_path / "bin" / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    for engine in ("a", "b"):
        (tmp_path / engine).mkdir()
    (tmp_path / "log").write_text("")
    return tmp_path


def start(
    machine: Path, engine: str, recipe: str = RECIPE, wrap: list[str] | None = None
) -> subprocess.Popen[str]:
    """images.sh's stand_in for img:1 on ENGINE, as `images.sh build` runs it."""
    cache = machine / "cache"
    script = f"""
set -euo pipefail
source {SCRIPT}
CACHE={cache} IMG_CACHE={cache}/images CACHE_LOCK={cache}/images.lock FORCE=0
{recipe}
stand_in img:1 img-1.tar build_img
"""
    env = {
        "PATH": f"{machine}/bin:/usr/bin:/bin",
        "FAKE_ENGINE": str(machine / engine),
        "FAKE_LOG": str(machine / "log"),
    }
    return subprocess.Popen(
        [*(wrap or []), "bash", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    return out


def image_id(machine: Path, engine: str) -> str:
    return (machine / engine / "img_1").read_text().strip()


def test_two_instances_building_at_once_both_succeed_build_once_and_run_one_image(
    machine: Path,
) -> None:
    cache = machine / "cache"
    cache.mkdir()
    # one run inside the build.lock other scripts take around the whole build: the
    # cache lock is another file, so it does not wait for itself
    first = start(machine, "a", wrap=["flock", str(cache / "build.lock")])
    second = start(machine, "b")
    finish(first)
    finish(second)

    calls = (machine / "log").read_text().split("\n")
    assert sorted(c.split()[0] for c in calls if c) == ["build", "load"]
    saved = (cache / "images" / "img-1.tar").read_text().strip()
    assert image_id(machine, "a") == image_id(machine, "b") == saved
    stamp = (cache / "images" / ".img:1.id").read_text().split()
    assert stamp[1] == saved
    assert sorted(p.name for p in (cache / "images").iterdir()) == [".img:1.id", "img-1.tar"]


def test_a_later_build_leaves_the_cache_alone_and_a_changed_recipe_rebuilds(machine: Path) -> None:
    finish(start(machine, "a"))
    stamp = machine / "cache" / "images" / ".img:1.id"
    before = stamp.read_text()

    assert "img:1 present" in finish(start(machine, "a"))
    finish(start(machine, "b"))
    assert stamp.read_text() == before
    assert (machine / "log").read_text().split("\n")[:2] == [
        f"build {machine}/a",
        f"load {machine}/b",
    ]

    # an edited recipe is a new key: the engine's image predates it and is rebuilt
    finish(start(machine, "b", recipe=RECIPE.replace("ctx", "ctx2")))
    assert stamp.read_text().split()[0] != before.split()[0]
    assert (
        image_id(machine, "b") == (machine / "cache" / "images" / "img-1.tar").read_text().strip()
    )
    assert (machine / "log").read_text().split("\n")[2] == f"build {machine}/b"
