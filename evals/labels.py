"""Event labels computed only from the bars strictly after the event: the no-look-ahead guard of the eval sets.

A label says what happened after an event at bar ``t``: the forward return of a long taken at the next
open and held ``horizon`` bars, and whether that long, with the offensive posture's stop (-1.5 %) and
target (+3 %), hit its stop before its target.

Decisions that must not be silently changed:
- Labelling code never receives the full series: it gets a `FutureView`, which raises `LookAheadError`
  on any read of an index <= t (the event's own bar included). The entry is the open of bar t + 1.
- An event without ``horizon`` full bars after it is not labelled (`IncompleteFutureError`); the builder
  drops it rather than label it with less data.
- When one bar touches both the stop and the target, the stop counts (the daily bar does not say which came
  first; assuming the worse keeps the label honest).

Returns are fractions (0.03 = 3 %). Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DEFAULT_HORIZON = 5  # bars
DEFAULT_STOP = 0.015  # the offensive posture's stop distance, as a fraction of the entry
DEFAULT_TARGET = 0.03  # the offensive posture's target distance


class LabelError(Exception):
    """Base of the errors raised while labelling events."""


class LookAheadError(LabelError):
    """A labelling function tried to read data at or before the event's own bar."""


class IncompleteFutureError(LabelError):
    """The series ends before the label's horizon: the event cannot be labelled."""


class FutureView:
    """Read access to a 1-D series restricted to the indices strictly after the event index ``t``."""

    def __init__(self, series: npt.ArrayLike, t: int) -> None:
        self._series = np.asarray(series, dtype=np.float64)
        self._t = t

    @property
    def event_index(self) -> int:
        return self._t

    def __len__(self) -> int:
        return len(self._series)

    def at(self, index: int) -> float:
        """The value at ``index``; raises `LookAheadError` for index <= t, `IncompleteFutureError` past the end."""
        if index <= self._t:
            raise LookAheadError(f"label of bar {self._t} tried to read bar {index}: only later bars are allowed")
        if index >= len(self._series):
            raise IncompleteFutureError(f"label of bar {self._t} needs bar {index}; the series ends at {len(self) - 1}")
        value = float(self._series[index])
        if not math.isfinite(value):
            raise IncompleteFutureError(f"label of bar {self._t} needs bar {index}, which has no data")
        return value


@dataclass(frozen=True, slots=True)
class BarsAfter:
    """The OHLC of one symbol as seen from an event: only bars after the event are readable."""

    open: FutureView
    high: FutureView
    low: FutureView
    close: FutureView

    @classmethod
    def of(
        cls, open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, t: int
    ) -> BarsAfter:
        return cls(FutureView(open_, t), FutureView(high, t), FutureView(low, t), FutureView(close, t))


@dataclass(frozen=True, slots=True)
class TradeLabel:
    """What a long entered at the next open would have done. Fractions; bar offsets count from the event."""

    forward_return: float  # close of bar t + horizon over the open of bar t + 1, minus 1
    barrier: str  # "stop" | "target" | "timeout"
    exit_offset: int  # bars after the event at which the trade ends (1..horizon)
    exit_return: float  # -stop, +target, or the forward return on timeout

    def to_json(self) -> dict[str, object]:
        return {k: (round(v, 10) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def label_long(
    bars: BarsAfter, horizon: int = DEFAULT_HORIZON, stop: float = DEFAULT_STOP, target: float = DEFAULT_TARGET
) -> TradeLabel:
    """Label a long taken at the open after the event, from bars t + 1 .. t + horizon only."""
    if horizon < 1 or stop <= 0 or target <= 0:
        raise ValueError(f"need horizon >= 1 and positive stop and target, got {horizon}, {stop}, {target}")
    t = bars.open.event_index
    entry = bars.open.at(t + 1)
    forward = bars.close.at(t + horizon) / entry - 1.0
    stop_price, target_price = entry * (1.0 - stop), entry * (1.0 + target)
    for offset in range(1, horizon + 1):
        if bars.low.at(t + offset) <= stop_price:
            return TradeLabel(forward, "stop", offset, -stop)
        if bars.high.at(t + offset) >= target_price:
            return TradeLabel(forward, "target", offset, target)
    return TradeLabel(forward, "timeout", horizon, forward)


def basket_forward_return(closes_after: list[FutureView], opens_after: list[FutureView], horizon: int) -> float:
    """Mean forward return (next open to close of bar t + horizon) of the symbols that have the data."""
    returns: list[float] = []
    for opens, closes in zip(opens_after, closes_after, strict=True):
        t = opens.event_index
        try:
            returns.append(closes.at(t + horizon) / opens.at(t + 1) - 1.0)
        except IncompleteFutureError:
            continue
    if not returns:
        raise IncompleteFutureError("no symbol has the bars after this event")
    return float(np.mean(returns))
