"""The Python API: `Pipeline` builds the system from settings and runs events through the deliberation graph.

    async with await Pipeline.open(Settings()) as pipeline:
        decision = await pipeline.submit(event)

Every event goes to its flow by type (`graphs.router`): market events to the deliberation, CIRCUIT_BREAKER
and REBALANCING_DUE to their operations flows. `submit` always returns a decision record, whatever it is
given: an invalid event, or anything that is not an event at all (a list, None, a string), comes back
"rejected" and is recorded as a dead letter; a
redelivered event (same id, same content) returns the decision recorded the first time; the same id with
other content is rejected as a conflict and kept in the store's event conflicts. Thread id = event id.

`submit_wave` deliberates the events of one instant at once with `WaveOrdering`: they all see the book as
of the instant's start and their orders are applied in the given order, so the decisions do not depend
on the concurrency. `replay` runs a tape wave by wave (a wave: consecutive events with the same
`event_time`, between market ticks), each line read on its own (`aegis.runtime.tape`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from langgraph.graph.state import CompiledStateGraph

from aegis.runtime.alerting import Alerting
from aegis.runtime.anomaly_watch import AnomalyWatch
from aegis.runtime.approval_desk import ApprovalDesk, ApprovalResolver
from aegis.runtime.bot_supervisor import BotSupervisor, Submit
from aegis.runtime.daily_ops import REPORTS_FOLDER, DailyOperations
from aegis.runtime.feed import MarketFeed
from aegis.runtime.intake import event_json
from aegis.runtime.monitor import RiskMonitor
from aegis.runtime.posture_watch import PostureWatch
from aegis.runtime.session import Decided, resume_session, run_session
from aegis.runtime.tape import (
    TICK_NOT_AFTER,
    LineOutcome,
    TapeClock,
    TapeLine,
    read_lines,
    tape_steps_of,
)
from aegis.runtime.trace import Trace, trace_chain
from aegis.services import Stack, open_stack
from aegis.settings import Settings
from agents.llm.client import LLMClient
from graphs.deliberation.approved_order import execute_approved
from graphs.deliberation.context import RunKnobs
from graphs.deliberation.nodes import raw_event_id
from graphs.deliberation.ordering import WaveOrdering
from graphs.deliberation.services import Services
from graphs.operations import EMITTED
from graphs.router import WORKFLOW, Router, build_router
from graphs.workflow.nodes import workflow_findings
from graphs.workflow.state import WorkflowState
from quant.portfolio import RiskProfile
from state.access import Access
from state.approvals import Approval, ApprovalKind, ApprovalStatus
from state.bots import Bot
from state.clock import Clock, monotonic_ms
from state.decisions import DecisionRecord
from state.events import EventEnvelope, EventRejectedError, EventType, MarketTickEvent, parse_event
from state.hot import HotStoreUnavailableError
from state.store.base import DurableStore
from state.trading import ACCOUNT_SCOPE, TradingStatus
from tools.broker.paper import PaperBroker
from tools.ops.approvals import ApprovalControl
from tools.ops.bots import BotControl
from tools.ops.limits import LimitControl
from tools.ops.posture import PostureControl
from tools.ops.rules import RuleControl
from tools.ops.trading import HaltReport, TradingControl

if TYPE_CHECKING:
    from tools.ops.portfolio_analysis import PortfolioAnalysis

Graph = CompiledStateGraph[Any, Any, Any, Any]
log = logging.getLogger(__name__)
MAX_CAUSED_DEPTH = 3  # events caused by events caused by ...: a loop of rules stops here
# Called as each session of a wave ends: its decision and the wall-clock ms it deliberated (its wait for
# its turn in the wave left out).
OnDecision = Callable[[DecisionRecord, float], None]
# Called for each line of a replayed tape, in the tape's order, once it is done with.
OnLine = Callable[[LineOutcome], None]


def as_tick(raw: dict[str, Any]) -> MarketTickEvent | None:
    if raw.get("type") != EventType.MARKET_TICK.value:
        return None
    try:
        event = parse_event(raw)
    except EventRejectedError:
        return None
    return event if isinstance(event, MarketTickEvent) else None


def emitted_events(decisions: Iterable[DecisionRecord]) -> list[dict[str, Any]]:
    """The events the decisions' flows caused (`operation.emitted`, `graphs.operations.EMITTED`), in order."""
    caused: list[dict[str, Any]] = []
    for decision in decisions:
        listed = (decision.operation or {}).get(EMITTED)
        if isinstance(listed, list):
            caused.extend(event for event in listed if isinstance(event, dict))
    return caused


