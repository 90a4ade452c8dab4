"""The JSON schema Claude's output format is given, or why a role's schema cannot be given to it.

Claude's JSON-schema output format decodes under a grammar compiled from the schema, and that compiler takes a
subset of JSON Schema: every object closed (`additionalProperties: false`), no numeric, length or item-count
bounds (a raw pydantic schema is refused with a 400: "For 'integer' type, property 'minimum' is not
supported"). The SDK's own `anthropic.transform_schema` rewrites a schema into that subset, moving the bounds
into the descriptions; the stage runner still validates every reply against the full pydantic model.

What the subset cannot say at all is an object whose keys are not fixed: a `dict` field, such as a plan step's
free-form `args` or Lubit's `priorities`. `transform_schema` closes such an object with no properties, so the
model could only ever answer `{}` there: a plan that validates and has lost every argument. A schema holding
one is therefore never given to the output format; the client asks for the JSON in the prompt instead (the
model's next-best mode) and the stage runner validates and repairs as for any prompted reply.

Forced tools are not concerned: a (non-strict) tool's `input_schema` takes the full schema, open objects and
bounds included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic

from agents.llm.catalog import StructuredOutput

_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def open_objects(schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Where `schema` holds an object whose keys are not fixed (a dict field), as paths into the schema."""
    found: list[str] = []
    is_object = schema.get("type") == "object" or "properties" in schema or "additionalProperties" in schema
    extra = schema.get("additionalProperties")
    if is_object and (extra not in (None, False) or "properties" not in schema):
        found.append(path)
    for name, sub in (schema.get("$defs") or {}).items():
        found += open_objects(sub, f"{path}.$defs.{name}")
    for name, sub in (schema.get("properties") or {}).items():
        found += open_objects(sub, f"{path}.{name}")
    items = schema.get("items")
    if isinstance(items, Mapping):
        found += open_objects(items, f"{path}[]")
    for key in _SUBSCHEMA_LISTS:
        for index, sub in enumerate(schema.get(key) or []):
            found += open_objects(sub, f"{path}.{key}[{index}]")
    return found


def output_format_schema(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The schema in the subset Claude's output format accepts, or None when it holds a dict field."""
    if open_objects(schema):
        return None
    return anthropic.transform_schema(dict(schema))


def effective_structured_output(model_mode: StructuredOutput, schema: Mapping[str, Any]) -> StructuredOutput:
    """The mode a request is sent in: the model's, except a JSON-schema output format the schema cannot be
    given to (a dict field), which falls back to JSON asked for in the prompt."""
    if model_mode is StructuredOutput.JSON_SCHEMA and open_objects(schema):
        return StructuredOutput.PROMPT
    return model_mode
