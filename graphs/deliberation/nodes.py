"""The deliberation's nodes: each reads the state, calls one thing, and returns a partial update.

The business logic lives below (`agents`, `quant`, `state`, `tools`); here it is only called and its
result placed in the state. `persist` is the one node that writes the decision record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from langgraph.runtime import Runtime

from agents import analyst, commander, validator
from agents.stage import RoleResult
from graphs.deliberation.asking import RoleAsk, ask_role
from graphs.deliberation.config import DeliberationConfig
from graphs.deliberation.context import RunKnobs
from graphs.deliberation.facts import base_facts, commander_facts, external_texts, validator_facts
from graphs.deliberation.integrity import check_guarded_order
from graphs.deliberation.prescreen import pre_screen
from graphs.deliberation.report_memo import ReportMemo
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from quant.posture import Posture, stricter
from quant.risk_guard import Action, GuardDecision, ProposedOrder, guard_order
from state.context import OperatingMode, SessionContext
from state.context_loader import ENTRY_ORDER_TYPES_KEY, FAILED_SESSIONS_COUNTER
from state.decisions import DecisionRecord, GuardChangeRecord, Outcome, StageStatus, Usage
from state.events import Event, EventRejectedError, FieldError, parse_event
from state.exposure import book_view
from state.orders import OrderRequest, OrderType, Side
from state.staleness import StaleInput, symbol_staleness
from state.store.base import AccountBook, AuditEntry, EventConflict, ListAppend, SessionEnd
from state.trading import TradingStates
from tools.broker.base import BrokerError

Update = dict[str, Any]
_CONFIGS_KEPT = 64  # distinct run knobs whose configs are kept (Studio sends new ones by hand)


def _knobs(runtime: Runtime[RunKnobs] | None) -> RunKnobs:
    context = runtime.context if runtime is not None else None
    if isinstance(context, dict):  # LangGraph Studio and the REST API send the knobs as JSON
        return RunKnobs(**{k: v for k, v in context.items() if v is not None})
    return context if isinstance(context, RunKnobs) else RunKnobs()


# ---- what reaches normalize: an event as received, or an input the front door refused -----------

REFUSED = "refused_input"
UNREADABLE = "unreadable"  # the recorded type of a refused input that holds no event


def refused_input(where: str, problem: str, received: Any) -> dict[str, Any]:
    """What the front door (`aegis.Pipeline`) passes on for an input it refused before it became an event: a
    tape line that is not UTF-8, not JSON or not a JSON object; a value that is not a JSON object; an event
    out of the tape's time order. `normalize` records it as rejected, reason "<where>: <problem>". An event
    inside (`received` a JSON object) keeps its id and is recorded as it arrived; anything else (`received`
    as text or a JSON value) is recorded in this wrapper under an id derived from it."""
    return {REFUSED: {"where": where, "problem": problem, "received": received}}


@dataclass(frozen=True, slots=True)
class _Refusal:
    where: str
    problem: str
    received: Any


def _refusal(raw: Any) -> _Refusal | None:
    """The refusal `raw` wraps (exactly the wrapper of `refused_input`), or None for anything else."""
    inner = raw.get(REFUSED) if isinstance(raw, dict) and len(raw) == 1 else None
    if not isinstance(inner, dict):
        return None
    where, problem = inner.get("where"), inner.get("problem")
    if not isinstance(where, str) or not isinstance(problem, str):
        return None
    return _Refusal(where, problem, inner.get("received"))


def recorded_event(raw: Any) -> Any:
    """The event as the store records it: the one inside a refusal, else `raw` as received."""
    refusal = _refusal(raw)
    return refusal.received if refusal is not None and isinstance(refusal.received, dict) else raw


def recorded_type(raw: Any) -> str:
    event = recorded_event(raw)
    if _refusal(event) is not None:
        return UNREADABLE
    return str(event.get("type") if isinstance(event, dict) else None)


def raw_event_id(raw: Any) -> str:
    """The event's own id when it has a usable one, else a stable id derived from its content."""
    event = recorded_event(raw)
    if isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"].strip():
        return str(event["id"])
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f"rejected-{digest}"


