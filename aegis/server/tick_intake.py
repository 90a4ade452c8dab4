"""Market ticks posted to a server that runs events inline: applied to the market state, never deliberated.

A MARKET_TICK is not a session. A worker applies the ticks it receives through the pipeline's market feed
(`aegis.runtime.worker`), and `aegis feed` and a replay do the same. A server with no bus runs submitted events
itself, so it does what a worker does: the tick goes through one market feed held for the server's life (broker
fills and brackets, the hot store, the risk monitor, the posture watch, the daily operations). Ticks are applied
one at a time, in the order they arrive. A tick whose bar is not after its symbol's last one is refused (the feed
keeps each symbol's bars in time order) and recorded as a dead letter. The same bar sent twice is taken as a
redelivery and answered as applied, as a worker does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aegis.pipeline import Pipeline
from aegis.runtime.feed import MarketFeed
from state.events import FieldError, MarketTickEvent

__all__ = ["TickIntake"]


@dataclass(slots=True)
class TickIntake:
    pipeline: Pipeline
    _feed: MarketFeed | None = None
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def apply(self, tick: MarketTickEvent, raw: dict[str, Any]) -> str | None:
        """Apply `tick`; None when it is applied (or was already), else why it was refused (a dead letter)."""
        symbol, bar = tick.symbol or "", tick.payload.bar
        async with self._turn:
            if self._feed is None:
                self._feed = self.pipeline.market_feed(reload_orders=True)  # workers may place orders too
            try:
                await self._feed.bar(symbol, bar)
            except ValueError as exc:  # the hot store refuses a bar not after its symbol's last one
                if bar in await self.pipeline.services.hot.bars(symbol):
                    return None  # a redelivery of a tick applied before
                reason = f"tick refused: {exc}"
                store, now = self.pipeline.services.store, self.pipeline.services.clock.now()
                await store.record_rejection(tick.id, raw, [FieldError(field="payload.bar", message=reason)], now)
                return reason
        return None
