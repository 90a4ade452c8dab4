"""Loading a session's context at its start: hot values first, the durable store for the book and history.

This is the only place a session reads stores for context; what it returns is frozen for the session.
The posture is the posture control's (`POSTURE_KEY`: an operator's override in force, else the last
evaluation, never looser than the VIX read now), or the VIX posture before the control holds one; then made
defensive when the last sessions failed in a row or stop-loss exits came in a row (DESIGN section 6). A hot
copy of the control that does not parse is defensive (fail closed). The risk limits are the settings' with the
risk-limit control's overrides (`LIMITS_KEY`) applied; a hot copy of them that does not parse puts the account
in REDUCING for the session (no entries, reductions pass), since the limits in force are then unknown.
A VIX older than `max_vix_age_days` on the session's clock (`state.staleness`) is stale: the session records
it (`SessionContext.stale_inputs`), takes the defensive posture and is REDUCING (no new entries; exits pass).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from quant.posture import Posture, PostureParams, VixThresholds, posture_from_vix, stricter
from quant.risk_guard import RiskLimits
from state.bots import BotBook
from state.clock import Clock
from state.context import MarketSnapshot, OperatingMode, Portfolio, SessionContext
from state.posture import PostureBook, session_posture
from state.risk_limits import LimitOverrides
from state.staleness import StaleInput, vix_staleness
from state.store.base import DurableStore
from state.tiered_hot import Served, TieredHot
from state.trading import ACCOUNT_SCOPE, TradingState, TradingStates, TradingStatus

# Keys shared by the writers (feed, persist step) and this reader.
VIX_KEY = "market:vix"
VIX_AS_OF_KEY = "market:vix_as_of"  # when the VIX value was observed (ISO datetime): its age (`state.staleness`)
DAY_START_EQUITY_KEY = "book:day_start_equity"
TRADING_STATE_KEY = "ops:trading_state"  # the durable trading states, mirrored (`tools.ops.trading`)
POSTURE_KEY = "ops:posture"  # the posture control's evaluation and override, mirrored (`tools.ops.posture`)
LIMITS_KEY = "ops:risk_limits"  # the operator's risk-limit overrides, mirrored (`tools.ops.limits`)
# The last entries' order types: a durable value only (appended in the transaction that saves a decision,
# so concurrent sessions never lose one), read with the book.
ENTRY_ORDER_TYPES_KEY = "book:recent_entry_order_types"
FAILED_SESSIONS_COUNTER = "consecutive_failed_sessions"
STOP_LOSS_STREAK_COUNTER = "consecutive_stop_losses"  # written by the risk monitor from the broker's exits
BOTS_KEY = "ops:bots"  # the durable bot records, mirrored (`tools.ops.bots`)
RULES_KEY = "ops:rules"  # the rules engine's rules, mirrored (`tools.ops.rules`)
FEED_OUTAGE_KEY = "ops:feed_outage"  # {"since": last heartbeat, "tier"} while the feed is silent (monitor)
PRICE_MISMATCH_KEY = "ops:price_mismatch"  # symbol -> broker vs market price difference in percent (monitor)
MICRO_USD = 1_000_000  # LLM costs are counted in micro-dollars


def llm_cost_counter(day: date) -> str:
    """The counter of a UTC day's LLM cost, in micro-dollars (written by the cost ledger)."""
    return f"llm_cost_micros:{day.isoformat()}"


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    postures: Mapping[Posture, PostureParams]
    vix_thresholds: VixThresholds
    failed_sessions_to_defensive: int
    default_mode: OperatingMode
    starting_cash: float
    recent_decisions: int = 10
    stop_losses_to_defensive: int = 3
    risk_limits: RiskLimits = field(default_factory=RiskLimits)  # the settings', before the operator's overrides
    max_vix_age_days: float = 5.0  # a VIX observed longer ago than this is stale (fail closed)


