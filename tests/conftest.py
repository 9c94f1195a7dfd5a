"""Shared fixtures of labgen's tests: paths, spec files, rendering, and external tools."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import REPO_ROOT, SEED_EXCERPT, missing, tool_or_skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*/expected/ from the current templates instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def seed_post() -> str:
    """The tutorial's lines the scenario is compared with (commands, JSON, quoted errors)."""
    return SEED_EXCERPT.read_text(encoding="utf-8")


@pytest.fixture
def spec_file(tmp_path: Path) -> Callable[[Any], Path]:
    """Write a spec (data → YAML, or text as it is) to a file and return its path."""
    counter = iter(range(1_000_000))

    def write(content: Any) -> Path:
        path = tmp_path / f"spec-{next(counter)}.yaml"
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    return tool_or_skip


@pytest.fixture
def require() -> Callable[[str], None]:
    """`require(reason)`: skip locally / fail in CI, for prerequisites other than a binary."""
    return missing
