"""The graphs `langgraph dev` serves have typed input and output JSON schemas (the forms LangGraph Studio draws),
and an input without `event` as a JSON object is a validation error that names `event`.

Without the server: `tests/graphs/test_studio_server.py` checks the same through `langgraph dev`'s REST API.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from langgraph.pregel import Pregel
from pydantic import ValidationError

from graphs.deliberation.state import DeliberationInput, event_json_schema
from state.decisions import Outcome
from state.events import EVENT_TYPES, Bar, EventType
from tests.conftest import PipelineFactory, signal

ROOT = Path(__file__).resolve().parents[2]
GRAPHS: dict[str, str] = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
ENVELOPE = ("id", "type", "source", "symbols", "event_time", "payload")


@asynccontextmanager
async def served(spec: str) -> AsyncIterator[Pregel[Any, Any, Any, Any]]:
    """The graph `langgraph.json` names by `spec` ("./path/module.py:attribute"), built as the server builds it:
    a compiled graph as is, a factory called (and entered, when it is a context manager)."""
    path, attribute = spec.rsplit(":", 1)
    module = importlib.import_module(Path(path).with_suffix("").as_posix().removeprefix("./").replace("/", "."))
    target = getattr(module, attribute)
    if isinstance(target, Pregel):
        yield target
        return
    made = target()
    if isinstance(made, AbstractAsyncContextManager):
        async with made as graph:
            yield graph
        return
    yield (await made) if hasattr(made, "__await__") else made


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return resolve(schema, schema["$defs"][ref.removeprefix("#/$defs/")]) if isinstance(ref, str) else node


def assert_studio_schemas(input_schema: Any, output_schema: Any) -> None:
    """What Studio needs to draw the deliberation's forms (shared with the server test)."""
    assert isinstance(input_schema, dict) and isinstance(output_schema, dict)
    assert input_schema["type"] == "object" and input_schema["required"] == ["event"]
    event = input_schema["properties"]["event"]
    assert event["type"] == "object"
    assert "JSON object" in event["description"]
    assert set(ENVELOPE) <= set(event["properties"]) and set(ENVELOPE) - {"symbols"} <= set(event["required"])
    assert event["properties"]["type"]["enum"] == [kind.value for kind in EventType]
    assert event["properties"]["event_time"]["format"] == "date-time"
    assert "$ref" not in json.dumps(event)  # inlined: the form needs nothing else
    assert output_schema["type"] == "object" and output_schema["required"] == ["decision"]
    decision = resolve(output_schema, output_schema["properties"]["decision"])
    assert decision["type"] == "object"
    assert {"event_id", "outcome", "reason", "decided_at"} <= set(decision["required"])
    assert resolve(output_schema, decision["properties"]["outcome"])["enum"] == [o.value for o in Outcome]


@pytest.fixture
def studio_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's environment, on the embedded defaults in a temporary data folder."""
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    for name in ("AEGIS_POSTGRES_URL", "AEGIS_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("studio_env")
@pytest.mark.parametrize("graph_id", sorted(GRAPHS))
async def test_every_served_graph_has_typed_input_and_output_schemas(graph_id: str) -> None:
    async with served(GRAPHS[graph_id]) as graph:
        assert_studio_schemas(graph.get_input_jsonschema(), graph.get_output_jsonschema())


def test_the_event_schema_covers_every_event_type_and_payload() -> None:
    event = event_json_schema()
    payloads = [alternative["title"] for alternative in event["properties"]["payload"]["anyOf"]]
    assert payloads == [m.model_fields["payload"].annotation.__name__ for m in EVENT_TYPES]  # type: ignore[union-attr]
    assert event["additionalProperties"] is False
    assert event_json_schema() is not event_json_schema()  # callers may edit their copy


def test_a_valid_event_matches_the_input_schema_and_a_malformed_one_does_not(session_bar: Bar) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs", reason="comes with langgraph-cli[inmem] (the dev extra)")
    from pydantic import TypeAdapter

    validator = jsonschema_rs.validator_for(TypeAdapter(DeliberationInput).json_schema())
    event = signal("schema-e1", session_bar)
    assert validator.is_valid({"event": event})
    assert not validator.is_valid({})
    assert not validator.is_valid({"event": [event]})
    assert not validator.is_valid({"event": {**event, "type": "NOT_A_TYPE"}})
    assert not validator.is_valid({"event": {**event, "unknown": 1}})


@pytest.mark.parametrize(
    ("graph_input", "message"),
    [
        ({}, "Field required"),
        ({"events": {"id": "e-typo"}}, "Field required"),
        ({"event": None}, "valid dictionary"),
        ({"event": "SIGNAL_GENERATED"}, "valid dictionary"),
        ({"event": [{"id": "e-list"}]}, "valid dictionary"),
    ],
    ids=["empty", "misspelt", "null", "string", "list"],
)
async def test_an_input_without_an_event_object_is_a_validation_error_naming_event(
    make_pipeline: PipelineFactory, graph_input: dict[str, Any], message: str
) -> None:
    pipeline = await make_pipeline()
    with pytest.raises(ValidationError) as raised:
        await pipeline.graph.ainvoke(graph_input, {"configurable": {"thread_id": "studio-bad-input"}})
    [error] = raised.value.errors()
    assert error["loc"] == ("event",)
    assert message in error["msg"]
    assert "event\n" in str(raised.value)


async def test_an_event_object_that_fails_validation_is_still_recorded_as_rejected(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    result = await pipeline.graph.ainvoke({"event": {"id": "e-bad"}}, {"configurable": {"thread_id": "e-bad"}})
    decision = result["decision"]
    assert decision.outcome is Outcome.REJECTED
    assert [e.field for e in decision.rejection] == ["type"]
