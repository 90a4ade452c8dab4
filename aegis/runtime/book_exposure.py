"""The run's book exposure day by day, from its recorded fills, and buy-and-hold at that exposure.

`aegis run` compares its P&L with an equal-weight buy-and-hold of the basket. That basket is 100 % invested
all the time; the book rarely holds more than a few percent of its capital. This module rebuilds, from the
fills the records hold (so a resumed run gives the numbers of the same run made in one go), what the book held
each day, and scales the basket's daily returns by it (`quant.benchmark_at_exposure`).

Decisions that must not be silently changed:
- A day's exposure is the gross market value, at the day's close, of the largest quantity of each symbol the
  book held during the day (the position after each of the day's fills, the one brought from the day before
  included), over the starting capital: a position bought at the open and stopped out at noon was invested
  that day. A missing close is the symbol's last earlier close.
- A fill belongs to the trading day of its time (UTC date: the paper broker stamps fills with the bar's time,
  the US close).
- The basket's first return is from the first decided day's open (as `benchmark_return`), the days before it
  (the warm-up) are not counted in the average.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from quant.benchmark_at_exposure import benchmark_at_exposure
from state.orders import Fill, Side
from tools.feeds.bundled import DailyPanel

__all__ = ["ExposureComparison", "compare_at_exposure", "daily_exposure"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ExposureComparison:
    average_exposure: float  # fraction of the starting capital, mean over the decided days
    benchmark_return: float  # the basket at the book's exposure of each day, fraction


def daily_exposure(fills: Sequence[Fill], panel: DailyPanel, first: int, last: int, capital: float) -> FloatArray:
    """The book's gross exposure (fraction of `capital`) on each of the panel's rows `first`..`last`."""
    by_day: dict[date, list[Fill]] = defaultdict(list)
    for fill in sorted(fills, key=lambda f: f.time):
        by_day[fill.time.date()].append(fill)
    column = {symbol: c for c, symbol in enumerate(panel.symbols)}
    held = np.zeros(len(panel.symbols))
    closes = np.full(len(panel.symbols), np.nan)
    exposure = np.zeros(max(last - first + 1, 0))
    for t in range(last + 1):
        today = panel.close[t]
        closes = np.where(np.isfinite(today), today, closes)
        peak = np.abs(held)
        for fill in by_day.get(panel.dates[t], []):
            c = column[fill.symbol]
            held[c] += fill.quantity if fill.side == Side.BUY else -fill.quantity
            peak[c] = max(peak[c], abs(held[c]))
        if t >= first:
            exposure[t - first] = float(np.nansum(peak * np.nan_to_num(closes))) / capital
    return exposure


def compare_at_exposure(
    fills: Sequence[Fill], panel: DailyPanel, first: int, last: int, capital: float
) -> ExposureComparison | None:
    """The book's average exposure over rows `first`..`last` and the basket's return at it (from the open of
    row `first`, as the run's 100 % benchmark); None before the first decided day."""
    if last < first:
        return None
    exposure = daily_exposure(fills, panel, first, last, capital)
    basket = np.nanmean(panel.close[first : last + 1] / panel.open[first], axis=1)
    curve = benchmark_at_exposure(np.concatenate([[1.0], basket]), np.concatenate([[0.0], exposure]))
    return ExposureComparison(float(exposure.mean()), float(curve[-1] - 1.0))
