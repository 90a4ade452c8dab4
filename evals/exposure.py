"""The eval book's exposure day by day, and buy-and-hold at that exposure.

The eval books each ordered buy with `STAKE` of the starting capital, entered at the open after its event
day and held to its label's exit. On most days the book holds a few such trades: it is a few percent
invested, and its P&L must be compared with a buy-and-hold invested as much (`quant.benchmark_at_exposure`),
not with one that holds the whole capital all the time.

Decisions that must not be silently changed:
- A trade is open from the first calendar day after its label's `day` through its `exit_day`, both
  included: it holds `STAKE` of the starting capital on each of those days (the exit day too: the trade is
  in the market until its stop, target or the horizon's close hits that day).
- The calendar is the set's price calendar (the manifest's dates); the average exposure is the mean over all
  of its days, flat days included.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from evals.controls import STAKE

__all__ = ["book_exposure"]


def book_exposure(
    dates: Sequence[str], trades: Sequence[Mapping[str, Any]], *, stake: float = STAKE
) -> npt.NDArray[np.float64]:
    """The fraction of the starting capital in open trades on each of `dates` (ISO days, ascending), for
    `trades` (label lines: `day`, `exit_day`)."""
    open_stakes = np.zeros(len(dates) + 1)
    for label in trades:
        first = bisect_right(dates, str(label["day"]))  # the first calendar day after the event's
        last = bisect_right(dates, str(label["exit_day"]))  # one past the exit day
        if first < last:
            open_stakes[first] += stake
            open_stakes[last] -= stake
    exposure = np.cumsum(open_stakes)[: len(dates)]
    exposure[np.abs(exposure) < 1e-12] = 0.0  # the running sum's rounding, on flat days
    return np.asarray(exposure, dtype=np.float64)
