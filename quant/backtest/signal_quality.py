"""How good a long-entry signal is on its own, before any sizing, guard or fill rule.

This module owns the signal-quality score:

- **density**: the share of evaluable cells (bar, symbol) on which the signal fires. A cell is evaluable
  when the signal is defined there (0.0 or 1.0, not NaN: the symbol has a bar and its indicators are warm).
  Healthy between 5 % and 15 % (``HEALTHY_DENSITY``): sparser signals are too few to learn anything from,
  denser ones are barely a filter.
- **hit rate** over a forward horizon of ``horizon`` bars: the share of signals whose close ``horizon`` bars
  later is above the close of the signal bar. It uses only bars after the signal; signals without a close
  ``horizon`` bars later (the end of the data, or no bar there) are not evaluated. The same statistic over
  every evaluable cell is the **base hit rate**: a signal is informative only if it beats that.
- the **mean forward return** of the evaluated signals, a fraction.

All fractions (0.05 = 5 %). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

HEALTHY_DENSITY = (0.05, 0.15)  # fractions of evaluable cells


@dataclass(frozen=True, slots=True)
class SignalQuality:
    """Density and forward hit rate of a long signal; fractions, NaN where undefined (no cells, no signals)."""

    evaluable: int  # cells where the signal is defined
    signals: int  # cells where it fires
    density: float
    healthy: bool  # HEALTHY_DENSITY[0] <= density <= HEALTHY_DENSITY[1]
    horizon: int  # bars
    evaluated: int  # signals with a close `horizon` bars later
    hit_rate: float
    base_hit_rate: float
    mean_forward_return: float

    def describe(self) -> str:
        """One line for logs and assertion messages."""
        verdict = "healthy" if self.healthy else "outside 5-15 %"
        return (
            f"density {self.density:.2%} ({self.signals} of {self.evaluable} cells, {verdict}); "
            f"{self.horizon}-bar hit rate {self.hit_rate:.1%} vs base {self.base_hit_rate:.1%} "
            f"over {self.evaluated} signals; mean forward return {self.mean_forward_return:+.2%}"
        )


def signal_quality(signal: npt.ArrayLike, close: npt.ArrayLike, horizon: int = 5) -> SignalQuality:
    """Score ``signal`` (1.0 fires, 0.0 not, NaN undefined) against ``close``, both ``(time,)`` or ``(time, symbols)``.

    Raises ``ValueError`` on mismatched shapes, a horizon below 1, or signal values other than 0, 1 and NaN.
    """
    s = np.asarray(signal, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    if s.shape != c.shape or s.ndim not in (1, 2):
        raise ValueError(f"signal and close must share a 1-D or 2-D shape, got {s.shape} and {c.shape}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 bar, got {horizon}")
    evaluable = np.isfinite(s)
    if not np.isin(s[evaluable], (0.0, 1.0)).all():
        raise ValueError("signal values must be 1.0 (fires), 0.0 (does not) or NaN (undefined)")
    fires = evaluable & (s == 1.0)

    forward = np.full(c.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        forward[:-horizon] = c[horizon:] / c[:-horizon] - 1.0
    known = np.isfinite(forward)
    evaluated = fires & known
    base = evaluable & known

    n_evaluable, n_signals = int(evaluable.sum()), int(fires.sum())
    density = n_signals / n_evaluable if n_evaluable else math.nan
    low, high = HEALTHY_DENSITY
    return SignalQuality(
        evaluable=n_evaluable,
        signals=n_signals,
        density=density,
        healthy=bool(low <= density <= high),
        horizon=horizon,
        evaluated=int(evaluated.sum()),
        hit_rate=_mean(forward[evaluated] > 0),
        base_hit_rate=_mean(forward[base] > 0),
        mean_forward_return=_mean(forward[evaluated]),
    )


def _mean(values: npt.NDArray[np.bool_] | FloatArray) -> float:
    return float(np.mean(values)) if values.size else math.nan
