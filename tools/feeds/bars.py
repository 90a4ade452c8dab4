"""Turning panel cells into validated `Bar` events' bars."""

from __future__ import annotations

import math

from state.events import Bar
from tools.feeds.bundled import DailyPanel, bar_time


def panel_bar(panel: DailyPanel, row: int, column: int) -> Bar | None:
    """The bar of one symbol on one day, or None where the panel has no (finite) prices for it. A cell with
    prices but no volume (closes-only data) gets volume 0: unknown, which the volume rules skip."""
    prices = (
        float(panel.open[row, column]),
        float(panel.high[row, column]),
        float(panel.low[row, column]),
        float(panel.close[row, column]),
    )
    if not all(math.isfinite(v) for v in prices):
        return None
    o, h, lo, c = prices
    volume = float(panel.volume[row, column])
    v = volume if math.isfinite(volume) else 0.0
    return Bar(time=bar_time(panel.dates[row]), open=o, high=h, low=lo, close=c, volume=v)


def symbol_bars(panel: DailyPanel, symbol: str, first: int = 0, last: int | None = None) -> list[Bar]:
    """The bars of `symbol` for rows first..last (inclusive), skipping days without data."""
    column = panel.symbols.index(symbol)
    stop = len(panel.dates) - 1 if last is None else last
    return [bar for row in range(first, stop + 1) if (bar := panel_bar(panel, row, column)) is not None]