class DeliberationNodes:
    def __init__(self, services: Services) -> None:
        self.s = services
        self._configs: dict[RunKnobs, DeliberationConfig] = {}
        self._reports = ReportMemo()

    def config(self, runtime: Runtime[RunKnobs] | None) -> DeliberationConfig:
        """The settings with the run's knobs applied (once per distinct knobs: a session asks eight times)."""
        knobs = _knobs(runtime)
        config = self._configs.get(knobs)
        if config is None:
            if len(self._configs) >= _CONFIGS_KEPT:
                self._configs.clear()
            config = self._configs[knobs] = knobs.apply(self.s.config)
        return config

    # ---- normalize -> load_context -> quant_report -> pre_screen ---------------------------

    async def normalize(self, state: DeliberationState) -> Update:
        raw = state["event"]
        now = self.s.clock.now()
        event_id, event = raw_event_id(raw), recorded_event(raw)
        first_arrival = await self.s.store.record_event(event_id, recorded_type(raw), now, event)
        if not first_arrival:  # only an event seen before can have been decided before
            # The id is the idempotency key: the same content gets the first decision back; other content
            # under the id is not that event. The first stands; this delivery is rejected and recorded.
            conflict = await self.s.store.check_redelivery(event_id, event, now)
            if conflict is not None:
                return _conflicting(conflict)
            prior = await self.s.store.get_decision(event_id)
            if prior is not None:
                return {"prior": prior}
        refusal = _refusal(raw)
        if refusal is not None:
            errors = [FieldError(field=refusal.where, message=refusal.problem)]
            own_id = event_id if event is not raw else None  # an input without an event has no id of its own
            await self.s.store.record_rejection(own_id, event, errors, now)
            return {"rejection": errors, "settled": Settlement(Outcome.REJECTED, f"{refusal.where}: {refusal.problem}")}
        try:
            parsed = parse_event(raw, now=now)
        except EventRejectedError as exc:
            await self.s.store.record_rejection(exc.event_id, raw, exc.errors, now)
            return {"rejection": exc.errors, "settled": Settlement(Outcome.REJECTED, str(exc))}
        if not first_arrival:
            # A redelivery with no decision: the last attempt died. If it got as far as the broker, that
            # order stands; asking the roles again could decide otherwise beside a live order.
            placed = await self.s.store.get_order_for_event(parsed.id)
            if placed is not None:
                reason = "order placed by an earlier attempt that died before its decision was saved"
                return {"parsed": parsed, "order": placed, "settled": Settlement(Outcome.ORDERED, reason)}
        return {"parsed": parsed}

    async def load_context(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        event = state["parsed"]
        context = await self.s.loader.load(event.symbol)
        self.s.ordering.context_loaded(raw_event_id(state["event"]))
        override = _knobs(runtime).posture_override
        if override is not None and Posture(override) != context.posture:
            posture = stricter(context.posture, Posture(override))
            context = context.model_copy(
                update={
                    "posture": posture,
                    "posture_params": self.s.config.postures[posture],
                    "posture_reason": f"{context.posture_reason}; run override {override}",
                }
            )
        return {"context": context}

    async def quant_report(self, state: DeliberationState) -> Update:
        market = state["context"].market
        if market is None:
            return {}
        return {"report": self._reports.report(market.symbol, market.bars)}

    async def pre_screen(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        config = self.config(runtime)
        reason = pre_screen(
            state["parsed"], state["context"], state.get("report"), config.max_market_age_s, config.max_event_age_s
        )
        return {"settled": Settlement(Outcome.SCREENED_OUT, reason)} if reason else {}

    # ---- the roles ------------------------------------------------------------------------

    def _base_facts(self, state: DeliberationState, config: DeliberationConfig) -> dict[str, Any]:
        return base_facts(state["parsed"], state["context"], state["report"], config.max_market_age_s)

    async def _ask(
        self, name: str, ask: RoleAsk, facts: dict[str, Any], config: DeliberationConfig, state: DeliberationState
    ) -> RoleResult[Any]:
        """Ask one role, unless the LLM budget is spent (then it fails closed without a call)."""
        event = state["parsed"]
        return await ask_role(self.s, name, config.roles[name], event.id, state["context"].llm_cost_today_usd,
                              ask, facts, external_texts(event))  # fmt: skip

    async def analyst(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        config = self.config(runtime)
        facts = self._base_facts(state, config)
        result = await self._ask("analyst", analyst.analyse, facts, config, state)
        return _role_update("analysis", result, analyst.FAIL_CLOSED)

    async def validator(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        config = self.config(runtime)
        shown = state.get("analysis") if config.validation_mode == "sequential" else None
        facts = validator_facts(self._base_facts(state, config), shown, config.min_confidence)
        result = await self._ask("validator", validator.validate, facts, config, state)
        return _role_update("verdict", result, validator.FAIL_CLOSED)

    async def veto_gate(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        verdict, view = state["verdict"], state["analysis"]
        if verdict.vetoed:
            checks = ", ".join(verdict.violated_checks)
            return {"settled": Settlement(Outcome.VETOED, f"validator veto ({checks}): {'; '.join(verdict.reasons)}")}
        if view.direction == "flat":
            return {"settled": Settlement(Outcome.HOLD, f"analyst is flat: {view.thesis}")}
        minimum = self.config(runtime).min_confidence
        if view.confidence < minimum:
            return {"settled": Settlement(Outcome.HOLD, f"analyst confidence {view.confidence:.2f} < {minimum:.2f}")}
        return {}

    async def commander(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        config = self.config(runtime)
        facts = commander_facts(self._base_facts(state, config), state["analysis"], state["verdict"])
        result = await self._ask("commander", commander.command, facts, config, state)
        update = _role_update("command", result, commander.FAIL_CLOSED)
        order = update["command"]
        if order.action == "hold":
            update["settled"] = Settlement(Outcome.HOLD, f"commander holds: {order.rationale}")
        return update

    # ---- risk_guard -> rune -> execute -> persist -------------------------------------------

    async def risk_guard(self, state: DeliberationState) -> Update:
        await self.s.ordering.wait_turn(raw_event_id(state["event"]))
        decision = await self._guard(state)
        update: Update = {"guard": decision}
        if decision.order is None:
            update["settled"] = Settlement(Outcome.BLOCKED, f"risk guard: {decision.rejected_because}")
        return update

    async def _guard(self, state: DeliberationState, account: AccountBook | None = None) -> GuardDecision:
        """The guard's verdict on the commander's order against the account as it stands now (`account`,
        else read): filled, pending (also orders placed earlier in this wave) and reserved."""
        event, context, order = state["parsed"], state["context"], state["command"]
        market = context.market
        limits = context.risk_limits  # the settings' with the operator's overrides, as the session loaded them
        view = book_view(
            account or await self.s.store.account_book(),
            starting_cash=self.s.starting_cash,
            day_start_equity=context.portfolio.day_start_equity,
            recent_entry_order_types=context.recent_entry_order_types,
            fee_buffer_pct=limits.fee_buffer_pct,
            prices={market.symbol: market.last.close} if market is not None else None,
            bot=context.bots.get(event.bot, context.loaded_at),
        )
        proposal = ProposedOrder(
            symbol=event.symbol or "",
            action=Action(order.action),
            size_pct=order.size_pct,
            order_type=order.order_type,
            limit_price=order.limit_price,
            stop_loss_pct=order.stop_loss_pct,
            take_profit_pct=order.take_profit_pct,
        )
        return guard_order(
            proposal,
            price=market.last.close if market is not None else float("nan"),
            posture=context.posture_params,
            limits=limits,
            book=view,
            price_age_s=market.age_s if market is not None else float("inf"),
        )

    async def rune(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        """RUNE's market-integrity check of the guarded order (`graphs.deliberation.integrity`), in the turn."""
        await self.s.ordering.wait_turn(raw_event_id(state["event"]))
        return await check_guarded_order(state, self.s, self.config(runtime).integrity)

    async def execute(self, state: DeliberationState) -> Update:
        context, guarded, event = state["context"], state["guard"].order, state["parsed"]
        assert guarded is not None  # routed here only with an approved order
        if context.mode is not OperatingMode.PAPER:
            reason = f"mode {context.mode}: no broker adapter for it yet, nothing executed"
            return {"settled": Settlement(Outcome.BLOCKED, reason)}
        request = OrderRequest(
            event_id=event.id,
            symbol=guarded.symbol,
            side=Side(guarded.side),
            quantity=guarded.quantity,
            order_type=OrderType(guarded.order_type),
            limit_price=guarded.limit_price,
            stop_loss_price=guarded.stop_loss_price,
            take_profit_price=guarded.take_profit_price,
            created_at=self.s.clock.now(),
            bot_id=event.bot,
            correlation_id=event.chain_id,
        )
        # The last check before the broker, under the account lock the kill switch also takes: the trading
        # state as it is now, and the book as it is now (another worker may have ordered since the guard).
        async with self.s.store.account_lock():
            account = await self.s.store.account_book()
            states = TradingStates.of(list(account.trading), self.s.clock.now())
            refusal = states.refusal(guarded.symbol, reduces=request.side is Side.SELL)
            if refusal is not None:
                return {"settled": Settlement(Outcome.BLOCKED, f"execute: {refusal}")}
            again = (await self._guard(state, account)).order
            if again is None or again.quantity != guarded.quantity:
                now = "rejected" if again is None else f"{again.quantity:g} units"
                reason = f"execute: the book changed since the risk guard (it would now allow {now}); nothing sent"
                return {"settled": Settlement(Outcome.BLOCKED, reason)}
            try:
                order = await self.s.broker.submit(request)
            except BrokerError as exc:
                return {"settled": Settlement(Outcome.EXECUTION_FAILED, f"broker refused: {exc}")}
        return {
            "order": order,
            "settled": Settlement(
                Outcome.ORDERED,
                f"{order.request.side} {order.request.quantity:g} {order.request.symbol} ({order.request.order_type})",
            ),
        }

    async def persist(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        if "prior" in state:
            return {"decision": state["prior"]}
        await self.s.ordering.wait_turn(raw_event_id(state["event"]))
        record = self._record(state, self.config(runtime))
        self.s.ledger.settle(record.event_id)
        # A conflict is never the id's decision (that is the first arrival's): normalize kept it apart.
        if "conflict" not in state and not await self._finish(state, record):
            record = await self.s.store.get_decision(record.event_id) or record  # a concurrent delivery was first
        self.s.ordering.finished(raw_event_id(state["event"]))
        return {"decision": record}

    def record_of(self, state: DeliberationState, runtime: Runtime[RunKnobs] | None = None) -> DecisionRecord:
        """The decision record the state would be persisted as (not saved): a session parked at an interrupt
        reports it."""
        return self._record(state, self.config(runtime))

    def _record(self, state: DeliberationState, config: DeliberationConfig) -> DecisionRecord:
        settled = state.get("settled") or Settlement(Outcome.HOLD, "session ended without a settlement")
        event: Event | None = state.get("parsed")
        context: SessionContext | None = state.get("context")
        report = state.get("report")
        guard = state.get("guard")
        return DecisionRecord(
            event_id=event.id if event else raw_event_id(state["event"]),
            event_type=str(event.type) if event else recorded_type(state["event"]),
            symbol=event.symbol if event else None,
            bot_id=event.bot if event else None,
            outcome=settled.outcome,
            reason=settled.reason,
            decided_at=self.s.clock.now(),
            posture=str(context.posture) if context else None,
            posture_reason=context.posture_reason if context else None,
            mode=str(context.mode) if context else None,
            validation_mode=config.validation_mode if "analysis" in state else None,
            rejection=state.get("rejection", []),
            analysis=_dump(state.get("analysis")),
            verdict=_dump(state.get("verdict")),
            command=_dump(state.get("command")),
            guard_changes=[GuardChangeRecord(**asdict(c)) for c in guard.changes] if guard else [],
            order=state.get("order"),
            stages=state.get("stages", []),
            llm_usage=sum((s.usage for s in state.get("stages", []) if s.usage), Usage()),
            failed_stages=sorted(state.get("failed_stages", [])),
            context_hash=context.digest() if context else None,
            context_source=context.source if context else None,
            market_age_s=context.market.age_s if context and context.market else None,
            stale_inputs=_stale_inputs(context, event, config, guard is not None),
            quant_report=report.as_dict() if report else None,
            operation=state.get("findings"),
            correlation_id=event.chain_id if event else None,
            causation_id=event.causation_id if event else None,
        )

    async def _finish(self, state: DeliberationState, record: DecisionRecord) -> bool:
        """Save the decision with what follows from it (failure streak, posture change, audit entry, the
        entry's order type) in one transaction; False, with nothing written, when the event was decided
        already. (The hot posture is the posture control's: `tools.ops.posture`.)"""
        now, context = self.s.clock.now(), state.get("context")
        posture = (str(context.posture), context.posture_reason, context.vix) if context is not None else None
        detail = {"outcome": str(record.outcome), "reason": record.reason, "failed_stages": record.failed_stages}
        appends: tuple[ListAppend, ...] = ()
        if record.order is not None and record.order.request.side is Side.BUY:
            entry_type = str(record.order.request.order_type)
            appends = (ListAppend(ENTRY_ORDER_TYPES_KEY, entry_type, self.s.config.risk_limits.limit_share_window),)
        end = SessionEnd(
            # only sessions that reached the roles count towards the failure streak
            streak_counter=FAILED_SESSIONS_COUNTER if "analysis" in state else None,
            failed=record.failed,
            posture=posture,  # recorded only if it differs from the last posture recorded
            audit=(AuditEntry("session", f"decision:{record.outcome}", {"event_id": record.event_id, **detail}),),
            appends=appends,
        )
        finished = await self.s.store.finish_session(record, end, now)
        if finished is None:
            return False
        if end.streak_counter is not None and finished.streak == self.s.config.failed_sessions_to_defensive:
            forced = {"failed_sessions": finished.streak, "last_event": record.event_id}
            await self.s.store.audit("session", "posture_forced_defensive", forced, now)
        return True


def _conflicting(conflict: EventConflict) -> Update:
    reason = (
        f"conflict: event id {conflict.event_id} was first recorded with other content (sha256 "
        f"{conflict.first_hash[:12]}, this delivery {conflict.new_hash[:12]}); the first stands, this "
        "delivery is rejected and kept in the event conflicts"
    )
    return {
        "rejection": [FieldError(field="id", message=reason)],
        "settled": Settlement(Outcome.REJECTED, reason),
        "conflict": conflict.new_hash,
    }


def _role_update(key: str, result: RoleResult[Any], fail_closed: Any) -> Update:
    update: Update = {
        key: result.output if result.output is not None else fail_closed,
        "stages": [result.record],
    }
    if result.record.status is StageStatus.FAILED:
        update["failed_stages"] = [result.record.stage]
    return update


def _dump(model: Any) -> dict[str, Any] | None:
    return model.model_dump(mode="json") if model is not None else None


def _stale_inputs(
    context: SessionContext | None, event: Event | None, config: DeliberationConfig, guarded: bool
) -> list[StaleInput]:
    """The session's stale inputs: the context's (the VIX), its symbol's last bar past `max_market_age_s`, and,
    when the risk guard checked an order, the broker's reference price (that bar's close) past its limit."""
    if context is None:
        return []
    stale = list(context.stale_inputs)
    market, symbol = context.market, event.symbol if event else None
    if market is None or symbol is None:
        return stale
    found = [symbol_staleness(f"market:{symbol}", market.as_of, market.age_s, config.max_market_age_s)]
    if guarded:
        limit = context.risk_limits.max_reference_age_s
        found.append(symbol_staleness(f"price:{symbol}", market.as_of, market.age_s, limit))
    return stale + [input_ for input_ in found if input_ is not None]
