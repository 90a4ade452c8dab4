"""A graph compiled with the PostgreSQL checkpointer runs, and its one checkpoint (durability "exit") can be
read back, also by another process's saver.

Needs PostgreSQL on 127.0.0.1:5432 (see `test_store_contract.find_postgres`); skips with the reason without
it, or fails when AEGIS_REQUIRE_SERVICES=1. Works in a fresh schema, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from state.checkpoints import START_AFRESH, close_postgres_checkpointer, open_postgres_checkpointer
from state.store.base import StoreUnavailableError
from tests.state.test_store_contract import drop_schema, fresh_schema, pg_query, require_postgres

pytestmark = pytest.mark.services


@dataclass(frozen=True)
class Note:
    """A project type in state: only loadable because it is on the allow-list."""

    author: str
    text: str


class Tally(TypedDict):
    count: int
    notes: list[Note]


async def first(state: Tally) -> dict[str, Any]:
    return {"count": state["count"] + 1, "notes": [*state["notes"], Note("first", "seen")]}


async def second(state: Tally) -> dict[str, Any]:
    return {"count": state["count"] + 1, "notes": [*state["notes"], Note("second", "seen")]}


def tally_graph(saver: AsyncPostgresSaver) -> CompiledStateGraph[Tally, None, Tally, Tally]:
    builder = StateGraph(Tally)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile(checkpointer=saver)


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, str]]:
    url = await require_postgres()
    schema = fresh_schema()
    yield url, schema
    await drop_schema(url, schema)


async def test_a_run_with_durability_exit_leaves_one_checkpoint_that_reads_back(target: tuple[str, str]) -> None:
    url, schema = target
    config: RunnableConfig = {"configurable": {"thread_id": "event-e1"}}
    expected = {"count": 2, "notes": [Note("first", "seen"), Note("second", "seen")]}

    saver = await open_postgres_checkpointer(url, [Note], schema=schema, max_size=2)
    try:
        result = await tally_graph(saver).ainvoke({"count": 0, "notes": []}, config, durability="exit")
        assert result == expected
        assert len([c async for c in saver.alist(config)]) == 1
        saved = await saver.aget_tuple(config)
        assert saved is not None
        assert saved.checkpoint["channel_values"]["notes"] == expected["notes"]
    finally:
        await close_postgres_checkpointer(saver)

    reopened = await open_postgres_checkpointer(url, [Note], schema=schema)  # as another process would
    try:
        snapshot = await tally_graph(reopened).aget_state(config)
        assert snapshot.values == expected
        assert snapshot.next == ()
    finally:
        await close_postgres_checkpointer(reopened)
    tables = await pg_query(url, schema, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes"} <= {name for (name,) in tables}


async def test_a_run_that_starts_afresh_skips_the_threads_checkpoint(target: tuple[str, str]) -> None:
    url, schema = target
    config: RunnableConfig = {"configurable": {"thread_id": "event-e2"}}
    afresh: RunnableConfig = {"configurable": {"thread_id": "event-e2", START_AFRESH: True}}
    saver = await open_postgres_checkpointer(url, [Note], schema=schema, max_size=2)
    try:
        graph = tally_graph(saver)
        await graph.ainvoke({"count": 0, "notes": []}, config, durability="exit")
        assert await saver.aget_tuple(config) is not None
        assert await saver.aget_tuple(afresh) is None
        again = await graph.ainvoke({"count": 10, "notes": []}, afresh, durability="exit")
        assert again == {"count": 12, "notes": [Note("first", "seen"), Note("second", "seen")]}
        latest = await saver.aget_tuple(config)
        assert latest is not None and latest.checkpoint["channel_values"]["count"] == 12
        assert latest.parent_config is None  # started afresh: not on top of the first run's checkpoint
        assert len([c async for c in saver.alist(config)]) == 2
    finally:
        await close_postgres_checkpointer(saver)


async def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    with pytest.raises(StoreUnavailableError):
        await open_postgres_checkpointer("postgresql://postgres@127.0.0.1:1/test", [Note])
