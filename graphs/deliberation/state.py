"""The deliberation graph's state: its input (one raw event), what the nodes add, and its output.

Nodes return partial updates; only `stages` accumulates (from parallel branches). `settled` is set by
the node that ends the session early (rejected, screened out, vetoed, hold, blocked) and routes it to
`persist`.

The TypedDicts come from `typing_extensions`: pydantic builds the input and output JSON schemas that
LangGraph Studio draws its forms from, and refuses `typing.TypedDict` before Python 3.12. The input's
`event` stays the raw JSON object as received (an object that fails validation is recorded as rejected;
only an input without `event` as an object is refused, by `check_input`), but its JSON schema is the
event envelope's, taken from the models in `state.events`.
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, cast, get_args

from pydantic import BaseModel, Field, TypeAdapter
from typing_extensions import TypedDict

from agents.analyst import AnalystView
from agents.commander import CommanderOrder
from agents.validator import ValidatorVerdict
from quant.report import QuantReport
from quant.risk_guard import GuardDecision
from state.context import SessionContext
from state.decisions import DecisionRecord, Outcome, StageRecord
from state.events import EVENT_TYPES, Event, EventEnvelope, EventType, FieldError
from state.orders import Order


@dataclass(frozen=True, slots=True)
class Settlement:
    outcome: Outcome
    reason: str


_EVENT_DESCRIPTION = (
    "The event to deliberate, as a JSON object: the envelope (id, type, source, symbols, event_time, ...) "
    "and the payload of its type. `id` is the idempotency key: an id seen before returns the decision "
    "already made. MARKET_TICK, SIGNAL_GENERATED and ORDER_FILLED events need at least one symbol (the "
    "first is the primary one), and `event_time` must not be in the future. An event that fails validation "
    "ends as a `rejected` decision naming each offending field."
)
_FIRST = ("id", "type", "source", "symbols", "event_time", "payload")


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    """`node` with every local `$ref` replaced by the definition it names (these models are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline_refs(defs[ref.removeprefix("#/$defs/")], defs), **_inline_refs(rest, defs)}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return cast(dict[str, Any], _inline_refs(schema, schema.get("$defs", {})))


@functools.cache
def _event_schema() -> dict[str, Any]:
    envelope = _model_schema(EventEnvelope)
    payloads = []
    for event_model in EVENT_TYPES:
        payload = _model_schema(cast(type[BaseModel], event_model.model_fields["payload"].annotation))
        [kind] = get_args(event_model.model_fields["type"].annotation)
        about = " ".join(filter(None, (f"The payload of an event of type {kind}.", payload.get("description"))))
        payloads.append({**payload, "description": about})
    properties = {
        **envelope["properties"],
        "id": {**envelope["properties"]["id"], "description": "The event's id, its idempotency key."},
        "type": {
            "type": "string",
            "enum": [kind.value for kind in EventType],
            "title": "Type",
            "description": "The event type: it decides the payload's fields.",
        },
        "symbols": {
            **envelope["properties"]["symbols"],
            "description": "The symbols the event concerns, the primary one first.",
        },
        "event_time": {**envelope["properties"]["event_time"], "description": "When the event happened (ISO 8601)."},
        "payload": {"anyOf": payloads, "title": "Payload", "description": "The payload of the event's type."},
    }
    ordered = {name: properties.pop(name) for name in _FIRST} | properties
    return {
        "type": "object",
        "title": "Event",
        "description": _EVENT_DESCRIPTION,
        "properties": ordered,
        "required": [name for name in _FIRST if name in envelope["required"] or name in ("type", "payload")],
        "additionalProperties": False,
    }


def event_json_schema() -> dict[str, Any]:
    """The JSON schema of the input's `event`: the envelope and the payload of each event type, inlined."""
    return copy.deepcopy(_event_schema())


def _as_event_schema(schema: dict[str, Any]) -> None:
    schema.clear()
    schema.update(event_json_schema())


class DeliberationInput(TypedDict):
    """One market event in: the deliberation ends with one guarded, persisted decision about it."""

    event: Annotated[dict[str, Any], Field(description=_EVENT_DESCRIPTION, json_schema_extra=_as_event_schema)]


class DeliberationOutput(TypedDict):
    """The decision recorded for the event, whatever the outcome (ordered, hold, vetoed, rejected, ...)."""

    decision: Annotated[DecisionRecord, Field(description="The decision record persisted for the event.")]


@functools.cache
def _input_adapter() -> TypeAdapter[DeliberationInput]:
    return TypeAdapter(DeliberationInput)


def check_input(state: Mapping[str, Any]) -> None:
    """Raise pydantic's `ValidationError`, naming `event`, unless the input holds `event` as a JSON object.

    Only the shape is checked here; the event's own fields are `parse_event`'s to judge (and record)."""
    if not isinstance(state.get("event"), dict):
        _input_adapter().validate_python({k: v for k, v in state.items() if k == "event"}, strict=True)


class DeliberationState(TypedDict, total=False):
    event: dict[str, Any]  # the raw event as received
    parsed: Event
    rejection: list[FieldError]
    prior: DecisionRecord  # the decision already recorded for this event id (a redelivery)
    conflict: str  # a redelivery with other content than the first: its content hash (rejected, not decided)
    context: SessionContext
    report: QuantReport
    analysis: AnalystView
    verdict: ValidatorVerdict
    command: CommanderOrder
    guard: GuardDecision
    order: Order
    failed_stages: Annotated[list[str], operator.add]
    stages: Annotated[list[StageRecord], operator.add]
    settled: Settlement
    findings: dict[str, Any]  # operations flows (graphs.operations): what they found and did, JSON
    decision: DecisionRecord


def checkpoint_types() -> list[type]:
    """Every project class that can appear in the flows' state (the workflow's too): the checkpointer's allowlist."""
    import importlib
    import inspect

    modules = (
        "state.events", "state.context", "state.decisions", "state.orders", "state.trading", "state.bots",
        "quant.posture", "quant.report", "quant.risk_guard", "agents.analyst", "agents.validator", "agents.commander",
        __name__,
        # the operator workflow's state (`graphs.workflow.state`): its roles' outputs and its access roles
        "state.access", "state.approvals", "agents.sena", "agents.lubit", "agents.rune", "graphs.workflow.state",
    )  # fmt: skip
    found: list[type] = []
    for name in modules:
        module = importlib.import_module(name)
        found.extend(c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == name)
    return found
