"""Assembling the operator workflow's services: the tool registry bound to this stack's controls, the approvals
desk, the vocabulary Sena plans in, RUNE's market-integrity scan and the workflow's durable checkpointer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from aegis.runtime.backtest_job import STRATEGIES
from aegis.runtime.workflow_tools.analysis import AnalysisTools
from graphs.deliberation.config import DeliberationConfig
from graphs.order_views import order_views
from graphs.workflow.services import IntegrityScan
from quant.market_integrity import scan
from state.clock import Clock
from state.orders import Order
from state.store.base import DurableStore
from tools.feeds.bundled import load_bundled_daily


class Vocabulary:
    """The names Sena may use in a plan: the symbols with data, the backtest strategies, the eval sets."""

    def __init__(self, store: DurableStore, analysis: AnalysisTools) -> None:
        self._store, self._analysis = store, analysis
        self._bundled: Sequence[str] | None = None

    async def __call__(self) -> dict[str, list[str]]:
        if self._bundled is None:
            self._bundled = tuple((await asyncio.to_thread(load_bundled_daily)).symbols)
        marked = await self._store.marks()
        return {
            "symbols": sorted({*self._bundled, *marked}),
            "strategies": sorted(STRATEGIES),
            "eval_sets": await asyncio.to_thread(self._analysis.eval_sets),
        }


def integrity_scan(store: DurableStore, clock: Clock, config: DeliberationConfig) -> IntegrityScan:
    """RUNE's market check of a workflow run: the orders it placed or cancelled, with the account's recent orders,
    scanned for the wash-trade, layering and spoofing patterns (`quant.market_integrity`); a pattern counts only
    when one of the run's orders is in it. A symbol with no mark is judged at its orders' own prices."""

    async def scan_run(orders: Sequence[Order]) -> list[str]:
        if not orders:
            return []
        limits = config.integrity.limits
        since = clock.now() - timedelta(seconds=max(limits.wash_window_s, limits.lookback_s))
        views = order_views([*await store.orders_since(since), *orders], await store.fills())
        prices = {symbol: price for symbol, (price, _) in (await store.marks()).items()}
        for view in views:
            prices.setdefault(view.symbol, view.fill_price or view.limit_price or 0.0)
        held = {p.symbol for p in await store.positions() if p.quantity > 0}
        reductions = {v.order_id for v in views if v.side == "sell" and v.symbol in held}
        touched = {order.order_id for order in orders}
        found = scan(views, {s: p for s, p in prices.items() if p > 0}, limits, reductions)
        return [f"{f.pattern}: {f.reason}" for f in found if touched & set(f.order_ids)]

    return scan_run
