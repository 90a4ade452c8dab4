"""The session context: all a stateless session knows, loaded once at its start.

A session never reaches back into a store mid-run for more context; whatever it decides, it decides on
this snapshot, whose hash goes into the decision record.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from quant.posture import Posture, PostureParams
from quant.risk_guard import RiskLimits
from state.bots import BotBook
from state.events import Bar
from state.orders import Position
from state.staleness import StaleInput
from state.trading import TradingStates


class OperatingMode(StrEnum):
    """Where orders go. What may go is the trading state's business (`state.trading`)."""

    PAPER = "paper"  # orders go to the paper broker
    LIVE = "live"  # orders go to a real broker adapter


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketSnapshot(_Frozen):
    """Recent bars of the event's symbol (oldest first) and how old the newest one is."""

    symbol: str
    bars: tuple[Bar, ...]
    as_of: datetime
    age_s: float

    @property
    def last(self) -> Bar:
        return self.bars[-1]


class Portfolio(_Frozen):
    cash: float
    equity: float
    day_start_equity: float
    positions: tuple[Position, ...] = ()
    marks: dict[str, float] = Field(default_factory=dict)  # symbol -> last price used for equity

    @property
    def day_pnl(self) -> float:
        return self.equity - self.day_start_equity

    def quantity(self, symbol: str, bot_id: str | None = None) -> float:
        """The quantity held of `symbol` (by `bot_id` only, when given)."""
        return sum(p.quantity for p in self.positions if p.symbol == symbol and bot_id in (None, p.bot_id))

    def holder(self, symbol: str) -> str | None:
        """The bot holding `symbol` (one bot holds a symbol at a time), or None."""
        return next((p.bot_id for p in self.positions if p.symbol == symbol and p.quantity > 0), None)

    def value(self, symbol: str) -> float:
        mark = self.marks.get(symbol)
        return sum(
            p.quantity * (mark if mark is not None else p.avg_price) for p in self.positions if p.symbol == symbol
        )


class RecentDecision(_Frozen):
    event_id: str
    symbol: str | None
    outcome: str
    decided_at: datetime


class SessionContext(_Frozen):
    loaded_at: datetime
    portfolio: Portfolio
    posture: Posture
    posture_params: PostureParams
    posture_reason: str
    vix: float | None
    mode: OperatingMode
    trading: TradingStates
    bots: BotBook = Field(default_factory=BotBook)  # the registered bots (empty: the implicit default bot)
    risk_limits: RiskLimits = Field(default_factory=RiskLimits)  # the limits in force (`tools.ops.limits`)
    consecutive_failures: int = 0
    recent_decisions: tuple[RecentDecision, ...] = ()
    recent_entry_order_types: tuple[str, ...] = ()
    price_mismatches: dict[str, float] = Field(default_factory=dict)  # symbol -> broker vs market, percent
    llm_cost_today_usd: float = 0.0  # what LLM calls have cost so far today, as of the session's start
    market: MarketSnapshot | None = None
    stale_inputs: tuple[StaleInput, ...] = ()  # inputs past their maximum age (`state.staleness`): fail closed
    source: str = "hot"  # which store served the hot context: "hot", or the durable fallbacks and why

    def digest(self) -> str:
        """A stable hash of the snapshot, recorded with the decision."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]
