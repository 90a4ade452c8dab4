"""Applying market data to the running system: what a feed does between events.

A bar reaches the paper broker (which fills earlier orders at this bar's open and checks stops and
targets) and the hot store (the sessions' market snapshot). The VIX sets the posture's input. The first
bar of a new trading day records the day-start equity (the daily-loss limit's base). With a simulated
clock, time moves to each bar's close as it arrives.
"""

from __future__ import annotations

from datetime import date, datetime

from state.clock import Clock, SimulatedClock
from state.context_loader import DAY_START_EQUITY_KEY, VIX_KEY
from state.events import Bar
from state.tiered_hot import TieredHot
from tools.broker.paper import PaperBroker
from tools.feeds.tape import VIX_SYMBOL


class MarketFeed:
    def __init__(self, hot: TieredHot, broker: PaperBroker, clock: Clock, *, reload_orders: bool = False) -> None:
        self._hot = hot
        self._broker = broker
        self._clock = clock
        self._reload_orders = reload_orders  # other processes (workers) place orders: reload them each day
        self._day: date | None = None
        self.fills = 0

    async def advance(self, moment: datetime) -> None:
        """Move a simulated clock to `moment` (never back); a new day records the day-start equity."""
        if isinstance(self._clock, SimulatedClock) and moment > self._clock.now():
            self._clock.set(moment)
        if moment.date() != self._day:
            self._day = moment.date()
            if self._reload_orders:
                await self._broker.load()
            await self._hot.set_value(DAY_START_EQUITY_KEY, self._broker.equity())

    async def bar(self, symbol: str, bar: Bar) -> None:
        await self.advance(bar.time)
        if symbol == VIX_SYMBOL:
            await self.vix(bar.close)
            return
        self.fills += len(await self._broker.on_bar(symbol, bar))
        await self._hot.push_bar(symbol, bar)

    async def vix(self, level: float | None) -> None:
        await self._hot.set_value(VIX_KEY, level)
