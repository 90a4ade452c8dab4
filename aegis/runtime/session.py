"""One stateless session: an event through the deliberation graph, bounded in time, saved as it goes.

- Thread id = event id. If the event was decided already, the graph's first step returns the recorded
  decision. With checkpoints at every step (durability "sync" or "async"), a thread that stopped mid-run
  (a worker died) resumes from its last checkpoint instead of starting again. With durability "exit" (the
  default) a run that died left no checkpoint. A session never inherits the state of the thread's last
  completed run (what it settled, a redelivery or a conflict it found): it starts afresh (`START_AFRESH`;
  on PostgreSQL with "exit" without even reading the thread).
- The whole session is bounded by `session_timeout_s` (3 minutes by default): past it, `SessionTimeoutError`
  is raised and nothing of the unfinished session is executed beyond what the broker already accepted
  (which the event id makes idempotent on a retry).
- While it runs, its progress (the stages finished so far) is saved every `incremental_save_s` seconds
  to the durable store, under `session:<event id>`; the full save at the end is the decision record.
- While it runs, every log line carries its event id and correlation id (`aegis.runtime.log_context`),
  bound here: every session, first run or resumed, goes through `_stream`.
- A session says how its event was delivered (`Delivery`): first (decided now), redelivered with the same
  content (the recorded decision returned), or a conflict (the id's first arrival had other content: this
  delivery is rejected, kept in the event conflicts, and its record is not the id's decision). Tallies
  count an event's outcome once, on its first delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability

from aegis.runtime.log_context import bound_event
from graphs.deliberation.context import RunKnobs
from state.checkpoints import START_AFRESH, SessionSaver
from state.clock import Clock
from state.decisions import DecisionRecord, StageRecord
from state.store.base import DurableStore

INTERRUPT = "__interrupt__"  # the key of an update stream's chunk when a run stops at an interrupt


class SessionTimeoutError(TimeoutError):
    """The session ran past its time limit; its event stays unacknowledged for a retry."""


class Delivery(StrEnum):
    FIRST = "first"  # decided in this session (or resumed after an attempt that died)
    REDELIVERED = "redelivered"  # seen before with the same content: the decision recorded then
    CONFLICT = "conflict"  # seen before with other content: rejected, recorded as a conflict


@dataclass(frozen=True, slots=True)
class Decided:
    decision: DecisionRecord
    delivery: Delivery


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
) -> Decided:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    payload: dict[str, Any] | None = {"event": raw}
    # A run never inherits the state of the thread's last *completed* run (what that run settled, a
    # redelivery or a conflict it found): it starts afresh. A run that stopped mid-way is continued from its
    # last checkpoint (durability "sync"/"async"), or, with "exit", run again over what it left. The
    # PostgreSQL saver is not asked: a killed run left no checkpoint, and the read costs a query per session.
    if durability == "exit" and isinstance(graph.checkpointer, SessionSaver):
        config["configurable"][START_AFRESH] = True
    elif graph.checkpointer is not None:
        snapshot = await graph.aget_state(config)
        if not snapshot.next:  # a new thread, or its last run completed
            config["configurable"][START_AFRESH] = True
        elif durability != "exit":  # stopped mid-run: continue from the last checkpoint
            payload = None
    chain = raw.get("correlation_id") if isinstance(raw, dict) else None
    return await _stream(graph, payload, config, thread_id, knobs=knobs, store=store, clock=clock,
                         timeout_s=timeout_s, incremental_save_s=incremental_save_s, durability=durability,
                         correlation_id=chain if isinstance(chain, str) else None)  # fmt: skip


async def resume_session(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    answer: dict[str, Any],
    thread_id: str,
    *,
    knobs: RunKnobs,
    store: DurableStore,
    clock: Clock,
    timeout_s: float,
    incremental_save_s: float,
    durability: Durability,
) -> Decided:
    """Continue a thread stopped at an interrupt (a workflow waiting for its approval) with `answer`."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    snapshot = await graph.aget_state(config)
    if not snapshot.interrupts:
        raise LookupError(f"thread {thread_id} is not waiting for an answer (no pending interrupt)")
    return await _stream(graph, Command(resume=answer), config, thread_id, knobs=knobs, store=store, clock=clock,
                         timeout_s=timeout_s, incremental_save_s=incremental_save_s, durability=durability)  # fmt: skip


async def _stream(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    payload: dict[str, Any] | Command[Any] | None,
    config: RunnableConfig,
    thread_id: str,
    *,
    knobs: RunKnobs,
    store: DurableStore,
    clock: Clock,
    timeout_s: float,
    incremental_save_s: float,
    durability: Durability,
    correlation_id: str | None = None,
) -> Decided:
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
                    if node == INTERRUPT:  # the run stopped to wait (an approval): its decision so far
                        value = update[0].value if update else None
                        if isinstance(value, dict) and "decision" in value:
                            final["decision"] = value["decision"]
                    elif isinstance(update, dict):
                        final.update(update)
                        journal.update(node, update)

    try:
        with bound_event(thread_id, correlation_id):  # the session's log lines carry its event and chain
            async with asyncio.timeout(timeout_s):  # in this task: no task of its own, as wait_for would make
                await run()
    except TimeoutError:
        raise SessionTimeoutError(f"session {thread_id} ran past {timeout_s:.0f} s") from None
    decision = final.get("decision")
    if decision is None:
        raise RuntimeError(f"session {thread_id} ended without a decision record")
    record = decision if isinstance(decision, DecisionRecord) else DecisionRecord.model_validate(decision)
    delivery = (
        Delivery.CONFLICT if "conflict" in final else Delivery.REDELIVERED if "prior" in final else Delivery.FIRST
    )
    return Decided(record, delivery)