class ContextLoader:
    def __init__(self, hot: TieredHot, durable: DurableStore, clock: Clock, policy: ContextPolicy) -> None:
        self._hot = hot
        self._durable = durable
        self._clock = clock
        self._policy = policy

    async def load(self, symbol: str | None) -> SessionContext:
        """Two reads at once: the book from the durable store (with the recent entry order types, the day's
        LLM cost, and the durable copies of the hot values, used only for those the hot store lacks) and the
        hot values in one snapshot; then the last bars of the other symbols held, if any (one more hot round
        trip)."""
        now = self._clock.now()
        symbols = [symbol] if symbol is not None else []
        keys = (
            DAY_START_EQUITY_KEY,
            VIX_KEY,
            VIX_AS_OF_KEY,
            TRADING_STATE_KEY,
            PRICE_MISMATCH_KEY,
            FEED_OUTAGE_KEY,
            BOTS_KEY,
            POSTURE_KEY,
            LIMITS_KEY,
        )
        cost_counter = llm_cost_counter(now.date())
        book_read = asyncio.ensure_future(
            self._durable.book_snapshot(
                (FAILED_SESSIONS_COUNTER, STOP_LOSS_STREAK_COUNTER, cost_counter),
                self._policy.recent_decisions,
                (*keys, ENTRY_ORDER_TYPES_KEY),
            )
        )

        async def durable_copies() -> Mapping[str, Any]:  # the hot values' fallback: same round trip as the book
            return (await book_read).values

        try:
            hot, sources = await self._hot.snapshot_served(symbols, [], keys, durable_copies)
        finally:
            book_outcome = await asyncio.gather(book_read, return_exceptions=True)  # never left running
        book = book_outcome[0]
        if isinstance(book, BaseException):
            raise book
        positions = book.positions
        last_bars = {s: bars[-1] for s, bars in hot.bars.items() if bars}
        others = [p.symbol for p in positions if p.symbol not in hot.bars]
        if others:
            held, held_sources = await self._hot.snapshot_served([], others, [])
            last_bars.update((s, bar) for s, bar in held.last_bars.items() if bar is not None)
            sources.update(held_sources)
        cash = self._policy.starting_cash if book.cash is None else book.cash
        marks = {}
        for position in positions:
            last = last_bars.get(position.symbol)
            marks[position.symbol] = last.close if last is not None else position.avg_price
        equity = cash + sum(p.quantity * marks[p.symbol] for p in positions)
        day_start = hot.values[DAY_START_EQUITY_KEY]
        portfolio = Portfolio(
            cash=cash,
            equity=equity,
            day_start_equity=float(day_start) if day_start is not None else equity,
            positions=positions,
            marks=marks,
        )

        vix_value = hot.values[VIX_KEY]
        vix = float(vix_value) if isinstance(vix_value, int | float) and math.isfinite(vix_value) else None
        posture = posture_from_vix(vix, self._policy.vix_thresholds)
        reason = f"VIX {vix:.2f}" if vix is not None else "VIX unknown: defensive by default"
        posture, reason = _controlled(hot.values[POSTURE_KEY], posture, reason, now)
        failures = book.counters[FAILED_SESSIONS_COUNTER]
        if failures >= self._policy.failed_sessions_to_defensive:
            posture = stricter(posture, Posture.DEFENSIVE)
            reason += f"; {failures} consecutive failed sessions: defensive"
        stop_losses = book.counters[STOP_LOSS_STREAK_COUNTER]
        if stop_losses >= self._policy.stop_losses_to_defensive:
            posture = stricter(posture, Posture.DEFENSIVE)
            reason += f"; {stop_losses} stop-loss exits in a row: defensive"
        stale: tuple[StaleInput, ...] = ()
        vix_stale = vix_staleness(hot.values[VIX_AS_OF_KEY], now, self._policy.max_vix_age_days)
        if vix is not None and vix_stale is not None:
            stale = (vix_stale,)
            posture = stricter(posture, Posture.DEFENSIVE)
            reason += f"; {vix_stale.describe()}: defensive, no new entries"

        market = None
        bars = hot.bars.get(symbol, ()) if symbol is not None else ()
        if symbol is not None and bars:
            age = max(0.0, (now - bars[-1].time).total_seconds())
            # Built from validated bars: validating again would re-run every bar's checks (0.1 ms a window).
            market = MarketSnapshot.model_construct(symbol=symbol, bars=bars, as_of=bars[-1].time, age_s=age)

        trading = _trading_states(hot.values[TRADING_STATE_KEY], now)
        limits, unreadable = _risk_limits(hot.values[LIMITS_KEY], self._policy.risk_limits)
        if unreadable is not None:
            trading = _reducing(trading, unreadable, now)
        for input_ in stale:
            trading = _reducing(trading, f"{input_.describe()}: reducing only (no new entries)", now)
        entry_types = book.values.get(ENTRY_ORDER_TYPES_KEY)
        return SessionContext(
            loaded_at=now,
            portfolio=portfolio,
            posture=posture,
            posture_params=self._policy.postures[posture],
            posture_reason=reason,
            vix=vix,
            mode=self._policy.default_mode,
            trading=trading,
            bots=_bots(hot.values[BOTS_KEY]),
            risk_limits=limits,
            price_mismatches=_mismatches(hot.values[PRICE_MISMATCH_KEY]),
            consecutive_failures=failures,
            recent_decisions=book.recent,
            recent_entry_order_types=tuple(str(t) for t in entry_types or ()),
            llm_cost_today_usd=book.counters[cost_counter] / MICRO_USD,
            market=market,
            stale_inputs=stale,
            source=_describe(sources) + _cached_data(hot.values[FEED_OUTAGE_KEY], now),
        )


