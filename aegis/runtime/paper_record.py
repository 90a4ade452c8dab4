"""The paper record: what the records show of trading in paper mode, as the paper-to-live gate reads it.

Read from the durable store only (no replay, no hot store):
- days and closing equity: the days the daily checks closed (`day_closed` audit entries, AEGIS v3.1 section 7),
  each with the account's equity at its close;
- attempts: the outcomes of the decisions made in paper mode (a decision recorded in live mode is not part of
  a paper record; one with no mode, e.g. a rejected event, counts where its outcome says);
- closed trades: realised P&L of each sell against the lot its bot bought, fees included
  (`aegis.runtime.bot_trades.BotTrades`, the same booking the bot anomaly rules read), with its day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from aegis.runtime.bot_trades import BotTrades
from aegis.runtime.daily_ops import DAY_CLOSED
from state.context import OperatingMode
from state.store.base import DurableStore

__all__ = ["ClosedTrade", "PaperRecord", "read_paper_record"]

_ALL = 2**62  # "every entry": the audit log and the closed trades are read whole


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    day: date
    pnl: float  # account currency, fees included


@dataclass(frozen=True, slots=True)
class PaperRecord:
    starting_cash: float
    closing_equity: dict[date, float]  # oldest first
    outcomes: list[str]  # of the paper-mode decisions
    trades: list[ClosedTrade]  # oldest first

    @property
    def days(self) -> int:
        return len(self.closing_equity)

    @property
    def orders(self) -> int:
        return self.outcomes.count("ordered")


async def read_paper_record(store: DurableStore, starting_cash: float) -> PaperRecord:
    equity: dict[date, float] = {}
    for entry in reversed(await store.audit_log(limit=_ALL)):  # oldest first: a day closed twice keeps its last
        if entry["action"] == DAY_CLOSED and isinstance(entry["detail"], dict):
            detail = entry["detail"]
            if "day" in detail and isinstance(detail.get("equity"), int | float):
                equity[date.fromisoformat(str(detail["day"]))] = float(detail["equity"])
    outcomes = [str(d.outcome) for d in await store.decisions() if d.mode != OperatingMode.LIVE]
    book = BotTrades(keep=_ALL)
    book.add(sorted(await store.fills(), key=lambda fill: (fill.time, fill.fill_id)))
    trades = sorted(
        (
            ClosedTrade(datetime.fromtimestamp(trade.time_s, UTC).date(), trade.pnl)
            for closed in book.closed.values()
            for trade in closed
        ),
        key=lambda trade: trade.day,
    )
    return PaperRecord(starting_cash, dict(sorted(equity.items())), outcomes, trades)
