"""Strict decoding of raw data (as loaded from YAML) into msgspec Structs, reporting
every problem at once as `path: problem; fix`.

msgspec itself stops at the first error, so each field is converted on its own and the
problems are collected. The advice (`fix`) comes from the type: a Meta's `extra["fix"]`,
else the choices of a Literal or the bounds of a number.
"""

from __future__ import annotations

import re
import reprlib
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec

S = TypeVar("S", bound=msgspec.Struct)

_REPR = reprlib.Repr()
_REPR.maxstring = 50
_REPR.maxother = 50
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 3
_REPR.maxlevel = 2


def show(value: object) -> str:
    """A value as an error line shows it: one line and short, whatever its size.

    reprlib stops early on big values, so a huge list costs no more than a small one."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Problems:
    """Collects `path: problem; fix` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")


def decode(raw: object, struct: type[S], path: str, problems: Problems) -> S | None:
    """`raw` as a `struct`, or None after adding every problem found to `problems`."""
    before = len(problems.lines)
    fields = decode_fields(raw, struct, path, problems)
    if fields is None or len(problems.lines) > before:
        return None
    return struct(**fields)


def decode_fields(
    raw: object,
    struct: type[msgspec.Struct],
    path: str,
    problems: Problems,
    skip: tuple[str, ...] = (),
) -> dict[str, Any] | None:
    """The fields of `struct` that decode well (defaults for missing ones), problems for the
    others; None when `raw` is not a mapping at all. Fields in `skip` are the caller's to
    resolve: neither decoded nor reported missing."""
    names = [f.name for f in msgspec.structs.fields(struct)]
    if not isinstance(raw, Mapping):
        problems.add(path, f"{show(raw)} is not valid; use a mapping with: {', '.join(names)}")
        return None
    prefix = f"{path}." if path else ""
    hidden = 0  # unknown keys that are no field names: never shown (see below)
    for key in raw:
        if key not in names:
            if isinstance(key, str) and re.fullmatch(FIELD_NAME, key):
                problems.add(f"{prefix}{key}", f"unknown field; use one of: {', '.join(names)}")
            else:
                hidden += 1
    if hidden:
        # Such keys are most likely lines of a file that is no spec (`lab: /etc/shadow`):
        # an error must not echo them.
        many = f"{hidden} keys are not field names" if hidden > 1 else "1 key is not a field name"
        problems.add(
            path or "spec",
            f"{many} (not shown: they may be lines of a file that is no spec); "
            f"use only: {', '.join(names)}",
        )
    fields: dict[str, Any] = {}
    for field in msgspec.structs.fields(struct):
        if field.name in skip:
            continue
        if field.name not in raw:
            if field.required:
                problems.add(f"{prefix}{field.name}", f"is missing; {_fix(field.type)}")
            continue
        value = _convert(raw[field.name], field.type, f"{prefix}{field.name}", problems)
        if value is not _INVALID:
            fields[field.name] = value
    return fields


_INVALID = object()
# What an unknown key may look like to be shown in an error: a plain word.
FIELD_NAME = r"\w[\w.-]{0,39}"


def _convert(value: object, kind: Any, path: str, problems: Problems) -> object:
    base, metas = _unwrap(kind)
    struct = _struct_of(base) or _optional_struct(base)
    if value is None and _struct_of(base) is None and struct is not None:
        return None
    if struct is not None:
        decoded = decode(value, struct, path, problems)
        return _INVALID if decoded is None else decoded
    if get_origin(base) is tuple and (item := _struct_of(get_args(base)[0])) is not None:
        return _convert_items(value, item, metas, path, problems)
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError:
        secret = any(m.extra and m.extra.get("writeOnly") for m in _metas_of(kind))
        shown = "the value given (not shown: it is a secret)" if secret else show(value)
        problems.add(path, f"{shown} is not valid; {_fix(kind)}")
        return _INVALID


def _convert_items(
    value: object,
    item: type[msgspec.Struct],
    metas: list[msgspec.Meta],
    path: str,
    problems: Problems,
) -> object:
    low = max((m.min_length for m in metas if m.min_length is not None), default=0)
    high = min((m.max_length for m in metas if m.max_length is not None), default=None)
    if not isinstance(value, list) or not value:
        problems.add(path, f"{show(value)} is not valid; {_fix_from(metas, 'use a list')}")
        return _INVALID
    if high is not None and len(value) > high:
        problems.add(path, f"{_entries(len(value))} is too many; use at most {high}")
        return _INVALID
    items = [decode(entry, item, f"{path}[{i}]", problems) for i, entry in enumerate(value)]
    if len(value) < low:
        problems.add(path, f"{_entries(len(value))} is too few; use at least {low}")
        return _INVALID
    return _INVALID if None in items else tuple(items)


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _unwrap(kind: Any) -> tuple[Any, list[msgspec.Meta]]:
    """The type under `Annotated` (nested ones flattened), and its Meta constraints."""
    metas: list[msgspec.Meta] = []
    while get_origin(kind) is Annotated:
        kind, *extras = get_args(kind)
        metas += [m for m in extras if isinstance(m, msgspec.Meta)]
    return kind, metas


def _metas_of(kind: Any) -> list[msgspec.Meta]:
    """The Meta constraints of `kind`, also of the one type in `T | None`."""
    base, metas = _unwrap(kind)
    if get_origin(base) in (Union, types.UnionType):
        for option in get_args(base):
            if option is not type(None):
                metas += _unwrap(option)[1]
    return metas


def _struct_of(kind: Any) -> type[msgspec.Struct] | None:
    return kind if isinstance(kind, type) and issubclass(kind, msgspec.Struct) else None


def _optional_struct(kind: Any) -> type[msgspec.Struct] | None:
    """S for `S | None` (so an optional section's fields are checked one by one)."""
    if get_origin(kind) not in (Union, types.UnionType):
        return None
    options = [k for k in get_args(kind) if k is not type(None)]
    return _struct_of(options[0]) if len(options) == 1 else None


def _fix(kind: Any) -> str:
    """The advice for a value that is not a valid `kind`."""
    base, metas = _unwrap(kind)
    if get_origin(base) in (Union, types.UnionType):
        options = [k for k in get_args(base) if k is not type(None)]
        return _fix(options[0]) if len(options) == 1 else "see `labgen schema`"
    if get_origin(base) is Literal:
        return "use one of: " + ", ".join(map(str, get_args(base)))
    if base is int:
        low = max((m.ge for m in metas if m.ge is not None), default=None)
        high = min((m.le for m in metas if m.le is not None), default=None)
        if low is not None and high is not None:
            return f"use a whole number from {low} to {high}"
        return "use a whole number"
    return _fix_from(metas, f"use a {getattr(base, '__name__', 'value')}")


def _fix_from(metas: list[msgspec.Meta], fallback: str) -> str:
    for meta in metas:
        if meta.extra and "fix" in meta.extra:
            return str(meta.extra["fix"])
    return fallback
