"""How long `labgen create` and `labgen class create` take, as whole processes, next to a
floor and a peer.

    .venv/bin/python bench/bench_create.py [--runs N]     (or: make bench)

Medians over N runs (default 15), interleaved, after one warm-up run each, of:

  (a) floor:        python -c "import click, yaml, jinja2, msgspec"
  (b) labgen:       labgen create --out TMP --force          (the venv's console script)
  (c) cookiecutter: cookiecutter --no-input TEMPLATE -o TMP -f
                    (a template made on the fly holding the same 12 files, two variables)
  (d) class:        labgen class create CLASS --out TMP --force   (30 students, hosted)

Targets: b/a <= 1.5 (labgen's own work costs at most half its imports again; judged on
the median of the per-round ratios, each round running a and b back to back, which a busy
machine disturbs less than a ratio of medians), b/c <= 0.75 (faster than the generic
tool), d <= 2 s. Prints PASS/MISS per target; always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_FLOOR = 1.5
TARGET_COOKIECUTTER = 0.75
TARGET_CLASS_S = 2.0
CLASS_SPEC = """name: bench
delivery: hosted
students: 30
hosted: {server: lab.example.org, ssh_ports: 2200-2299}
"""


def script(name: str) -> str:
    """A console script of this interpreter's environment (the venv), else from PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        sys.exit(f"bench: `{name}` is not installed; run `make` (pip install -e '.[dev]') first")
    return found


def cookiecutter_template(root: Path) -> Path:
    """A cookiecutter template rendering the default lab's files, with two variables."""
    from labgen.render.plan import plan_lab
    from labgen.render.write import with_manifest
    from labgen.spec.parse import parse_spec

    template = root / "template"
    variables = {"lab_name": "registry-lab", "registry_ip": "192.168.56.101"}
    (template / "{{cookiecutter.lab_name}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps(variables))
    for file in with_manifest(plan_lab(parse_spec({})[0])):  # labgen writes its manifest too
        text = file.content
        # The files hold `{{ }}` of their own (Go templates, jq): keep them raw, and let
        # cookiecutter substitute only the two variables.
        for name, value in variables.items():
            text = text.replace(value, f"{{% endraw %}}{{{{cookiecutter.{name}}}}}{{% raw %}}")
        target = template / "{{cookiecutter.lab_name}}" / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{{% raw %}}{text}{{% endraw %}}")
        target.chmod(0o755 if file.executable else 0o644)
    return template


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="labgen-bench-") as tmp:
        root = Path(tmp)
        config = root / "cookiecutter.yaml"
        config.write_text(
            f"cookiecutters_dir: {root / 'cc-cache'}\nreplay_dir: {root / 'cc-replay'}\n"
        )
        # As on a user's machine, where installing compiles the .pyc files: a shell that
        # sets PYTHONDONTWRITEBYTECODE would make labgen (an editable install here)
        # compile every module on every run, while its dependencies have theirs.
        env = {**os.environ, "COOKIECUTTER_CONFIG": str(config)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        template = cookiecutter_template(root)
        (root / "class.yaml").write_text(CLASS_SPEC)
        commands = {
            "floor": [sys.executable, "-c", "import click, yaml, jinja2, msgspec"],
            "labgen": [script("labgen"), "create", "--out", str(root / "lab"), "--force"],
            "cookiecutter": [
                script("cookiecutter"),
                "--no-input",
                str(template),
                "-o",
                str(root / "cc-out"),
                "-f",
            ],
            "class": [
                script("labgen"),
                "class",
                "create",
                str(root / "class.yaml"),
                "--out",
                str(root / "class"),
                "--force",
            ],
        }
        for command in commands.values():  # warm-up: page cache, .pyc files
            timed(command, env)
        if tree(root / "cc-out" / "registry-lab") != tree(root / "lab"):
            sys.exit("bench: cookiecutter's folder differs from labgen's; not a fair comparison")
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                samples[name].append(timed(command, env))

    median = {name: statistics.median(times) for name, times in samples.items()}
    print(f"whole processes, median of {args.runs} runs (python {sys.version.split()[0]})")
    for name, value in median.items():
        spread = f"min {min(samples[name]) * 1000:.0f} / max {max(samples[name]) * 1000:.0f}"
        print(f"  {name:13} {value * 1000:7.1f} ms   ({spread} ms)")
    paired = statistics.median(
        b / a for a, b in zip(samples["floor"], samples["labgen"], strict=True)
    )
    print(f"  {'labgen / floor':22} {median['labgen'] / median['floor']:5.2f}x  (ratio of medians)")
    ratios = [
        ("labgen / floor, paired", paired, TARGET_FLOOR),
        ("labgen / cookiecutter", median["labgen"] / median["cookiecutter"], TARGET_COOKIECUTTER),
    ]
    for label, ratio, target in ratios:
        verdict = "PASS" if ratio <= target else "MISS"
        print(f"  {label:22} {ratio:5.2f}x  (target <= {target}x)  {verdict}")
    verdict = "PASS" if median["class"] <= TARGET_CLASS_S else "MISS"
    print(
        f"  {'class create, 30':22} {median['class']:5.2f} s  (target <= {TARGET_CLASS_S} s)  {verdict}"
    )


if __name__ == "__main__":
    main()
