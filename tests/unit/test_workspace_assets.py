"""The workspace's terminal emulator is committed in the package (a pip-installed labgen
needs no node and no other origin); these copies must be the versions web/package-lock.json
pins, byte for byte what `make web` copied."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers import REPO_ROOT

VENDOR = REPO_ROOT / "generator" / "labgen" / "workspace" / "static" / "vendor"
LOCK = REPO_ROOT / "web" / "package-lock.json"


def manifest() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(
        (VENDOR / "manifest.json").read_text(encoding="utf-8")
    )
    return data


def test_the_package_json_pins_exact_versions_and_the_lockfile_agrees() -> None:
    wanted = json.loads((REPO_ROOT / "web" / "package.json").read_text(encoding="utf-8"))
    locked = json.loads(LOCK.read_text(encoding="utf-8"))["packages"]
    for package, version in wanted["dependencies"].items():
        assert version[0].isdigit(), f"{package}: pin an exact version, not {version}"
        assert locked[f"node_modules/{package}"]["version"] == version


def test_the_committed_copies_are_the_locked_versions() -> None:
    locked = json.loads(LOCK.read_text(encoding="utf-8"))["packages"]
    copied = manifest()
    assert set(copied) == {"@xterm/xterm", "@xterm/addon-fit"}
    for package, entry in copied.items():
        assert entry["version"] == locked[f"node_modules/{package}"]["version"], package
        assert entry["integrity"] == locked[f"node_modules/{package}"]["integrity"], package
        files = entry["files"]
        assert isinstance(files, dict)
        for name, digest in files.items():
            assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_nothing_in_the_vendor_folder_is_unlisted() -> None:
    listed = {name for entry in manifest().values() for name in entry["files"]}  # type: ignore[union-attr]
    assert {path.name for path in VENDOR.iterdir()} == listed | {"manifest.json"}


def test_the_copies_equal_the_installed_packages_when_npm_ci_has_run() -> None:
    modules = REPO_ROOT / "web" / "node_modules"
    if not modules.is_dir():
        pytest.skip("web/node_modules is absent: run `make web` to compare byte for byte")
    sources = {
        "xterm-xterm.mjs": "@xterm/xterm/lib/xterm.mjs",
        "xterm-xterm.css": "@xterm/xterm/css/xterm.css",
        "addon-fit-addon-fit.mjs": "@xterm/addon-fit/lib/addon-fit.mjs",
    }
    for name, source in sources.items():
        assert (VENDOR / name).read_bytes() == (modules / source).read_bytes(), name
        version = json.loads(
            (modules / Path(source).parts[0] / Path(source).parts[1] / "package.json").read_text()
        )["version"]
        assert manifest()[f"{Path(source).parts[0]}/{Path(source).parts[1]}"]["version"] == version
