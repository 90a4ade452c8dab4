"""Buy-and-hold at a book's exposure: what the benchmark would have made invested as much as the book was.

A book that holds at most a few percent of its capital cannot be judged against a benchmark that is 100 %
invested: the benchmark's return is mostly the market's drift on capital the book never put at risk. This
module scales the benchmark's day-by-day returns by the book's exposure of each day, so the comparison is like
for like.

Decisions that must not be silently changed:
- Per-day exposure, not the average: on day ``t`` the matched benchmark earns ``exposure[t] * r[t]``, where
  ``r[t] = benchmark[t] / benchmark[t - 1] - 1``; a book invested only in a rally is compared with the rally,
  not with the whole window. ``exposure[0]`` earns nothing (no return leads into the first point).
- Additive on the starting capital, as the eval's P&L is booked (each trade stakes a fixed fraction of the
  starting capital): the matched curve is ``1 + cumsum(exposure * r)``, not compounded.
- Exposure is a fraction of the starting capital (0.05 = 5 % invested), gross (longs and shorts both count).

Pure: arrays in, arrays out; imports nothing from the rest of the project.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["benchmark_at_exposure"]

FloatArray = npt.NDArray[np.float64]


def benchmark_at_exposure(benchmark: npt.ArrayLike, exposure: npt.ArrayLike) -> FloatArray:
    """The equity curve (start = 1.0) of `benchmark` (an equity curve, any start) invested at `exposure`
    (one fraction per point of the curve). NaN returns (a day without prices) earn nothing."""
    curve = np.asarray(benchmark, dtype=np.float64)
    weights = np.asarray(exposure, dtype=np.float64)
    if curve.ndim != 1 or weights.shape != curve.shape:
        raise ValueError(f"a benchmark of shape {curve.shape} needs one exposure per point, got {weights.shape}")
    if len(curve) == 0:
        return np.zeros(0)
    returns = np.zeros(len(curve))
    with np.errstate(invalid="ignore", divide="ignore"):
        returns[1:] = curve[1:] / curve[:-1] - 1.0
    returns[~np.isfinite(returns)] = 0.0
    return np.asarray(1.0 + np.cumsum(weights * returns), dtype=np.float64)
