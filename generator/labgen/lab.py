"""A rendered lab folder, as the live-lab commands (up, check, down, status) see it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from labgen.atomic import NotAFile, TooLarge, read_bounded, shown_path
from labgen.errors import LabgenError, UsageError
from labgen.spec.model import LabSpec
from labgen.spec.parse import load_spec

STATE_DIR = ".labgen"
MAX_STATE_BYTES = 1 << 16  # a few lines of JSON


@dataclass
class LabState:
    """What `labgen up` chose, so that check/status/down act on the same lab the same way."""

    backend: str
    compose_files: list[str] = field(default_factory=list)
    vagrant_provider: str | None = None


@dataclass(frozen=True)
class Lab:
    path: Path
    spec: LabSpec

    @property
    def state_file(self) -> Path:
        return self.path / STATE_DIR / "state.json"

    def read_state(self) -> LabState | None:
        try:
            data = read_bounded(self.state_file, MAX_STATE_BYTES)
            return msgspec.json.decode(data, type=LabState)
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, UnicodeDecodeError, NotAFile, TooLarge) as error:
            why = error.strerror if isinstance(error, OSError) else str(error)
            raise LabgenError(
                f"{shown_path(self.state_file)}: not a state file labgen can read ({why}); "
                "delete it (it only records the backend `labgen up` used) and give --backend"
            ) from None

    def write_state(self, state: LabState) -> None:
        self.state_file.parent.mkdir(exist_ok=True)
        self.state_file.write_text(json.dumps(state.__dict__, indent=2) + "\n", encoding="utf-8")

    def clear_state(self) -> None:
        self.state_file.unlink(missing_ok=True)


def open_lab(path: Path | None) -> Lab:
    """The lab in `path` (default: the only lab under labs/, or the current folder)."""
    folder = path or _default_lab_folder()
    spec_file = folder / "lab.yaml"
    if not spec_file.exists():
        raise UsageError(
            f"{folder}: no lab.yaml here; give the lab folder (made by `labgen create`)"
        )
    spec, _ = load_spec(spec_file)
    return Lab(path=folder, spec=spec)


def _default_lab_folder() -> Path:
    if Path("lab.yaml").exists():
        return Path(".")
    labs = sorted(p.parent for p in Path("labs").glob("*/lab.yaml"))
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise UsageError("no lab found; run `labgen create` first, or give the lab folder")
    names = ", ".join(str(p) for p in labs)
    raise UsageError(f"several labs found ({names}); give the lab folder")
