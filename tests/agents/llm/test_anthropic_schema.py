"""The schema Claude's JSON-schema output format is given: the subset it accepts, never a dict field closed empty."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from agents.analyst import AnalystView
from agents.commander import CommanderOrder
from agents.llm.anthropic_schema import effective_structured_output, open_objects, output_format_schema
from agents.llm.catalog import StructuredOutput
from agents.lubit import LubitVerdict
from agents.rune import RuneOpinion
from agents.sena import Plan
from agents.stage import json_schema_of
from agents.validator import ValidatorVerdict

# Bounds Claude's output-format grammar refuses (a 400: "property 'minimum' is not supported"), and the keywords
# the SDK's transform moves into the descriptions with them.
REFUSED = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
           "maxItems", "uniqueItems", "minProperties", "maxProperties", "pattern", "default"}  # fmt: skip
CLOSED_SCHEMAS: list[type[BaseModel]] = [RuneOpinion, CommanderOrder, AnalystView, ValidatorVerdict]


def nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema object inside `schema` (through $defs, properties, items, anyOf...)."""
    if isinstance(schema, dict):
        yield schema
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    yield from nodes(sub)
            elif key in ("items", "additionalProperties"):
                yield from nodes(value)
            elif key in ("anyOf", "oneOf", "allOf"):
                for sub in value:
                    yield from nodes(sub)


@pytest.mark.parametrize("model", CLOSED_SCHEMAS, ids=lambda m: m.__name__)
def test_a_closed_schema_is_given_in_the_subset_the_format_accepts(model: type[BaseModel]) -> None:
    original = json_schema_of(model)
    kept = copy.deepcopy(original)
    given = output_format_schema(original)
    assert given is not None
    assert original == kept, "the cached schema every request shares is not changed"
    for node in nodes(given):
        assert not REFUSED & set(node), node
        if node.get("type") == "object":
            assert node["additionalProperties"] is False and "properties" in node
    assert set(given["properties"]) == set(original["properties"]) and given["required"] == original["required"]
    assert effective_structured_output(StructuredOutput.JSON_SCHEMA, original) is StructuredOutput.JSON_SCHEMA


def test_the_bounds_move_into_the_descriptions_where_the_model_can_still_read_them() -> None:
    given = output_format_schema(json_schema_of(RuneOpinion))
    assert given is not None
    concerns = given["properties"]["concerns"]
    assert "maxItems: 12" in concerns["description"] and "maxLength: 500" in concerns["items"]["description"]


@pytest.mark.parametrize(
    ("model", "where"),
    [(Plan, ["$.$defs.PlanStep.args"]), (LubitVerdict, ["$.priorities"])],
    ids=["Plan", "LubitVerdict"],
)
def test_a_dict_field_is_never_closed_empty_the_request_falls_back_to_the_prompt(
    model: type[BaseModel], where: list[str]
) -> None:
    schema = json_schema_of(model)
    assert open_objects(schema) == where
    assert output_format_schema(schema) is None
    assert effective_structured_output(StructuredOutput.JSON_SCHEMA, schema) is StructuredOutput.PROMPT
    for mode in (StructuredOutput.FORCED_TOOL, StructuredOutput.JSON_MODE, StructuredOutput.PROMPT):
        assert effective_structured_output(mode, schema) is mode, "a tool's input schema takes dict fields"


def test_what_the_sdk_alone_would_do_to_a_dict_field() -> None:
    """The reason for the fallback: the SDK's transform closes an open object with no properties, so the
    output format would only ever let the model answer `{}` for a plan step's arguments."""
    import anthropic

    closed = anthropic.transform_schema(json_schema_of(Plan))
    args = closed["$defs"]["PlanStep"]["properties"]["args"]
    assert args["properties"] == {} and args["additionalProperties"] is False


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object"},
        {"type": "object", "properties": {"a": {"type": "object", "additionalProperties": {"type": "integer"}}}},
        {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object"}}}},
        {
            "type": "object",
            "properties": {"a": {"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]}},
        },
    ],
    ids=["bare object", "dict of ints", "list of bare objects", "optional dict"],
)
def test_open_objects_are_found_wherever_they_nest(schema: dict[str, Any]) -> None:
    assert open_objects(schema), json.dumps(schema)
    assert output_format_schema(schema) is None


def test_an_object_with_fixed_keys_is_not_open() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}}
    assert open_objects(schema) == []
