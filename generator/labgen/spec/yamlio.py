"""Read a YAML spec file without letting it exhaust the machine.

Before any object is built, one pass over the parser's events (no recursion) bounds the
nesting depth and the number of nodes the document expands to, aliases counted as often
as they are used: a kilobyte of nested aliases (a "billion laughs") would otherwise
become billions of references for the code that walks it. Duplicate keys are errors,
where YAML loaders let the later one win silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labgen.atomic import NotAFile, TooLarge, read_bounded, shown_path
from labgen.errors import SpecError
from labgen.spec import rules

TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (merge keys `<<` aside),
    and reads date-like values as the text written: no spec field is a date, and YAML's
    dates fail on values such as 2026-02-30 (or turn `name: 2026-02-03` into a date)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # unhashable: SafeLoader reports it itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]  # a timestamp is a scalar


_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_constructor(TIMESTAMP, _as_text)  # an explicit !!timestamp too


def read_yaml(path: Path, what: str) -> object:
    """The data of YAML file `path` (None when empty); SpecError, one line, when it cannot be."""
    try:
        data = read_bounded(path, rules.MAX_SPEC_BYTES)
    except TooLarge:
        raise SpecError(
            [
                f"{shown_path(path)}: larger than {rules.MAX_SPEC_BYTES} bytes; a {what} is "
                "a few lines of YAML"
            ]
        ) from None
    except NotAFile as exc:
        raise SpecError(
            [f"{shown_path(path)}: {exc.strerror}; give the {what} as a file"]
        ) from None
    except OSError as exc:
        raise SpecError(
            [f"{shown_path(path)}: cannot read the {what} ({exc.strerror}); check the path"]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [f"{shown_path(path)}: byte {exc.start} is not UTF-8; save the {what} as UTF-8 text"]
        ) from None
    return parse_yaml(text, shown_path(path))


def parse_yaml(text: str, name: str) -> object:
    """The data of YAML `text`; SpecError naming `name` and the line when it is not fit to load."""
    try:
        _check_size(text, name)
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError([f"{name}: {problem}{where}; fix the YAML syntax"]) from None
    except (ValueError, TypeError, OverflowError):
        # A value its tag cannot hold (`!!int x`, `!!float y`): PyYAML's constructors
        # raise Python's own errors, whose texts repeat the value.
        raise SpecError(
            [f"{name}: a value does not fit its YAML tag (such as !!int); fix or remove the tag"]
        ) from None


def _check_size(text: str, name: str) -> None:
    """Bound depth and expanded node count from the event stream, before composing nodes."""
    sizes: dict[str, int] = {}  # anchor -> expanded node count of what it names
    open_sizes: list[int] = []  # expanded node count so far of each open collection
    total = 0

    def count(nodes: int, event: yaml.Event) -> None:
        nonlocal total
        total += nodes
        if open_sizes:
            open_sizes[-1] += nodes
        if total > rules.MAX_YAML_NODES:
            raise SpecError(
                [
                    f"{name}: the document expands to more than {rules.MAX_YAML_NODES} values "
                    f"by line {_line(event)} (an alias counts each time it is used); "
                    "write it out plainly"
                ]
            )

    anchors: list[str | None] = []
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_sizes) >= rules.MAX_YAML_DEPTH:
                raise SpecError(
                    [
                        f"{name}: nested deeper than {rules.MAX_YAML_DEPTH} levels at line "
                        f"{_line(event)}; a spec needs only a few"
                    ]
                )
            count(1, event)
            open_sizes.append(1)
            anchors.append(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            size = open_sizes.pop()
            anchor = anchors.pop()
            if anchor:
                sizes[anchor] = size
            if open_sizes:
                open_sizes[-1] += size - 1  # its own node was added when it opened
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            count(1, event)
        elif isinstance(event, yaml.AliasEvent):
            # An alias to an unknown or still open anchor counts once; the loader reports it.
            count(sizes.get(event.anchor or "", 1), event)


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark else 0
