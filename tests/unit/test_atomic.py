"""write_text_atomic: a reader sees the old file or the new one, and a failed write leaves
the old file as it was and no temp file behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labgen import atomic
from labgen.atomic import write_text_atomic


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.json"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text(encoding="utf-8") == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(target, "new")
    monkeypatch.setattr(atomic.os, "replace", os.replace)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
