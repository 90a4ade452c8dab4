"""The bots' daily-loss check: each bot's P&L since the day's start against its sleeve, and the verdict.

This module owns measuring each bot's day from its day-start mark (`state.bots.BotDay`) and what it holds
now (its cash flows from fills, its positions at their marks), and handing the numbers to
`quant.circuit_breaker.check_daily_loss`. It decides; stopping the bots is the circuit-breaker flow's job
(`graphs/breaker`), through `tools.ops.bots.BotControl`.

Decisions that must not be silently changed:
- A bot's P&L is its cash flows (sells less buys, fees included) plus its positions at their marks:
  realised and unrealised, since it began. Its day's P&L is that less the day-start mark's.
- Scope `bots` (default) stops a bot whose own sleeve lost 10 % of its day-start value; scope `all` stops
  every bot when the sum lost 10 % of the sum. Only running bots are checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from quant.circuit_breaker import BreakerDecision, BreakerScope, BreakerSettings, check_daily_loss
from state.bots import Bot, BotDay
from state.orders import Fill, Position, Side


class BreakerConfig(BaseModel):
    """The bots' circuit breaker (`Settings.breaker`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily_loss_limit_pct: float = Field(10.0, gt=0, description="A bot's loss in % of its day-start sleeve")
    scope: BreakerScope = Field(BreakerScope.BOTS, description="bots: only the losers stop; all: every bot")
    resume: str = Field(
        "operator", pattern="^(operator|next_day)$", description="Who lifts the stop: an operator, or the next day"
    )


@dataclass(slots=True)
class BotLedger:
    """Each bot's cash flows from its fills (sells less buys, fees included), kept as fills arrive."""

    flows: dict[str, float] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def add(self, fills: Iterable[Fill]) -> None:
        for fill in fills:
            if fill.fill_id in self.seen:
                continue
            self.seen.add(fill.fill_id)
            notional = fill.quantity * fill.price
            flow = notional - fill.fee if fill.side is Side.SELL else -notional - fill.fee
            self.flows[fill.bot_id] = self.flows.get(fill.bot_id, 0.0) + flow

    def pnl(self, bot_id: str, positions: Iterable[Position], marks: Mapping[str, float]) -> float:
        """The bot's P&L since it began: its cash flows plus its positions at their marks."""
        held = sum(p.quantity * marks.get(p.symbol, p.avg_price) for p in positions if p.bot_id == bot_id)
        return self.flows.get(bot_id, 0.0) + held


def day_marks(
    day: date,
    bots: Sequence[Bot],
    ledger: BotLedger,
    positions: Iterable[Position],
    marks: Mapping[str, float],
    equity: float,
) -> list[BotDay]:
    """Each bot's mark at the start of `day`, `equity` being the account's then."""
    held = list(positions)
    return [
        BotDay(
            bot_id=bot.bot_id,
            day=day,
            pnl=ledger.pnl(bot.bot_id, held, marks),
            sleeve=bot.allocation * equity,
            allocation=bot.allocation,
        )
        for bot in bots
    ]


def check_bots(
    bots: Sequence[Bot],
    day_start: Mapping[str, BotDay],
    ledger: BotLedger,
    positions: Iterable[Position],
    marks: Mapping[str, float],
    config: BreakerConfig,
) -> BreakerDecision:
    """The breaker's verdict on the running bots that have a mark for today (the others are not measured
    yet: they were registered during the day)."""
    held = list(positions)
    measured = [bot for bot in bots if bot.running and bot.bot_id in day_start]
    sleeves = [day_start[bot.bot_id].sleeve for bot in measured]
    pnl = [ledger.pnl(bot.bot_id, held, marks) - day_start[bot.bot_id].pnl for bot in measured]
    settings = BreakerSettings(daily_loss_limit_pct=config.daily_loss_limit_pct, scope=config.scope)
    return check_daily_loss([bot.bot_id for bot in measured], sleeves, pnl, settings)
