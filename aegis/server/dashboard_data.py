"""The dashboard's own series, read from the durable store (so they cover every worker, not this process):
latency percentiles per stage over the newest decisions, and the account's equity and P&L over time.

Equity over time comes from what the system records already: the daily operations' equity at each reported
day's close (`ops:equity_by_day`) and the bots' day marks (`bot_days`: each bot's P&L to date at each day's
start); the account as it stands now from the account book, valued as the risk guard values it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aegis.runtime.daily_ops import EQUITY_KEY
from aegis.settings import Settings
from state.context_loader import DAY_START_EQUITY_KEY
from state.decisions import DecisionRecord, StageStatus
from state.exposure import book_view
from state.store.base import DurableStore

PERCENTILES = (50.0, 95.0, 99.0)
SESSION = "session"  # the row of whole sessions: the sum of a decision's stages


@dataclass(frozen=True, slots=True)
class StageLatency:
    stage: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _row(stage: str, values: Sequence[float]) -> StageLatency:
    found = np.asarray(values, dtype=float)
    p50, p95, p99 = (float(v) for v in np.percentile(found, PERCENTILES))
    top = float(found.max())
    return StageLatency(stage, int(found.size), round(p50, 2), round(p95, 2), round(p99, 2), round(top, 2))


def stage_latencies(records: Sequence[DecisionRecord]) -> list[StageLatency]:
    """p50/p95/p99 of each stage's latency over `records` (skipped stages left out), stages in the order the
    sessions run them, then the whole sessions' row."""
    by_stage: dict[str, list[float]] = defaultdict(list)
    sessions: list[float] = []
    for record in reversed(records):  # oldest first: the first-seen order is the pipeline's order
        ran = [s for s in record.stages if s.status is not StageStatus.SKIPPED and math.isfinite(s.latency_ms)]
        for stage in ran:
            by_stage[stage.stage].append(stage.latency_ms)
        if ran:
            sessions.append(sum(s.latency_ms for s in ran))
    rows = [_row(stage, values) for stage, values in by_stage.items()]
    return [*rows, _row(SESSION, sessions)] if sessions else rows


async def equity_now(store: DurableStore, settings: Settings) -> dict[str, Any]:
    """The account now: equity, cash, the day's start equity and P&L, holdings' values."""
    account = await store.account_book()
    day_start = await store.get_value(DAY_START_EQUITY_KEY)
    view = book_view(
        account,
        starting_cash=settings.starting_cash,
        day_start_equity=float(day_start[0]) if day_start is not None else None,
        recent_entry_order_types=(),
        fee_buffer_pct=0.0,
    )
    return {
        "equity": _finite(view.equity),
        "cash": _finite(view.cash),
        "day_start_equity": _finite(view.day_start_equity),
        "day_pnl": _finite(view.equity - view.day_start_equity),
        "starting_cash": settings.starting_cash,
        "total_pnl": _finite(view.equity - settings.starting_cash),
        "holdings": {symbol: _finite(value) for symbol, value in sorted(view.values.items())},
        "open_orders": len(account.open_orders),
    }


async def equity_by_day(store: DurableStore) -> list[dict[str, Any]]:
    """The account's equity at each reported day's close, oldest first (empty before the first report)."""
    held = await store.get_value(EQUITY_KEY)
    if held is None or not isinstance(held[0], dict):
        return []
    return [{"day": day, "equity": _finite(float(value))} for day, value in sorted(held[0].items())]


async def bots_pnl_by_day(store: DurableStore) -> list[dict[str, Any]]:
    """The bots' P&L to date at each day's start, summed over the bots and per bot, oldest first."""
    by_day: dict[str, dict[str, float]] = defaultdict(dict)
    for mark in await store.bot_days():
        by_day[mark.day.isoformat()][mark.bot_id] = mark.pnl
    return [
        {"day": day, "pnl": _finite(sum(bots.values())), "bots": {b: _finite(p) for b, p in sorted(bots.items())}}
        for day, bots in sorted(by_day.items())
    ]


def _finite(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None