def _controlled(value: Any, vix_posture: Posture, vix_reason: str, now: datetime) -> tuple[Posture, str]:
    """The posture control's posture for this session; the VIX's while the control holds none."""
    if value is None:
        return vix_posture, vix_reason
    try:
        current = PostureBook.model_validate(value).current(now)
    except ValidationError as exc:
        return Posture.DEFENSIVE, f"the hot copy of the posture does not parse ({exc.error_count()} errors): defensive"
    return (vix_posture, vix_reason) if current is None else session_posture(current, vix_posture, vix_reason)


def _cached_data(value: Any, now: datetime) -> str:
    """While the feed is silent the market data is a cache: say how old (the session's record keeps it)."""
    if not isinstance(value, dict) or not isinstance(value.get("since"), str):
        return ""
    try:
        since = datetime.fromisoformat(value["since"])
    except ValueError:
        return "; feed silent (time unreadable): cached market data"
    age = max(0.0, (now - since).total_seconds())
    return f"; feed silent: cached market data {age:.1f} s old (feed tier {value.get('tier')})"


def _mismatches(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}


def _bots(value: Any) -> BotBook:
    """The mirrored bot records; a copy that does not parse lets no bot trade (fail closed)."""
    if value is None:
        return BotBook()
    try:
        return BotBook.model_validate(value)
    except ValidationError as exc:
        return BotBook(unreadable=f"the hot copy of the bots does not parse: {exc.error_count()} errors")


def _risk_limits(value: Any, settings: RiskLimits) -> tuple[RiskLimits, str | None]:
    """The settings' limits with the mirrored overrides applied, and why not when the copy is unusable (then
    the settings' limits, with the account put in REDUCING by the caller)."""
    if value is None:
        return settings, None
    try:
        return LimitOverrides.model_validate(value).applied(settings), None
    except ValueError as exc:  # a ValidationError too
        count = exc.error_count() if isinstance(exc, ValidationError) else 1
        return settings, f"the hot copy of the risk limits does not parse ({count} errors): reducing only"


def _reducing(trading: TradingStates, reason: str, now: datetime) -> TradingStates:
    """The account at least REDUCING (a stricter state stands), saying why."""
    if trading.account.state.severity >= TradingState.REDUCING.severity:
        return trading
    status = TradingStatus(
        scope=ACCOUNT_SCOPE, state=TradingState.REDUCING, reason=reason, actor="context_loader", since=now
    )
    return trading.model_copy(update={"account": status})


def _trading_states(value: Any, now: datetime) -> TradingStates:
    """The mirrored trading states; a copy that does not parse counts as HALTED (fail closed)."""
    if value is None:
        return TradingStates.of([], now)
    try:
        return TradingStates.model_validate(value)
    except ValidationError as exc:
        halted = TradingStatus(
            scope=ACCOUNT_SCOPE,
            state=TradingState.HALTED,
            reason=f"the hot copy of the trading state does not parse: {exc.error_count()} errors",
            actor="context_loader",
            since=now,
        )
        return TradingStates(account=halted)


def _describe(sources: dict[str, Served]) -> str:
    """ "hot" when the hot store served everything, else which keys came from the durable copy and why."""
    fallbacks = sorted(f"{key}: {served}" for key, served in sources.items() if served.source != "hot")
    return "hot" if not fallbacks else "durable fallback for " + "; ".join(fallbacks)