def tape_lines(text: str | bytes, name: str = "tape") -> Iterator[dict[str, Any]]:
    """The tape's lines as what the replay submits: each JSON object as read, each line that is not one as a
    refused input (recorded as rejected, its reason naming the line); blank lines skipped. `name` is unused,
    kept for callers."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    for line in read_lines(data.splitlines()):
        if line.raw is not None:
            yield line.raw


def tape_steps(lines: Iterable[dict[str, Any]]) -> Iterator[MarketTickEvent | list[dict[str, Any]]]:
    """A tape as ticks and waves: a wave is a run of consecutive non-tick events with the same
    `event_time` and distinct ids (a line without an `event_time` is a wave of its own)."""
    numbered = (TapeLine(n, raw, event=as_tick(raw)) for n, raw in enumerate(lines, start=1))
    for step in tape_steps_of(numbered):
        if isinstance(step, list):
            yield [line.raw for line in step if line.raw is not None]
        elif isinstance(step.event, MarketTickEvent):
            yield step.event


def _next_steps(steps: Iterator[TapeLine | list[TapeLine]], most: int = 1024) -> list[TapeLine | list[TapeLine]]:
    return list(itertools.islice(steps, most))


class _TickRun:
    """Consecutive ticks of a replay, their writes in one batch of the durable store (`DurableStore.batch`):
    opened by the first tick, closed (committed) after `most` ticks and before anything else happens."""

    def __init__(self, store: DurableStore, broker: PaperBroker, most: int) -> None:
        self._store = store
        self._broker = broker
        self._most = most
        self._batch: AbstractAsyncContextManager[None] | None = None
        self._marks: AbstractAsyncContextManager[None] | None = None
        self._ticks = 0

    async def tick(self) -> None:
        """A tick is about to be applied."""
        if self._batch is None:
            self._batch, self._ticks = self._store.batch(), 0
            await self._batch.__aenter__()
            self._marks = self._broker.deferred_marks()  # the run's marks, once per symbol, in its batch
            await self._marks.__aenter__()
        self._ticks += 1

    async def end(self) -> None:
        """Commit the run, if one is open: its marks are saved, then its batch."""
        batch, marks, self._batch, self._marks = self._batch, self._marks, None, None
        try:
            if marks is not None:
                await marks.__aexit__(None, None, None)
        finally:
            if batch is not None:
                await batch.__aexit__(None, None, None)

    async def applied(self) -> None:
        """A tick was applied: the run commits when it is full."""
        if self._ticks >= self._most:
            await self.end()


class Pipeline:
    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._waves = WaveOrdering()
        self._listeners: list[Callable[[DecisionRecord], None]] = []
        self._in_flight = 0

    @property
    def sessions_in_flight(self) -> int:
        """Sessions running now in this pipeline (events deliberating, workflows resumed after an approval)."""
        return self._in_flight

    def listen_decisions(self, listener: Callable[[DecisionRecord], None]) -> None:
        """Call `listener` with every decision this pipeline makes (after the risk monitor has heard it)."""
        self._listeners.append(listener)

    async def _decided(self, decision: DecisionRecord) -> None:
        await self.monitor.session_decided(decision)
        for listener in self._listeners:
            listener(decision)

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

    @property
    def router(self) -> Router:
        """Every flow's graph, by event type (`graphs.router`)."""
        return self._stack.router

    @cached_property
    def _wave_router(self) -> Router:
        """The same flows, their sessions ordered by the pipeline's waves (same checkpointer)."""
        services = dataclasses.replace(self.services, ordering=self._waves)
        return build_router(services, self._stack.ops, self._stack.graph.checkpointer)

    async def portfolio(self, profiles: Iterable[RiskProfile | str] = tuple(RiskProfile)) -> PortfolioAnalysis:
        """The bots as a portfolio: per-bot scorecards (ROI, Sharpe, drawdown, volatility), correlation, risk
        contributions, diversification ratio, and the conservative / moderate / aggressive allocations with
        their expected improvement. Labelled pandas (bot ids, dates)."""
        from aegis.runtime.bot_portfolio import bot_portfolio  # pandas, only when asked

        return await bot_portfolio(self.services.store, self.settings.rebalance, profiles)

    async def trace(self, record_id: str) -> Trace:
        """The correlation chain of an event, decision, order, fill or alert id, from its root event, each step
        with its decision (`aegis.runtime.trace`); `UnknownRecordError` (a ValueError) for an unknown id."""
        return await trace_chain(self.services.store, record_id)

    # ---- approvals: what waits for a person -------------------------------------------------------------

    @cached_property
    def _approval_desk(self) -> ApprovalDesk:
        desk = ApprovalDesk(self._stack.approvals, self.services.clock)
        desk.resolve(ApprovalKind.ORDER, self._resolve_order)
        desk.resolve(ApprovalKind.WORKFLOW, self._resolve_workflow)
        return desk

    async def _resolve_order(self, approval: Approval) -> dict[str, Any] | None:
        """An approved order runs the guard and execute again, now (`graphs.deliberation.approved_order`);
        a rejected or expired one sends nothing."""
        if approval.status is not ApprovalStatus.APPROVED:
            return None
        return await execute_approved(self.services, approval)

    async def _resolve_workflow(self, approval: Approval) -> dict[str, Any] | None:
        """A decided workflow approval continues its thread from the interrupt (approved: GitCode runs the plan;
        rejected or expired: nothing runs); the request's decision is its result. Idempotent: a thread that
        went on already (the result was lost to a crash) gives its recorded decision."""
        settings, answer = self.settings, {"decided": str(approval.status)}
        self._in_flight += 1
        try:
            decided = await resume_session(
                self.router.graphs[WORKFLOW], answer, approval.subject_id, knobs=RunKnobs(),
                store=self.services.store, clock=self.services.clock, timeout_s=settings.session_timeout_s,
                incremental_save_s=settings.incremental_save_s, durability=settings.checkpoint_durability,
            )  # fmt: skip
        except LookupError:
            recorded = await self.services.store.get_decision(approval.subject_id)
            if recorded is not None:
                return {"outcome": str(recorded.outcome), "reason": recorded.reason}
            if approval.status is not ApprovalStatus.APPROVED:
                return None  # nothing waits, nothing was to run
            raise ValueError(
                f"request {approval.subject_id} has no workflow waiting for this approval (its checkpoint is gone): "
                "nothing can run; ask again"
            ) from None
        finally:
            self._in_flight -= 1
        await self._decided(decided.decision)
        review = (decided.decision.operation or {}).get("review") or {}
        flagged = [c["name"] for c in review.get("checks", []) if not c.get("passed")]
        verdict = review.get("verdict", "not run") + (f" ({', '.join(flagged)})" if flagged else "")
        return {"outcome": str(decided.decision.outcome), "reason": decided.decision.reason, "review": verdict}

    @property
    def approval_control(self) -> ApprovalControl:
        """The approvals control: open (idempotent, pages a person), get, list, decide, expire, record results.
        `approve` / `reject` below decide and then run what follows; use them for a person's decision."""
        return self._stack.approvals

    def resolve_approvals(self, kind: ApprovalKind, resolver: ApprovalResolver) -> None:
        """Register what follows from a decision on an approval of `kind` (`aegis.runtime.approval_desk`)."""
        self._approval_desk.resolve(kind, resolver)

    async def approvals(self, status: ApprovalStatus | None = None) -> list[Approval]:
        """Approvals (pending, approved, rejected, expired; or all), newest first; expired ones first expire."""
        return await self._approval_desk.approvals(status)

    async def approve(self, approval_id: str, *, by: str, role: Access | str, reason: str) -> Approval:
        """Approve and run what was approved (an order: guarded and executed again against the account of this
        moment); the approval with its result. `AccessDeniedError` for a role that may not,
        `ApprovalDecidedError` for one decided already, `UnknownApprovalError` for an unknown id."""
        return await self._approval_desk.approve(approval_id, by=by, role=Access(role), reason=reason)

    async def reject(self, approval_id: str, *, by: str, role: Access | str, reason: str) -> Approval:
        """Reject: recorded and audited, nothing runs."""
        return await self._approval_desk.reject(approval_id, by=by, role=Access(role), reason=reason)

    async def expire_approvals(self) -> list[Approval]:
        """Expire (reject, record, alert) the pending approvals whose time ran out on the pipeline's clock."""
        return await self._approval_desk.expire()

    @property
    def rules(self) -> RuleControl:
        """The rules engine's rules: list, add, change, enable, disable (validated, versioned, audited)."""
        return self._stack.ops.rules

    @property
    def bots(self) -> BotControl:
        """The bots: list, register, stop, resume, re-allocate (audited, mirrored to the sessions)."""
        return self._stack.ops.bots

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
    def posture(self) -> PostureControl:
        """The posture control: the posture in force, an operator's override (either direction, with a
        reason and an optional end), clearing it, the history of changes (recorded, audited, alerted)."""
        return self._stack.posture

    @property
    def limits(self) -> LimitControl:
        """The risk-limit control: the limits in force, an operator's change (tightening needs trade,
        loosening admin), a reset to the setting, the history of changes (recorded, audited, mirrored)."""
        return self._stack.limits

    @property
    def monitor(self) -> RiskMonitor:
        """The failure tiers: feed it health signals (provider calls, feed heartbeats, prices, fills)."""
        return self._stack.monitor

    @property
    def alerting(self) -> Alerting:
        """Alerts: raise, escalate, acknowledge."""
        return self._stack.alerting

    def market_feed(
        self,
        *,
        reload_orders: bool = False,
        submit: Submit | None = None,
        detect: bool = True,
        market: Sequence[str] | None = None,
    ) -> MarketFeed:
        """A market feed into this pipeline's broker and hot store, driving its risk monitor, its posture
        watch (the evaluation every 30 min of the feed's clock, on the VIX and the `market` symbols' basket:
        default the settings' `posture.market_symbols`), its bots' supervisor (day marks, the rebalancing
        schedule, the breaker's watch), its anomaly watch (the market and bot anomaly rules; not with `detect`
        False: a recorded tape holds the anomalies found when it was recorded) and its daily operations, whose
        events go to `submit` (default: `self.submit`)."""
        services, settings = self.services, self.settings
        supervisor = BotSupervisor(
            self.bots,
            services.store,
            self.paper_broker,
            rebalance=settings.rebalance,
            breaker=settings.breaker,
            submit=submit or self.submit,
            clock=services.clock,
        )
        watch = None
        if detect and settings.anomalies.enabled:
            watch = AnomalyWatch(self.bots, services.store, submit or self.submit, settings.anomalies)
        operations = None
        if settings.operations.enabled:
            operations = DailyOperations(services.store, self.paper_broker, self.trading, self.alerting, settings,
                                         settings.operations, settings.data_dir / REPORTS_FOLDER)  # fmt: skip
            self.listen_decisions(operations.decided)
            self.alerting.listen(operations.alerted)
        return MarketFeed(
            services.hot,
            self.paper_broker,
            services.clock,
            reload_orders=reload_orders,
            monitor=self.monitor,
            supervisor=supervisor,
            watch=watch,
            operations=operations,
            approvals=self._approval_desk.sweep,
            posture=PostureWatch(
                self.posture,
                services.hot,
                services.clock,
                settings.posture,
                settings.deliberation.vix_thresholds,
                market,
                settings.deliberation.max_vix_age_days,
            ),
            limits=self.limits,
        )

    async def request(
        self, text: str, *, requester: str, role: Access | str = Access.READ, request_id: str | None = None
    ) -> DecisionRecord:
        """Run an operator's request through the workflow (Sena -> Lubit -> approval -> GitCode -> RUNE).

        `role` is what the caller established for `requester` (never what the text claims). The decision comes
        back at once when nothing needs approval; a plan that changes anything stops at the approval: its
        decision says "awaiting_approval" (not saved yet), and `approve` / `reject` of approval
        `workflow:<request id>` continue it, in this process or after a restart. `operation` holds the plan,
        Lubit's verdict, the approval, each step's result and RUNE's review (`workflow(request_id)` too)."""
        now = self.services.clock.now()
        event = {
            "id": request_id or f"req-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
            "type": EventType.OPERATOR_REQUEST.value,
            "source": "operator",
            "event_time": now.isoformat(),
            "payload": {"operator": requester, "request": text, "role": str(Access(role))},
        }
        return await self.submit(event)

    async def workflow(self, request_id: str) -> dict[str, Any] | None:
        """Where a request's workflow stands: its record (request, plan, verdict, approval, results, review), from
        its decision once decided, else from its checkpoint (waiting for approval); None for an unknown id."""
        decided = await self.services.store.get_decision(request_id)
        if decided is not None and decided.operation is not None:
            return {**decided.operation, "outcome": str(decided.outcome), "reason": decided.reason}
        graph = self.router.graphs[WORKFLOW]
        snapshot = await graph.aget_state({"configurable": {"thread_id": request_id}})
        if not snapshot.values:
            return None
        waiting = "awaiting_approval" if snapshot.interrupts else "running"
        return {**workflow_findings(cast(WorkflowState, snapshot.values)), "outcome": waiting, "reason": waiting}

    async def halt(self, *, reason: str, actor: str = "operator", scope: str = ACCOUNT_SCOPE) -> HaltReport:
        """The kill switch: HALTED at once (account, or one symbol), every open order cancelled."""
        return await self._stack.trading.halt(reason=reason, actor=actor, scope=scope)

    async def resume(
        self, *, reason: str, actor: str = "operator", scope: str = ACCOUNT_SCOPE, reset: bool = False
    ) -> TradingStatus:
        """Back to ACTIVE; a halt set by a loss limit or a data-integrity breach needs `reset=True`."""
        return await self._stack.trading.resume(reason=reason, actor=actor, scope=scope, reset=reset)

    async def submit(self, event: Mapping[str, Any] | EventEnvelope, knobs: RunKnobs | None = None) -> DecisionRecord:
        """Run one event through the deliberation graph and return its decision record. Anything that is not
        an event (a list, None, a string, a mapping with keys or values JSON cannot hold) comes back
        rejected, recorded as a dead letter; it never raises for what it is given."""
        raw = event_json(event)
        decided = await self._deliberate(self.router.graph_for(raw), raw, knobs)
        await self._decided(decided.decision)
        for caused in emitted_events([decided.decision]):
            await self._submit_caused(caused, knobs)
        return decided.decision

    async def _submit_caused(self, event: dict[str, Any], knobs: RunKnobs | None, depth: int = 1) -> None:
        """An event a flow caused (`operation.emitted`), with what it causes in turn, at most `MAX_CAUSED_DEPTH`
        deep (a rule that emits its own event type stops there, with a warning)."""
        if depth > MAX_CAUSED_DEPTH:
            log.warning("event %s not submitted: caused %s levels deep", raw_event_id(event), depth)
            return
        decided = await self._deliberate(self.router.graph_for(event), event, knobs)
        await self._decided(decided.decision)
        for caused in emitted_events([decided.decision]):
            await self._submit_caused(caused, knobs, depth + 1)

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
        decided = await self._submit_wave([event_json(event) for event in events], knobs, concurrency, on_decision)
        return [d.decision for d in decided]

    async def _submit_wave(
        self,
        raws: list[dict[str, Any]],
        knobs: RunKnobs | None,
        concurrency: int,
        on_decision: OnDecision | None,
        depth: int = 0,
    ) -> list[Decided]:
        event_ids = [raw_event_id(raw) for raw in raws]
        router = self._wave_router

        async def session(raw: dict[str, Any], event_id: str) -> Decided:
            async with self._waves.session(event_id) as turn:
                begun = monotonic_ms()
                decided = await self._deliberate(router.graph_for(raw), raw, knobs)
                if on_decision is not None:
                    on_decision(decided.decision, monotonic_ms() - begun - turn.waited_ms)
                return decided

        async with self._waves.wave(event_ids, concurrency):
            ended = await asyncio.gather(*map(session, raws, event_ids), return_exceptions=True)
        decided = [d for d in ended if isinstance(d, Decided)]
        for one in decided:  # in the wave's order, so alerts come in the same order at any concurrency
            await self._decided(one.decision)
        if len(decided) < len(ended):
            raise next(e for e in ended if isinstance(e, BaseException))
        caused = emitted_events([d.decision for d in decided])
        if caused and depth < MAX_CAUSED_DEPTH:  # what the wave's flows caused, as the next wave
            await self._submit_wave(caused, knobs, concurrency, on_decision, depth + 1)
        elif caused:
            log.warning("%d caused events not submitted: caused %s levels deep", len(caused), depth + 1)
        return decided

    async def _deliberate(self, graph: Graph, raw: dict[str, Any], knobs: RunKnobs | None) -> Decided:
        settings = self.settings
        self._in_flight += 1
        try:
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
        finally:
            self._in_flight -= 1

    async def replay(
        self,
        path: Path | str,
        knobs: RunKnobs | None = None,
        on_decision: OnDecision | None = None,
        *,
        concurrency: int = 1,
        on_line: OnLine | None = None,
        bots: Sequence[Bot] = (),
    ) -> list[DecisionRecord]:
        """Replay a tape (JSON lines, in time order) and return the decisions, in the tape's order.

        `bots` (the tape's bots, `aegis.runtime.tape_bots`) are registered when the tape's time passes their
        registration time (`Bot.since`), as they were when the tape was recorded.

        MARKET_TICK events rebuild the market state (bars to the broker and the hot store, the VIX), without
        screening or detecting anomalies again (the tape holds the signals and anomalies found when it was
        recorded, so a replay decides what the recording did); every other event is submitted, wave by wave
        (`submit_wave`), so the decisions are the same at any `concurrency`. Each line is read on its own and
        never stops the replay: a line that is not UTF-8, not JSON or not an object, an invalid event and an
        event out of the tape's time are all recorded as rejected decisions (dead letters) whose reason names
        the line (`aegis.runtime.tape`). `on_line` hears what became of each line (its decision, how it was
        delivered, why it was rejected).

        What a historical tape needs:
        - Open the pipeline on a `SimulatedClock` at the tape's start (`aegis.runtime.tape.tape_start`).
          The clock follows the tape: each accepted event (not only ticks) moves it to its `event_time`,
          never back, so events on later days are not "in the future".
        - Lines in time order. An event earlier than the previous accepted one by more than
          `settings.replay.back_tolerance_s` (default 5 s, the clock skew events are allowed) is refused as
          out of order; within it, it is accepted and the clock stays. A tick whose bar is not after its
          symbol's previous bar is refused.
        - No jumps: an event later than the previous accepted one by more than `settings.replay.max_gap_s`
          (default 7 days, longer than any market closure) is refused, so one typo'd year cannot carry the
          clock past the rest of the tape. A tape with a real longer gap needs a larger value.
        - Ids are idempotency keys: a line repeating an earlier id with the same content gets the first
          decision back; with other content it is rejected as a conflict (kept in the store's event
          conflicts), the first decision standing.
        """
        feed = self.market_feed(detect=False)  # the tape holds the anomalies found when it was recorded
        tape_clock = TapeClock(self.settings.replay)
        last_bars: dict[str, datetime | None] = {}
        decisions: list[DecisionRecord] = []

        def told(outcome: LineOutcome) -> None:
            if outcome.decision is not None:
                decisions.append(outcome.decision)
            if on_line is not None:
                on_line(outcome)

        pending = list(bots)

        async def register_due(moment: datetime) -> None:
            if pending and moment > min(bot.since for bot in pending):
                await self.bots.register(pending, actor="replay", reason="the bots the tape was recorded with")
                pending.clear()

        async def ticked(line: TapeLine) -> None:
            assert isinstance(line.event, MarketTickEvent)  # a step of its own is a blank line or a tick
            await register_due(line.event.event_time)
            symbol, bar = line.event.symbol or "", line.event.payload.bar
            last = await self._last_bar_time(symbol, last_bars)
            if last is not None and bar.time <= last:
                problem = (
                    f"the {symbol} bar at {bar.time.isoformat()} is not after its previous one, at {last.isoformat()}"
                )
                await run.end()  # a refused line is deliberated (recorded as a dead letter): not in the run
                await submitted([line.refuse(TICK_NOT_AFTER, problem, line.raw)])
                return
            await feed.bar(symbol, bar)
            last_bars[symbol] = bar.time
            told(LineOutcome(line.number, byte_order_mark=line.byte_order_mark))

        async def submitted(lines: list[TapeLine]) -> None:
            raws = [line.raw for line in lines if line.raw is not None]
            for line, one in zip(lines, await self._submit_wave(raws, knobs, concurrency, on_decision), strict=True):
                told(LineOutcome(line.number, one.decision, one.delivery, line.refused, False, line.byte_order_mark))

        run = _TickRun(self.services.store, self.paper_broker, self.settings.replay.ticks_per_commit)
        chunks = await asyncio.to_thread(Path(path).open, "rb")
        try:
            # Reading, decoding and judging lines runs in a worker thread, a batch of steps at a time.
            steps = tape_steps_of(tape_clock.admit(line) for line in read_lines(chunks))
            while batch := await asyncio.to_thread(_next_steps, steps):
                for step in batch:
                    if isinstance(step, list):
                        await run.end()  # the ticks before a wave are committed before it starts
                        moments = [line.event.event_time for line in step if line.event is not None]
                        if moments:
                            await register_due(max(moments))
                            await feed.advance(max(moments))
                        await submitted(step)
                    elif step.raw is None:
                        told(LineOutcome(step.number, blank=True, byte_order_mark=step.byte_order_mark))
                    else:
                        await run.tick()
                        await ticked(step)
                        await run.applied()
                await run.end()
            await feed.finish()
        finally:
            await run.end()
            chunks.close()
        return decisions

    async def _last_bar_time(self, symbol: str, known: dict[str, datetime | None]) -> datetime | None:
        """The time of the newest bar the hot store holds for `symbol` (read once, then kept up to date by the
        replay): a tick not after it would be refused by the store."""
        if symbol not in known:
            try:
                bars = await self.services.hot.hot.bars(symbol)
            except HotStoreUnavailableError:
                bars = ()
            known[symbol] = bars[-1].time if bars else None
        return known[symbol]

    async def close(self) -> None:
        await self._stack.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
