"""Each bot's recent trading, from its fills: the input of the bot anomaly rules (`quant.anomalies.bots`).

This module owns turning fills into what those rules read, per bot:
- every fill is a trade for the burst rule (more than 20 in 10 minutes) and the slippage rule;
- a sell closes (part of) a lot bought earlier by the same bot: its realised P&L (proceeds less fees less the
  lot's average cost, buying fees included) is a closed trade for the loss-streak rule (7 losses in the
  last 10). A sell of more than the bot's known lot (its buys predate what was seen) counts only what is
  known; a sell with no known lot is not a closed trade.
- slippage is adverse, in percent of the bar's open for an order's fill (entries and exits fill at the open:
  buys above it, sells below it; a limit filled better than the open is a negative slippage); a bracket's
  stop or target fill counts 0 (it fills at its level, which the fill does not carry: the paper broker's
  slippage on stops is not seen here).

Fills are deduplicated by id (a resumed run reads the stored fills, then the feed's). Only the recent past is
kept per bot (`keep` trades), enough for every rule's lookback and burst window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from quant.anomalies import BotRecord, BotTrade
from state.orders import Fill, FillReason, Side

AT_THE_OPEN = frozenset({FillReason.ENTRY, FillReason.EXIT})  # orders' fills; brackets fill at their level
KEEP = 128  # trades kept per bot: more than the rules' lookbacks (10) and a runaway burst (100 in 10 min)


@dataclass(slots=True)
class _Lot:
    quantity: float = 0.0
    cost: float = 0.0  # what the held quantity cost, buying fees included


@dataclass(slots=True)
class BotTrades:
    keep: int = KEEP
    fills: dict[str, deque[BotTrade]] = field(default_factory=dict)  # every fill: burst and slippage
    closed: dict[str, deque[BotTrade]] = field(default_factory=dict)  # closed trades: the loss streak
    last: dict[str, Fill] = field(default_factory=dict)  # each bot's latest fill: what a finding on it follows
    _lots: dict[tuple[str, str], _Lot] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def add(self, fills: Iterable[Fill], open_price: float | None = None) -> list[str]:
        """Count `fills` (each once); `open_price` is the open of the bar they were filled on. Returns the ids
        of the bots whose trading changed."""
        changed: list[str] = []
        for fill in fills:
            if fill.fill_id in self._seen:
                continue
            self._seen.add(fill.fill_id)
            self.last[fill.bot_id] = fill
            at = fill.time.timestamp()
            slippage = _slippage_pct(fill, open_price)
            self._recent(self.fills, fill.bot_id).append(BotTrade(at, 0.0, slippage))
            pnl = self._book(fill)
            if pnl is not None:
                self._recent(self.closed, fill.bot_id).append(BotTrade(at, pnl, slippage))
            if fill.bot_id not in changed:
                changed.append(fill.bot_id)
        return changed

    def records(self, bot_ids: Iterable[str], *, closed: bool) -> list[BotRecord]:
        """The rules' per-bot records (no heartbeat, no API counts: those come from the bots' statuses)."""
        source = self.closed if closed else self.fills
        return [BotRecord(bot_id, tuple(source.get(bot_id, ())), float("nan"), 0, 0) for bot_id in bot_ids]

    def _recent(self, trades: dict[str, deque[BotTrade]], bot_id: str) -> deque[BotTrade]:
        if bot_id not in trades:
            trades[bot_id] = deque(maxlen=self.keep)
        return trades[bot_id]

    def _book(self, fill: Fill) -> float | None:
        """Book `fill` on its bot's lot in its symbol; a sell returns the realised P&L of what it closed."""
        lot = self._lots.setdefault((fill.bot_id, fill.symbol), _Lot())
        if fill.side is Side.BUY:
            lot.quantity += fill.quantity
            lot.cost += fill.quantity * fill.price + fill.fee
            return None
        closed = min(fill.quantity, lot.quantity)
        if closed <= 0:
            return None
        average = lot.cost / lot.quantity
        share = closed / fill.quantity
        pnl = closed * fill.price - fill.fee * share - closed * average
        lot.quantity -= closed
        lot.cost = lot.quantity * average if lot.quantity > 1e-12 else 0.0
        lot.quantity = max(lot.quantity, 0.0)
        return pnl


def _slippage_pct(fill: Fill, open_price: float | None) -> float:
    """Adverse slippage in percent against the bar's open for an order's fill; 0 for a bracket's exit."""
    if open_price is None or fill.reason not in AT_THE_OPEN:
        return 0.0
    move = (fill.price - open_price) / open_price * 100.0
    return move if fill.side is Side.BUY else -move
