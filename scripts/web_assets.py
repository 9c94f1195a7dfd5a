"""Copy the terminal emulator from web/node_modules (after `npm ci` in web/) into the
Python package, with a manifest naming each file's package, version and lockfile
integrity, so that a test can tell the committed copies match web/package-lock.json."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "web" / "node_modules"
VENDOR = ROOT / "generator" / "labgen" / "workspace" / "static" / "vendor"
# package -> the files the workspace page loads from it (ES modules and the stylesheet).
FILES = {
    "@xterm/xterm": ["lib/xterm.mjs", "css/xterm.css", "LICENSE"],
    "@xterm/addon-fit": ["lib/addon-fit.mjs", "LICENSE"],
}


def main() -> int:
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text(encoding="utf-8"))
    manifest: dict[str, dict[str, object]] = {}
    VENDOR.mkdir(parents=True, exist_ok=True)
    for package, files in FILES.items():
        installed = json.loads((MODULES / package / "package.json").read_text(encoding="utf-8"))
        locked = lock["packages"][f"node_modules/{package}"]
        if installed["version"] != locked["version"]:
            print(
                f"web/node_modules/{package}: {installed['version']} installed, "
                f"{locked['version']} locked; run `npm ci` in web/",
                file=sys.stderr,
            )
            return 1
        copied = {}
        for name in files:
            target = f"{package.split('/')[-1]}-{Path(name).name}"
            shutil.copyfile(MODULES / package / name, VENDOR / target)
            copied[target] = hashlib.sha256((VENDOR / target).read_bytes()).hexdigest()
        manifest[package] = {
            "version": locked["version"],
            "integrity": locked["integrity"],
            "files": copied,
        }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (VENDOR / "manifest.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
