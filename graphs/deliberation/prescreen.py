"""The pre-screen: can this event lead to an action at all? If not, it is settled here without any LLM call.

A signal belongs to a bot (the default bot when it names none): a stopped or unknown bot's signal stops
here, and a bot deliberates only symbols no other bot holds.

Pure: it reads the event, the session context and the quant report, and says why the session stops, or
returns None to let the roles deliberate.
"""

from __future__ import annotations

from quant.report import QuantReport
from state.context import SessionContext
from state.events import Event, EventType, SignalEvent

DELIBERATED_TYPES = frozenset({EventType.MARKET_TICK, EventType.SIGNAL_GENERATED, EventType.NEWS})


def pre_screen(
    event: Event,
    context: SessionContext,
    report: QuantReport | None,
    max_market_age_s: float,
    max_event_age_s: float = float("inf"),
) -> str | None:
    """The reason to stop before the roles, or None to deliberate."""
    if event.type not in DELIBERATED_TYPES:
        return f"{event.type} events are recorded for their own flow; the deliberation handles market events"
    if event.symbol is None:
        return f"{event.type} without a symbol: nothing to trade"
    age_s = (context.loaded_at - event.event_time).total_seconds()
    if age_s > max_event_age_s:
        return f"the event is {age_s:,.0f} s old on the session's clock (limit {max_event_age_s:g} s): stale"
    bot = event.bot
    stopped = context.bots.refusal(bot, context.loaded_at)
    if stopped is not None:
        return stopped
    symbol = event.symbol
    holder = context.portfolio.holder(symbol)
    held = holder == bot
    refusal = context.trading.refusal(symbol, reduces=held)
    if refusal is not None:
        return refusal if held or "halted" in refusal else f"{refusal}; no position in {symbol} to reduce"
    if context.market is None or report is None:
        return f"no market data for {symbol}"
    if context.market.age_s > max_market_age_s and not held:
        return f"market data is {context.market.age_s:.0f} s old: only existing positions may be managed"
    if "insufficient_history" in report.flags:
        return f"not enough history for the indicators ({report.bars_used} bars)"
    direction = event.payload.direction if isinstance(event, SignalEvent) else None
    if holder is not None and not held:
        return f"{symbol} is held by bot {holder}, not by bot {bot}: one bot holds a symbol at a time"
    if direction == "short" and not held:
        return "short signal with no position to close (short selling is disabled)"
    if direction == "long":
        if held:
            return f"already holding {symbol}"
        open_positions = len({p.symbol for p in context.portfolio.positions})
        allowed = context.posture_params.max_open_positions
        if open_positions >= allowed:
            return f"{open_positions} open positions: the {context.posture} posture allows {allowed}"
    return None
