"""Each bot's scorecard as the records hold it: allocation, state, P&L, Sharpe, drawdown.

This module owns the per-bot table of the run's summary, `aegis bots list` and the live view. Figures:
P&L is realised plus unrealised since the bot began, fees included (`tools.ops.breaker.BotLedger`); the
return, Sharpe ratio (risk-free 0, annualised from daily returns) and maximum drawdown are those of the
bot's daily returns on its sleeve (`tools.ops.allocation.bot_returns`), so a re-allocation is not a return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from quant.portfolio import asset_performance
from state.store.base import DurableStore
from tools.ops.allocation import FloatArray, bot_returns
from tools.ops.breaker import BotLedger


@dataclass(frozen=True, slots=True)
class BotRow:
    bot_id: str
    strategy: str
    allocation: float  # fraction of equity
    state: str
    why: str  # who set the state and why
    pnl: float  # account currency
    positions: int
    days: int  # daily returns measured
    total_return: float  # compounded daily returns on the sleeve; NaN without history
    sharpe: float  # NaN without history or risk
    max_drawdown: float  # <= 0; NaN without history


async def bot_rows(store: DurableStore) -> list[BotRow]:
    """The registered bots' rows, in registration order (none when no bot is registered)."""
    bots = await store.bots()
    if not bots:
        return []
    ledger = BotLedger()
    ledger.add(await store.fills())
    positions = await store.positions()
    marks = {symbol: price for symbol, (price, _) in (await store.marks()).items()}
    history = bot_returns(await store.bot_days(), [bot.bot_id for bot in bots])
    figures = _figures(history.growth()) if len(history.days) >= 2 else None
    return [
        BotRow(
            bot_id=bot.bot_id,
            strategy=bot.strategy,
            allocation=bot.allocation,
            state=str(bot.state),
            why=f"{bot.reason} ({bot.actor})",
            pnl=ledger.pnl(bot.bot_id, positions, marks),
            positions=sum(1 for p in positions if p.bot_id == bot.bot_id),
            days=len(history.days),
            total_return=figures[0][i] if figures else math.nan,
            sharpe=figures[1][i] if figures else math.nan,
            max_drawdown=figures[2][i] if figures else math.nan,
        )
        for i, bot in enumerate(bots)
    ]


def _figures(growth: FloatArray) -> tuple[list[float], list[float], list[float]]:
    """(total return, Sharpe, maximum drawdown) of each column of a growth panel."""
    scorecard = asset_performance(growth, risk_free_rate=0.0)
    return scorecard.roi.tolist(), scorecard.sharpe.tolist(), scorecard.max_drawdown.tolist()


def table_lines(rows: Sequence[BotRow], indent: str = "    ") -> list[str]:
    """The rows as aligned text lines (the run summary, `aegis bots list`)."""
    out = [f"{indent}{'bot':<16} {'alloc':>6} {'state':<8} {'P&L':>10} {'return':>8} {'Sharpe':>7} {'max DD':>7} pos"]
    for row in rows:
        out.append(
            f"{indent}{row.bot_id:<16} {row.allocation:>6.1%} {row.state:<8} {row.pnl:>+10,.2f} "
            f"{percent(row.total_return):>8} {number(row.sharpe):>7} {percent(row.max_drawdown):>7} {row.positions}"
        )
    return out


def percent(value: float) -> str:
    return f"{value:+.2%}" if math.isfinite(value) else "n/a"


def number(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "n/a"
