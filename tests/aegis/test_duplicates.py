"""The event id is the idempotency key: the same content gets the first decision back, other content under
the same id is rejected as a conflict and kept apart; and `submit` answers whatever it is given."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from agents.llm.scripted import ScriptedClient
from state.decisions import Outcome
from state.events import Bar
from tests.conftest import PipelineFactory, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy


def _canonical(raw: dict[str, Any]) -> dict[str, Any]:
    """The same event with its keys in reverse order: the same content to the store."""
    return cast(dict[str, Any], json.loads(json.dumps(raw), object_pairs_hook=lambda pairs: dict(reversed(pairs))))


async def test_a_redelivery_with_the_same_content_returns_the_first_decision(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    event = signal("e-same", session_bar)
    first = await pipeline.submit(event)
    again = await pipeline.submit(_canonical(event))  # keys in another order: still the same content
    assert first.outcome is Outcome.ORDERED and again == first
    assert await pipeline.services.store.event_conflicts() == []
    assert len(await pipeline.services.store.open_orders()) == 1


async def test_a_redelivery_with_other_content_is_rejected_as_a_conflict_and_kept_apart(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    store = pipeline.services.store
    first = await pipeline.submit(signal("e-twice", session_bar))
    other = signal("e-twice", session_bar, direction="short")

    conflict = await pipeline.submit(other)
    assert first.outcome is Outcome.ORDERED
    assert conflict.outcome is Outcome.REJECTED and conflict.event_id == "e-twice"
    assert conflict.reason.startswith("conflict: event id e-twice was first recorded with other content")
    assert [e.field for e in conflict.rejection] == ["id"]
    assert await store.get_decision("e-twice") == first  # the first decision stands
    assert len(await store.open_orders()) == 1 and client.calls("commander") == 1  # never a second order

    [kept] = await store.event_conflicts()
    assert kept["event_id"] == "e-twice" and kept["raw"]["payload"]["direction"] == "short"
    assert kept["first_hash"] != kept["new_hash"] and len(kept["new_hash"]) == 64
    assert kept["first_hash"][:12] in conflict.reason and kept["new_hash"][:12] in conflict.reason

    assert (await pipeline.submit(other)).outcome is Outcome.REJECTED  # the same conflict again: kept once
    assert len(await store.event_conflicts()) == 1
    assert await pipeline.submit(signal("e-twice", session_bar)) == first  # the first content: its decision


async def test_a_conflict_after_a_redelivery_carries_nothing_of_the_sessions_before_it(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    """Each session on an event's thread starts afresh: the conflict is not the redelivery's answer again,
    and its record holds nothing of the first session (no analysis, no stages)."""
    pipeline = await make_pipeline()
    first = await pipeline.submit(signal("e-thrice", session_bar))
    assert await pipeline.submit(signal("e-thrice", session_bar)) == first
    conflict = await pipeline.submit(signal("e-thrice", session_bar, direction="short"))
    assert first.analysis is not None and first.stages
    assert conflict.outcome is Outcome.REJECTED and conflict.reason.startswith("conflict:")
    assert conflict.analysis is None and conflict.stages == [] and conflict.context_hash is None


async def test_after_a_conflict_an_undecided_first_arrival_is_still_deliberated(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    """The first attempt died before deciding; a conflicting delivery came next; the first content, delivered
    again, is deliberated on its own, not settled by what the conflict's session found."""
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    raw = signal("e-died", session_bar)
    await pipeline.services.store.record_event("e-died", "SIGNAL_GENERATED", session_bar.time, raw)
    conflict = await pipeline.submit(signal("e-died", session_bar, direction="short"))
    decided = await pipeline.submit(raw)
    assert conflict.reason.startswith("conflict:")
    assert decided.outcome is Outcome.ORDERED and await pipeline.services.store.get_decision("e-died") == decided


async def test_a_conflicting_redelivery_of_a_rejected_event_is_a_conflict_too(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    first = await pipeline.submit({"id": "e-bad", "type": "NEWS", "payload": {}})
    again = await pipeline.submit({"id": "e-bad", "type": "NEWS", "payload": {"headline": "now complete"}})
    assert first.outcome is Outcome.REJECTED and "conflict" not in first.reason
    assert again.outcome is Outcome.REJECTED and again.reason.startswith("conflict:")
    assert await pipeline.services.store.get_decision("e-bad") == first


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ([1, 2], "an event must be a JSON object, not an array"),
        (None, "an event must be a JSON object, not null"),
        ("an event", "an event must be a JSON object, not a string"),
        (7, "an event must be a JSON object, not a number"),
        (object(), "an event must be a JSON object, not a Python object"),
        ({1: "a", "b": 2}, "not JSON data: the key 1 is not a string"),
        (
            {"id": "e-garbage", "payload": {"x": object()}},
            "not JSON data: a Python object at payload.x is not a JSON value",
        ),
        ({"id": "e-set", "symbols": {"AAPL"}}, "not JSON data: a Python set at symbols is not a JSON value"),
    ],
)
async def test_submit_answers_anything_with_a_recorded_rejection(
    make_pipeline: PipelineFactory, given: object, problem: str
) -> None:
    pipeline = await make_pipeline()
    decision = await pipeline.submit(cast(Any, given))
    assert decision.outcome is Outcome.REJECTED
    assert decision.reason == f"<event>: {problem}"
    assert await pipeline.services.store.get_decision(decision.event_id) == decision
    [dead_letter] = await pipeline.services.store.rejected_events()
    assert dead_letter["errors"] == [{"field": "<event>", "message": problem}]
    assert await pipeline.submit(cast(Any, given)) == decision  # idempotent: the same input, the same record


async def test_a_nested_mapping_too_deep_for_an_event_is_rejected(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    deep: dict[str, Any] = {}
    deep["self"] = deep  # a cycle: no JSON at all
    decision = await pipeline.submit(deep)
    assert decision.outcome is Outcome.REJECTED and "nested deeper than" in decision.reason
