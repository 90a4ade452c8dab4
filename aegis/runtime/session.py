"""One stateless session: an event through the deliberation graph, bounded in time, saved as it goes.

- Thread id = event id. If the event was decided already, the graph's first step returns the recorded
  decision. With checkpoints at every step (durability "sync" or "async"), a thread that stopped mid-run
  (a worker died) resumes from its last checkpoint instead of starting again. With durability "exit" (the
  default) a run that died left no checkpoint, so a session starts afresh without reading the thread's.
- The whole session is bounded by `session_timeout_s` (3 minutes by default): past it, `SessionTimeoutError`
  is raised and nothing of the unfinished session is executed beyond what the broker already accepted
  (which the event id makes idempotent on a retry).
- While it runs, its progress (the stages finished so far) is saved every `incremental_save_s` seconds
  to the durable store, under `session:<event id>`; the full save at the end is the decision record.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability

from graphs.deliberation.context import RunKnobs
from state.checkpoints import START_AFRESH
from state.clock import Clock
from state.decisions import DecisionRecord, StageRecord
from state.store.base import DurableStore


class SessionTimeoutError(TimeoutError):
    """The session ran past its time limit; its event stays unacknowledged for a retry."""


def progress_key(thread_id: str) -> str:
    return f"session:{thread_id}"


class SessionJournal:
    """Saves the latest progress of a running session every `interval_s`, only when it changed."""

    def __init__(self, store: DurableStore, clock: Clock, thread_id: str, interval_s: float) -> None:
        self._store, self._clock, self._key, self._interval = store, clock, progress_key(thread_id), interval_s
        self._nodes: list[str] = []
        self._stages: list[dict[str, Any]] = []
        self._latest: dict[str, Any] | None = None
        self._saved: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    def update(self, node: str, update: dict[str, Any]) -> None:
        """Note what one finished node added to the state."""
        self._nodes.append(node)
        stages: list[StageRecord] = update.get("stages", [])
        self._stages.extend({"stage": s.stage, "status": str(s.status), "latency_ms": s.latency_ms} for s in stages)
        self._latest = {"nodes_done": list(self._nodes), "stages": list(self._stages)}

    async def save(self) -> None:
        if self._latest is not None and self._latest != self._saved:
            await self._store.put_value(self._key, self._latest, self._clock.now())
            self._saved = self._latest

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.save()

    async def __aenter__(self) -> SessionJournal:
        self._task = asyncio.create_task(self._every_interval())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def run_session(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    raw: dict[str, Any],
    thread_id: str,
    *,
    knobs: RunKnobs,
    store: DurableStore,
    clock: Clock,
    timeout_s: float,
    incremental_save_s: float,
    durability: Durability,
) -> DecisionRecord:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    payload: dict[str, Any] | None = {"event": raw}
    if durability == "exit":  # a killed run left no checkpoint; a completed one left its decision recorded
        config["configurable"][START_AFRESH] = True
    elif graph.checkpointer is not None:
        snapshot = await graph.aget_state(config)
        if snapshot.next:  # stopped mid-run: continue from the last checkpoint
            payload = None
    final: dict[str, Any] = {}

    async def run() -> None:
        async with SessionJournal(store, clock, thread_id, incremental_save_s) as journal:
            async for chunk in graph.astream(
                payload,
                config,
                context=knobs,
                durability=durability,
                stream_mode="updates",
            ):
                for node, update in chunk.items():
                    if isinstance(update, dict):
                        final.update(update)
                        journal.update(node, update)

    try:
        async with asyncio.timeout(timeout_s):  # in this task: no task of its own, as wait_for would make
            await run()
    except TimeoutError:
        raise SessionTimeoutError(f"session {thread_id} ran past {timeout_s:.0f} s") from None
    decision = final.get("decision")
    if decision is None:
        raise RuntimeError(f"session {thread_id} ended without a decision record")
    return decision if isinstance(decision, DecisionRecord) else DecisionRecord.model_validate(decision)
