"""The Python API: `Pipeline` builds the system from settings and runs events through the deliberation graph.

    async with await Pipeline.open(Settings()) as pipeline:
        decision = await pipeline.submit(event)

`submit` always returns a decision record, also for an invalid event (outcome "rejected", recorded as
a dead letter) and for a redelivered one (the decision recorded the first time). Thread id = event id.

`submit_wave` deliberates the events of one instant at once with `WaveOrdering`: they all see the book as
of the instant's start and their orders are applied in the given order, so the decisions do not depend
on the concurrency. `replay` runs a tape wave by wave (a wave: consecutive events with the same
`event_time`, between market ticks).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from langgraph.graph.state import CompiledStateGraph

from aegis.runtime.alerting import Alerting
from aegis.runtime.feed import MarketFeed
from aegis.runtime.monitor import RiskMonitor
from aegis.runtime.session import run_session
from aegis.services import Stack, open_stack
from aegis.settings import Settings
from agents.llm.client import LLMClient
from graphs.deliberation.context import RunKnobs
from graphs.deliberation.graph import build_deliberation_graph
from graphs.deliberation.nodes import raw_event_id
from graphs.deliberation.ordering import WaveOrdering
from graphs.deliberation.services import Services
from state.clock import Clock, monotonic_ms
from state.decisions import DecisionRecord
from state.events import EventEnvelope, EventRejectedError, EventType, MarketTickEvent, event_to_json, parse_event
from state.trading import ACCOUNT_SCOPE, TradingStatus
from tools.broker.paper import PaperBroker
from tools.ops.trading import HaltReport, TradingControl

Graph = CompiledStateGraph[Any, Any, Any, Any]
# Called as each session of a wave ends: its decision and the wall-clock ms it deliberated (its wait for
# its turn in the wave left out).
OnDecision = Callable[[DecisionRecord, float], None]


def as_tick(raw: dict[str, Any]) -> MarketTickEvent | None:
    if raw.get("type") != EventType.MARKET_TICK.value:
        return None
    try:
        event = parse_event(raw)
    except EventRejectedError:
        return None
    return event if isinstance(event, MarketTickEvent) else None


def tape_lines(text: str, name: str) -> Iterator[dict[str, Any]]:
    """The tape's lines as JSON objects; a line that is not one is kept (as a record that fails to parse)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raw = {"id": None, "unparsed_line": line[:500], "error": f"{name}:{number}: {exc.msg}"}
        yield raw if isinstance(raw, dict) else {"value": raw}


def tape_steps(lines: Iterable[dict[str, Any]]) -> Iterator[MarketTickEvent | list[dict[str, Any]]]:
    """A tape as ticks and waves: a wave is a run of consecutive non-tick events with the same
    `event_time` and distinct ids (a line without an `event_time` is a wave of its own)."""
    wave: list[dict[str, Any]] = []
    for raw in lines:
        tick = as_tick(raw)
        if tick is not None:
            if wave:
                yield wave
                wave = []
            yield tick
            continue
        if wave and not _joins(wave, raw):
            yield wave
            wave = []
        wave.append(raw)
    if wave:
        yield wave


def _joins(wave: list[dict[str, Any]], raw: dict[str, Any]) -> bool:
    moment = raw.get("event_time")
    same_instant = isinstance(moment, str) and moment == wave[0].get("event_time")
    return same_instant and raw_event_id(raw) not in {raw_event_id(r) for r in wave}


def _as_raw(event: Mapping[str, Any] | EventEnvelope) -> dict[str, Any]:
    return event_to_json(event) if isinstance(event, EventEnvelope) else dict(event)


