"""The no-edge control: what the same number of trades, sized the same, scores with random directions.

A run's score means something only next to what chance scores on the same events. The control draws, `draws`
times from a fixed seed, as many trades as the run made from the set's labelled events (without replacement,
each event at most once per draw), gives each a random direction (long or short, even odds) and books it
with the run's sizing (`STAKE` of the starting capital per trade). Computed from the labels alone, never by
replaying sessions: a thousand draws take milliseconds.

Decisions that must not be silently changed:
- A long books the label's `exit_return` (the offensive posture's stop and target, as the run's buys are
  scored). A short closes when the long's bracket would have (its target at the long's stop, its stop at the
  long's target, else the horizon's close) and books `-exit_return`: the labels carry one bracket, and the
  mirrored one makes the two directions' expectations cancel, so chance is centred on zero, not on the
  difference between a bracketed exit and a plain hold.
- Directional accuracy of a draw: the share of its trades whose direction matched the sign of the forward
  return (a long right when it rose, a short right when it fell).
- Seeded (`numpy.random.default_rng(seed)`): the same labels and trade count give the same draws, byte for byte.
- At least `MIN_DRAWS` draws (the issue's floor; fewer make a ragged percentile).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evals.intervals import Interval

__all__ = ["CONTROL_DRAWS", "CONTROL_SEED", "MIN_DRAWS", "STAKE", "ControlDraws", "NoEdgeControl", "no_edge_control"]

CONTROL_DRAWS = 1000
CONTROL_SEED = 20260602
MIN_DRAWS = 200
STAKE = 0.025  # fraction of starting capital per trade: the offensive posture's entry size (the scores' too)


@dataclass(frozen=True, slots=True)
class ControlDraws:
    """One statistic over the control's draws."""

    values: npt.NDArray[np.float64]

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    def interval(self, level: float = 0.95) -> Interval:
        """The central `level` share of the draws (where chance lands)."""
        low, high = np.quantile(self.values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
        return Interval(float(low), float(high), level, len(self.values))

    def share_at_least(self, value: float) -> float:
        """The share of draws that scored `value` or better: a one-sided p-value of the run against chance."""
        return float(np.mean(self.values >= value - 1e-12))


@dataclass(frozen=True, slots=True)
class NoEdgeControl:
    """The control's P&L (a fraction of the starting capital) and directional accuracy per draw."""

    trades: int
    events: int
    seed: int
    pnl: ControlDraws
    directional_accuracy: ControlDraws | None  # None when the run made no trade


def no_edge_control(
    labels: Sequence[Mapping[str, Any]],
    trades: int,
    *,
    stake: float = STAKE,
    draws: int = CONTROL_DRAWS,
    seed: int = CONTROL_SEED,
) -> NoEdgeControl:
    """`draws` random-direction books of `trades` trades each, drawn from `labels` (a set's label lines)."""
    if draws < MIN_DRAWS:
        raise ValueError(f"the control needs at least {MIN_DRAWS} draws, got {draws}")
    if trades < 0:
        raise ValueError(f"trades must be >= 0, got {trades}")
    if trades > len(labels):
        raise ValueError(f"{trades} trades cannot be drawn from {len(labels)} labelled events")
    exits = np.array([float(label["exit_return"]) for label in labels], dtype=np.float64)
    forward = np.array([float(label["forward_return"]) for label in labels], dtype=np.float64)
    rng = np.random.default_rng(seed)
    pnl = np.zeros(draws)
    accuracy = np.zeros(draws)
    for row in range(draws):
        picked = rng.choice(len(labels), size=trades, replace=False)
        long = rng.random(trades) < 0.5
        booked = np.where(long, exits[picked], -exits[picked])
        pnl[row] = stake * float(booked.sum())
        if trades:
            right = np.where(long, forward[picked] > 0, forward[picked] < 0)
            accuracy[row] = float(right.mean())
    return NoEdgeControl(
        trades=trades,
        events=len(labels),
        seed=seed,
        pnl=ControlDraws(pnl),
        directional_accuracy=ControlDraws(accuracy) if trades else None,
    )
