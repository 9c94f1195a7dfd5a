"""The lab spec as JSON Schema (draft 2020-12), for editors and for checking specs in CI.

It comes from the model's own definition (model.py), so it states the same patterns,
bounds and defaults the decoder enforces; the rules across fields that JSON Schema can
express (exactly one registry host) are declared there too.
"""

from __future__ import annotations

from typing import Any

import msgspec

from labgen.spec.model import LabSpec


def spec_schema() -> dict[str, Any]:
    return struct_schema(LabSpec, "labgen lab spec")


def struct_schema(struct: type[msgspec.Struct], title: str) -> dict[str, Any]:
    """`struct`'s schema with its definitions inlined: one self-contained object to read."""
    generated = msgspec.json.schema(struct)
    # Drop the titles msgspec gives each definition (the class names): they mean nothing to users.
    definitions = {
        name: {k: v for k, v in schema.items() if k != "title"}
        for name, schema in generated.pop("$defs", {}).items()
    }

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**definitions[ref.removeprefix("#/$defs/")], **rest})
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    body = inline(generated)
    for field in msgspec.structs.fields(struct):
        if field.default_factory is not msgspec.NODEFAULT:
            # As JSON types (lists, not tuples), like the defaults msgspec states itself.
            default = msgspec.json.decode(msgspec.json.encode(field.default_factory()))
            body["properties"][field.encode_name]["default"] = default
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **body,
    }