class Pipeline:
    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._waves = WaveOrdering()

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
    def graph(self) -> Graph:
        """The compiled deliberation graph (for inspection, drawing or direct invocation)."""
        return self._stack.graph

    @cached_property
    def _wave_graph(self) -> Graph:
        """The same graph, its sessions ordered by the pipeline's waves (same checkpointer)."""
        services = dataclasses.replace(self.services, ordering=self._waves)
        return build_deliberation_graph(services, self._stack.graph.checkpointer)

    @property
    def paper_broker(self) -> PaperBroker:
        """The paper broker (its book, cash and marks)."""
        return self._stack.broker

    @property
    def settings(self) -> Settings:
        return self._stack.settings

    @property
    def trading(self) -> TradingControl:
        """The trading-state control (ACTIVE / REDUCING / HALTED, the kill switch, reductions)."""
        return self._stack.trading

    @property
    def monitor(self) -> RiskMonitor:
        """The failure tiers: feed it health signals (provider calls, feed heartbeats, prices, fills)."""
        return self._stack.monitor

    @property
    def alerting(self) -> Alerting:
        """Alerts: raise, escalate, acknowledge."""
        return self._stack.alerting

    def market_feed(self, *, reload_orders: bool = False) -> MarketFeed:
        """A market feed into this pipeline's broker and hot store, driving its risk monitor."""
        services = self.services
        return MarketFeed(
            services.hot, self.paper_broker, services.clock, reload_orders=reload_orders, monitor=self.monitor
        )

    async def halt(self, *, reason: str, actor: str = "operator", scope: str = ACCOUNT_SCOPE) -> HaltReport:
        """The kill switch: HALTED at once (account, or one symbol), every open order cancelled."""
        return await self._stack.trading.halt(reason=reason, actor=actor, scope=scope)

    async def resume(
        self, *, reason: str, actor: str = "operator", scope: str = ACCOUNT_SCOPE, reset: bool = False
    ) -> TradingStatus:
        """Back to ACTIVE; a halt set by a loss limit or a data-integrity breach needs `reset=True`."""
        return await self._stack.trading.resume(reason=reason, actor=actor, scope=scope, reset=reset)

    async def submit(self, event: Mapping[str, Any] | EventEnvelope, knobs: RunKnobs | None = None) -> DecisionRecord:
        """Run one event through the deliberation graph and return its decision record."""
        decision = await self._deliberate(self._stack.graph, _as_raw(event), knobs)
        await self.monitor.session_decided(decision)
        return decision

    async def submit_wave(
        self,
        events: Sequence[Mapping[str, Any] | EventEnvelope],
        knobs: RunKnobs | None = None,
        *,
        concurrency: int = 1,
        on_decision: OnDecision | None = None,
    ) -> list[DecisionRecord]:
        """Deliberate the events of one instant (distinct ids), up to `concurrency` at once. Every session
        loads its context before any of them writes, so all see the book as of the instant's start; then
        they write (risk guard, execute, persist) one at a time in the given order. The decisions, returned
        in that order, are the same at any concurrency.

        A session that raises does not hold up the others: they all finish (each decision passed to
        `on_decision`), then the first error is raised. The session timeout includes the wait for a turn."""
        raws = [_as_raw(event) for event in events]
        event_ids = [raw_event_id(raw) for raw in raws]
        graph = self._wave_graph

        async def session(raw: dict[str, Any], event_id: str) -> DecisionRecord:
            async with self._waves.session(event_id) as turn:
                begun = monotonic_ms()
                decision = await self._deliberate(graph, raw, knobs)
                if on_decision is not None:
                    on_decision(decision, monotonic_ms() - begun - turn.waited_ms)
                return decision

        async with self._waves.wave(event_ids, concurrency):
            ended = await asyncio.gather(*map(session, raws, event_ids), return_exceptions=True)
        decisions = [d for d in ended if isinstance(d, DecisionRecord)]
        for decision in decisions:  # in the wave's order, so alerts come in the same order at any concurrency
            await self.monitor.session_decided(decision)
        if len(decisions) < len(ended):
            raise next(e for e in ended if isinstance(e, BaseException))
        return decisions

    async def _deliberate(self, graph: Graph, raw: dict[str, Any], knobs: RunKnobs | None) -> DecisionRecord:
        settings = self.settings
        return await run_session(
            graph,
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
        self,
        path: Path,
        knobs: RunKnobs | None = None,
        on_decision: OnDecision | None = None,
        *,
        concurrency: int = 1,
    ) -> list[DecisionRecord]:
        """Replay a tape (JSON lines, in time order): MARKET_TICK events rebuild the market state (bars to
        the broker and the hot store, the VIX, the simulated clock); every other event is submitted, wave by
        wave (`tape_steps`, `submit_wave`), so the decisions are the same at any `concurrency`. A line that
        is not JSON, or an invalid tick, is submitted too, so it is recorded as rejected, not lost."""
        feed = self.market_feed()
        decisions: list[DecisionRecord] = []
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        for step in tape_steps(tape_lines(text, path.name)):
            if isinstance(step, MarketTickEvent):
                await feed.bar(step.symbol or "", step.payload.bar)
            else:
                decisions += await self.submit_wave(step, knobs, concurrency=concurrency, on_decision=on_decision)
        return decisions

    async def close(self) -> None:
        await self._stack.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
