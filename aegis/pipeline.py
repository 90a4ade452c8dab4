"""The Python API: `Pipeline` builds the system from settings and runs events through the deliberation graph.

    async with await Pipeline.open(Settings()) as pipeline:
        decision = await pipeline.submit(event)

`submit` always returns a decision record, also for an invalid event (outcome "rejected", recorded as
a dead letter) and for a redelivered one (the decision recorded the first time). Thread id = event id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from langgraph.graph.state import CompiledStateGraph

from aegis.runtime.feed import MarketFeed
from aegis.runtime.session import run_session
from aegis.services import Stack, open_stack
from aegis.settings import Settings
from agents.llm.client import LLMClient
from graphs.deliberation.context import RunKnobs
from graphs.deliberation.nodes import raw_event_id
from graphs.deliberation.services import Services
from state.clock import Clock
from state.decisions import DecisionRecord
from state.events import EventEnvelope, EventRejectedError, EventType, MarketTickEvent, event_to_json, parse_event
from tools.broker.paper import PaperBroker


def as_tick(raw: dict[str, Any]) -> MarketTickEvent | None:
    if raw.get("type") != EventType.MARKET_TICK.value:
        return None
    try:
        event = parse_event(raw)
    except EventRejectedError:
        return None
    return event if isinstance(event, MarketTickEvent) else None


class Pipeline:
    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    @classmethod
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        providers: Mapping[str, LLMClient] | None = None,
    ) -> Pipeline:
        """Build stores, broker, providers and the compiled graph from settings (embedded defaults)."""
        stack = await open_stack(settings or Settings(), clock=clock, extra_providers=providers)
        return cls(stack)

    @property
    def services(self) -> Services:
        return self._stack.services

    @property
    def graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The compiled deliberation graph (for inspection, drawing or direct invocation)."""
        return self._stack.graph

    @property
    def paper_broker(self) -> PaperBroker:
        """The paper broker (its book, cash and marks)."""
        return self._stack.broker

    @property
    def settings(self) -> Settings:
        return self._stack.settings

    async def submit(self, event: Mapping[str, Any] | EventEnvelope, knobs: RunKnobs | None = None) -> DecisionRecord:
        """Run one event through the deliberation graph and return its decision record."""
        raw = event_to_json(event) if isinstance(event, EventEnvelope) else dict(event)
        settings = self.settings
        return await run_session(
            self._stack.graph,
            raw,
            raw_event_id(raw),
            knobs=knobs or RunKnobs(),
            store=self.services.store,
            clock=self.services.clock,
            timeout_s=settings.session_timeout_s,
            incremental_save_s=settings.incremental_save_s,
            durability=settings.checkpoint_durability,
        )

    async def replay(
        self, path: Path, knobs: RunKnobs | None = None, on_decision: Callable[[DecisionRecord], None] | None = None
    ) -> list[DecisionRecord]:
        """Replay a tape (JSON lines, in time order): MARKET_TICK events rebuild the market state (bars to
        the broker and the hot store, the VIX, the simulated clock); every other event is submitted. A line
        that is not JSON, or an invalid tick, is submitted too, so it is recorded as rejected, not lost."""
        feed = MarketFeed(self.services.hot, self.paper_broker, self.services.clock)
        decisions = []
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raw = {"id": None, "unparsed_line": line[:500], "error": f"{path.name}:{number}: {exc.msg}"}
            raw = raw if isinstance(raw, dict) else {"value": raw}
            tick = as_tick(raw)
            if tick is not None:
                await feed.bar(tick.symbol or "", tick.payload.bar)
                continue
            decision = await self.submit(raw, knobs)
            decisions.append(decision)
            if on_decision is not None:
                on_decision(decision)
        return decisions

    async def close(self) -> None:
        await self._stack.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
