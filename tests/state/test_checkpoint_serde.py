"""The checkpoint serializer writes exactly what LangGraph's `JsonPlusSerializer` writes, and reads as strictly.

The real values are those a deliberation session hands its checkpointer (an ordered session on bundled
AAPL bars, embedded stores); the edge cases are the ones its shortcuts could get wrong: datetimes equal
as instants but not as text, subclasses, classes off the allowlist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import ormsgpack
import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from agents.llm.scripted import ScriptedClient
from graphs.deliberation.state import Settlement, checkpoint_types
from quant.risk_guard import GuardChange, GuardDecision
from state.checkpoint_serde import PACK_OPTIONS, CheckpointSerializer
from state.context import SessionContext
from state.decisions import Outcome
from state.events import Bar
from tests.conftest import PipelineFactory, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy

TYPES = checkpoint_types()


def stock() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=TYPES)


def assert_same_as_langgraph(value: Any, ours: CheckpointSerializer) -> None:
    reference = stock()
    written = ours.dumps_typed(value)
    assert written == reference.dumps_typed(value)
    assert ours.loads_typed(written) == reference.loads_typed(reference.dumps_typed(value))


def test_the_pack_options_are_langgraphs() -> None:
    from langgraph.checkpoint.serde import jsonplus

    assert jsonplus._option == PACK_OPTIONS


async def test_a_real_sessions_state_is_written_byte_for_byte_as_langgraph_writes_it(
    make_pipeline: PipelineFactory, session_bar: Bar, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    serde = pipeline.graph.checkpointer.serde  # type: ignore[union-attr]
    assert isinstance(serde, CheckpointSerializer)
    handed: list[Any] = []
    original = serde.dumps_typed

    def recording(obj: Any) -> tuple[str, bytes]:
        handed.append(obj)
        return original(obj)

    monkeypatch.setattr(serde, "dumps_typed", recording)
    decision = await pipeline.submit(signal("e-serde", session_bar))
    assert decision.outcome is Outcome.ORDERED

    # the SQLite saver hands over the whole checkpoint; the PostgreSQL one, each channel's value
    values = [*handed, *(v for c in handed if isinstance(c, dict) for v in c.get("channel_values", {}).values())]
    contexts = [v for v in values if isinstance(v, SessionContext)]
    assert contexts and contexts[0].market is not None and len(contexts[0].market.bars) == 120
    assert any(isinstance(v, GuardDecision) for v in values)
    for value in values:
        assert_same_as_langgraph(value, serde)

    snapshot = await pipeline.graph.aget_state({"configurable": {"thread_id": "e-serde"}})
    assert snapshot.values["decision"] == decision
    assert snapshot.values["context"] == contexts[0]


NEW_YORK = ZoneInfo("America/New_York")
NOON_UTC = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class Color(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class OffList:
    at: datetime
    color: Color


class OffListModel(BaseModel):
    at: datetime


class Later(datetime):
    pass


EDGE_VALUES: dict[str, Any] = {
    "same instant, other offsets": [NOON_UTC, NOON_UTC.astimezone(timezone(timedelta(hours=2))), NOON_UTC],
    "offset with seconds": datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=1, seconds=30))),
    "naive, microseconds": [datetime(2024, 3, 1, 12, 0, 0, 5), datetime(2024, 3, 1, 12)],
    "ambiguous hour, both folds": [
        datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK),
        datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK, fold=1),
    ],
    "datetime subclass": Later(2024, 3, 1, 12, tzinfo=UTC),
    "tuples in a dataclass": GuardDecision(None, (GuardChange("a", "1", "2", "r"),), rejected_because="x"),
    "enum in a dataclass": Settlement(Outcome.HOLD, "wait"),
    "off the allowlist": [OffList(NOON_UTC, Color.RED), OffListModel(at=NOON_UTC), Color.RED],
    "plain": {"a": [1, 2.5, "x", None, True], "b": {"c": b"raw"}},
    "none": None,
    "bytes": b"\x00\x01",
    "bytearray": bytearray(b"\x02"),
}


@pytest.mark.parametrize("value", EDGE_VALUES.values(), ids=EDGE_VALUES.keys())
def test_edge_values_are_written_as_langgraph_writes_them(value: Any) -> None:
    ours = CheckpointSerializer(TYPES)
    assert_same_as_langgraph(value, ours)
    assert_same_as_langgraph(value, ours)  # again, its datetimes now memoized


def test_instants_equal_but_written_differently_read_back_as_written() -> None:
    ours = CheckpointSerializer(TYPES)
    plus_two = NOON_UTC.astimezone(timezone(timedelta(hours=2)))
    back = ours.loads_typed(ours.dumps_typed([NOON_UTC, plus_two]))
    assert [d.isoformat() for d in back] == [NOON_UTC.isoformat(), plus_two.isoformat()]


def test_loading_stays_strict_and_nothing_is_pickled() -> None:
    ours = CheckpointSerializer(TYPES)
    assert ours.pickle_fallback is False
    back = ours.loads_typed(ours.dumps_typed(OffList(NOON_UTC, Color.RED)))
    assert not isinstance(back, OffList)  # off the allowlist: its data, never the class
    with pytest.raises(ormsgpack.MsgpackEncodeError):
        ours.dumps_typed(object())


def test_a_clone_with_a_longer_allowlist_keeps_the_encoder() -> None:
    clone = CheckpointSerializer(TYPES).with_msgpack_allowlist([OffList])
    assert isinstance(clone, CheckpointSerializer)
    assert clone.loads_typed(clone.dumps_typed(OffList(NOON_UTC, Color.RED))) == OffList(NOON_UTC, Color.RED)
