"""Bootstrap confidence intervals for eval scores: how sure a score is.

A score over a run's events (an accuracy, a hit rate, a mean return) is one draw of what the same decisions
would score on other events like them. `bootstrap_interval` resamples the events with replacement, `draws`
times from a fixed seed, and takes the percentile interval of the statistic over the resamples. Events of one
day share the day's market: `blocks` (a label per event, e.g. its day) resamples whole blocks instead, so a
day with many correlated events counts as one draw, and the interval is wider when they move together.

Decisions that must not be silently changed:
- Seeded (`numpy.random.default_rng(seed)`): the same inputs give the same interval, byte for byte.
- Percentile interval at `level` (0.95 by default): the (1 - level)/2 and (1 + level)/2 quantiles of the
  resampled statistic (numpy's linear interpolation).
- Fewer than two events (or blocks): no interval (None), never a zero-width one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DRAWS", "SEED", "Interval", "bootstrap_interval", "total"]

DRAWS = 2000
SEED = 20260601

Statistic = Callable[[npt.NDArray[np.float64]], float]


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float
    level: float
    draws: int


def _mean(values: npt.NDArray[np.float64]) -> float:
    return float(values.mean())


def total(values: npt.NDArray[np.float64]) -> float:
    """The sum: the statistic of a P&L made of trades (each resample books the picked trades)."""
    return float(values.sum())


def bootstrap_interval(
    values: Sequence[float],
    *,
    statistic: Statistic = _mean,
    blocks: Sequence[object] | None = None,
    draws: int = DRAWS,
    level: float = 0.95,
    seed: int = SEED,
) -> Interval | None:
    """The percentile bootstrap interval of `statistic` over `values` (one per event); with `blocks` (one label
    per value), whole blocks are resampled. None with fewer than two events or blocks."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    data = np.asarray(values, dtype=np.float64)
    if blocks is not None and len(blocks) != len(data):
        raise ValueError(f"{len(blocks)} block labels for {len(data)} values")
    groups = _groups(blocks, len(data))
    if len(groups) < 2:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(groups), size=(draws, len(groups)))
    samples = np.empty(draws)
    for row, chosen in enumerate(picks):
        samples[row] = statistic(data[np.concatenate([groups[i] for i in chosen])])
    low, high = np.quantile(samples, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(low), float(high), level, draws)


def _groups(blocks: Sequence[object] | None, n: int) -> list[npt.NDArray[np.intp]]:
    if blocks is None:
        return [np.array([i]) for i in range(n)]
    members: dict[object, list[int]] = {}
    for index, label in enumerate(blocks):
        members.setdefault(label, []).append(index)
    return [np.array(indices) for indices in members.values()]
