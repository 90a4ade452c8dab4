"""How sure each eval score is: its 95 % bootstrap interval by event and by day (`evals.intervals`).

Each score over events gets two intervals, both seeded (`evals.intervals.SEED`): one resampling the events
it is computed over one by one, one resampling whole days (the label's `day`: events of one day share the
day's market and count as one draw).

Decisions that must not be silently changed:
- A share (directional accuracy, veto hit rate, execution success, pre-screen share) resamples the events it
  is a share of: the ordered buys, the vetoed events, the attempted orders, all decisions.
- P&L is the sum of the trades' `STAKE * exit_return`: the trades are resampled, the statistic is their sum.
- Sharpe and max drawdown resample the trades too, each keeping its exit day, and rebuild the daily equity
  curve from the resampled book (`BookStatistic`). Resampling the days of the daily P&L instead would
  shuffle the path's order, and a drawdown of a shuffled path is not the book's; a resampled book keeps the
  calendar, so its drawdown and Sharpe are those of a book of trades like the run's on the same days.
- An interval whose bounds are not finite (a resample with no trade has no Sharpe) is no interval: None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evals.intervals import Interval, Statistic, bootstrap_interval

__all__ = ["BookStatistic", "interval_pair"]


def interval_pair(
    values: Sequence[float], days: Sequence[object], statistic: Statistic | None = None
) -> tuple[Interval | None, Interval | None]:
    """The 95 % interval of `statistic` (the mean by default) over `values`, by event and by day blocks."""
    if statistic is None:
        by_event = bootstrap_interval(values)
        by_day = bootstrap_interval(values, blocks=days)
    else:
        by_event = bootstrap_interval(values, statistic=statistic)
        by_day = bootstrap_interval(values, statistic=statistic, blocks=days)
    return _finite(by_event), _finite(by_day)


@dataclass(frozen=True, slots=True)
class BookStatistic:
    """A statistic of the daily equity curve (start = 1.0) of a resampled book. Called with trade indices
    (as floats: the bootstrap's values are `range(len(trades))`), it books each picked trade's P&L on its
    exit day and applies `metric` to the curve."""

    exit_rows: npt.NDArray[np.intp]  # each trade's exit day, as a row of the calendar
    pnl: npt.NDArray[np.float64]  # each trade's P&L, a fraction of the starting capital
    days: int
    metric: Callable[[npt.NDArray[np.float64]], float]

    def __call__(self, picked: npt.NDArray[np.float64]) -> float:
        rows = picked.astype(np.intp)
        booked = np.bincount(self.exit_rows[rows], weights=self.pnl[rows], minlength=self.days)
        value = self.metric(np.asarray(1.0 + np.cumsum(booked), dtype=np.float64))
        return value if math.isfinite(value) else math.nan


def _finite(interval: Interval | None) -> Interval | None:
    if interval is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return None
    return interval
