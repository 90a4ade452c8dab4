"""Whether two runs of one set differ by more than the noise: paired bootstrap intervals of B - A.

Two runs of the same set decide the same events; the difference of a score is noisy because the set's events
are one sample of many. `paired_differences` resamples the set's events (the union of both runs' event ids),
and computes each decision score of both runs on the same resample (one statistic computes both, so the
resample indices are the same for A and B), giving the 95 % interval of B - A.

Decisions that must not be silently changed:
- The decision scores compared: directional accuracy, veto hit rate, execution success, pre-screen share
  (shares: the resampled events' hits over the resampled events the share is of, as `evals.scores` defines
  each) and P&L (the sum of the resampled events' `STAKE * exit_return` over each run's ordered buys).
- Verdict: "larger than the noise" when the interval excludes 0, else "within the noise"; "too few events"
  when there is no interval (fewer than two events, or resamples where a share has no event to be a share of).
- Seeded (`evals.intervals.SEED`) and resampled by event: the same two runs give the same verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evals.controls import STAKE
from evals.intervals import Interval, bootstrap_interval
from evals.scores import is_buy, would_have_lost

__all__ = ["COMPARED", "Difference", "paired_differences"]

FloatArray = npt.NDArray[np.float64]
Decision = Mapping[str, Any]
Label = Mapping[str, Any]

ATTEMPTED = ("ordered", "execution_failed", "blocked")


def _accuracy(d: Decision | None, label: Label | None) -> tuple[float, float]:
    bought = d is not None and label is not None and is_buy(d)
    return float(bought and label is not None and label["forward_return"] > 0), float(bought)


def _veto_hits(d: Decision | None, label: Label | None) -> tuple[float, float]:
    vetoed = d is not None and label is not None and d["outcome"] == "vetoed"
    return float(vetoed and label is not None and would_have_lost(label)), float(vetoed)


def _execution(d: Decision | None, label: Label | None) -> tuple[float, float]:
    attempted = d is not None and d["outcome"] in ATTEMPTED
    return float(attempted and d is not None and d["outcome"] == "ordered"), float(attempted)


def _prescreen(d: Decision | None, label: Label | None) -> tuple[float, float]:
    return float(d is not None and d["outcome"] == "screened_out"), float(d is not None)


def _pnl(d: Decision | None, label: Label | None) -> tuple[float, float]:
    bought = d is not None and label is not None and is_buy(d)
    return (STAKE * float(label["exit_return"]) if bought and label is not None else 0.0), math.nan


# score -> per event (hit, out of): a share is sum(hit) / sum(out of); NaN "out of" means a sum (P&L)
COMPARED: dict[str, Callable[[Decision | None, Label | None], tuple[float, float]]] = {
    "directional_accuracy": _accuracy,
    "veto_hit_rate": _veto_hits,
    "execution_success": _execution,
    "prescreen_share": _prescreen,
    "pnl": _pnl,
}


@dataclass(frozen=True, slots=True)
class Difference:
    """B - A of one score: the point value and its paired 95 % interval."""

    score: str
    a: float | None
    b: float | None
    interval: Interval | None

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def verdict(self) -> str:
        if self.interval is None:
            return "too few events"
        if self.interval.low > 0.0 or self.interval.high < 0.0:
            return "larger than the noise"
        return "within the noise"


@dataclass(frozen=True, slots=True)
class _PairedScore:
    hits_a: FloatArray
    out_of_a: FloatArray
    hits_b: FloatArray
    out_of_b: FloatArray

    def value(self, hits: FloatArray, out_of: FloatArray) -> float:
        if np.isnan(out_of).all():
            return float(hits.sum())
        total = out_of.sum()
        return float(hits.sum() / total) if total > 0 else math.nan

    def __call__(self, picked: FloatArray) -> float:
        rows = picked.astype(np.intp)
        return self.value(self.hits_b[rows], self.out_of_b[rows]) - self.value(self.hits_a[rows], self.out_of_a[rows])


def paired_differences(
    decisions_a: list[dict[str, Any]], decisions_b: list[dict[str, Any]], labels: Mapping[str, Label]
) -> list[Difference]:
    """B - A of each of `COMPARED` with its paired bootstrap interval over the events of both runs."""
    a = {d["event_id"]: d for d in decisions_a}
    b = {d["event_id"]: d for d in decisions_b}
    events = sorted(a.keys() | b.keys())
    picks = [float(i) for i in range(len(events))]
    out: list[Difference] = []
    for name, per_event in COMPARED.items():
        arrays = [
            np.array([per_event(run.get(e), labels.get(e))[part] for e in events], dtype=np.float64)
            for run in (a, b)
            for part in (0, 1)
        ]
        paired = _PairedScore(*arrays)
        value_a, value_b = paired.value(arrays[0], arrays[1]), paired.value(arrays[2], arrays[3])
        interval = bootstrap_interval(picks, statistic=paired)
        if interval is not None and not (math.isfinite(interval.low) and math.isfinite(interval.high)):
            interval = None
        out.append(Difference(name, _known(value_a), _known(value_b), interval))
    return out


def _known(value: float) -> float | None:
    return value if math.isfinite(value) else None
