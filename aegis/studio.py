"""The graphs that `langgraph dev` (LangGraph Studio) serves, with the embedded defaults.

The deliberation is served on the bundled real market as of its last trading day: the hot store holds
each bundled symbol's last bars and the VIX of that day, and the session clock stands at that day's
close. Submit an event dated that day (see README) to step through a full session (the breaker and the
rebalancing flows take CIRCUIT_BREAKER and REBALANCING_DUE events the same way); records go to
the `studio/` folder of the data folder (`AEGIS_DATA_DIR`, default `data`). The server brings its own
checkpointer, so the graph is built without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from aegis.services import Stack, open_stack
from aegis.settings import Settings
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import DailyPanel, bar_time, load_bundled_daily


def _prepare() -> tuple[DailyPanel, Settings]:
    settings = Settings()
    settings = settings.model_copy(update={"data_dir": settings.data_dir / "studio", "checkpoints": False})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return load_bundled_daily(), settings


@asynccontextmanager
async def _stack_on_bundled_market() -> AsyncIterator[Stack]:
    # The server runs factories on its event loop: file reads happen in a worker thread.
    panel, settings = await asyncio.to_thread(_prepare)
    last = len(panel.dates) - 1
    clock = SimulatedClock(bar_time(panel.dates[last]))
    stack = await open_stack(settings, clock=clock, served=True)  # the server brings the checkpointer
    window = settings.hot_window_bars
    try:
        for symbol in panel.symbols:
            for bar in symbol_bars(panel, symbol, first=max(0, last - window + 1)):
                await stack.services.hot.push_bar(symbol, bar)
        await stack.services.hot.set_value(VIX_KEY, float(panel.vix[last]))
        yield stack
    finally:
        await stack.close()


@asynccontextmanager
async def deliberation(config: Any = None) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    async with _stack_on_bundled_market() as stack:
        yield stack.graph


Factory = Callable[[Any], AbstractAsyncContextManager[CompiledStateGraph[Any, Any, Any, Any]]]


def _flow(name: str) -> Factory:
    """The factory of one operations flow (`graphs.router`), on the same records as the deliberation."""

    @asynccontextmanager
    async def served(config: Any = None) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
        async with _stack_on_bundled_market() as stack:
            yield stack.router.graphs[name]

    return served


breaker = _flow("breaker")  # CIRCUIT_BREAKER events
rebalance = _flow("rebalance")  # REBALANCING_DUE events
bot_status = _flow("bot_status")  # BOT_STATUS events
anomaly = _flow("anomaly")  # ANOMALY_DETECTED events
order_filled = _flow("order_filled")  # ORDER_FILLED events
system_health = _flow("system_health")  # SYSTEM_HEALTH events
economic_release = _flow("economic_release")  # ECONOMIC_RELEASE events
workflow = _flow("workflow")  # OPERATOR_REQUEST events: Sena, Lubit, the approval interrupt, GitCode, RUNE
