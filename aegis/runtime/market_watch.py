"""The market anomaly rules on each bar as it arrives: a one-symbol, few-bar view for `quant.anomalies`.

This module owns the history the market rules need per symbol (the last `volume_window_bars + 1` bars'
times, closes and volumes) and which thresholds apply to a bar. The source's rules were written for minute
bars (5 % in one minute); a feed of daily bars gets a threshold meant for a day (`daily_move_at_least_pct`)
compared over at most `daily_gap_s` (a long weekend). A bar's thresholds follow the gap to the symbol's
previous bar: at most `minute_window_s`, the minute rule; more, the daily one. Volume spikes compare with
the mean of the previous `volume_window_bars` bars whatever their length. Only the new bar's findings are
returned (earlier bars were judged when they arrived).

A bar is judged incrementally: the new close against the previous one, the new volume against the sum of the
previous bars' volumes (a few float operations, no arrays). Only when that cheap test says a rule may fire
(with a margin far wider than any rounding) are the rules' own scans (`quant.anomalies`) run over the
symbol's short history, and their findings returned: what fires, its severity and its evidence are exactly
the scans' (a feed of thousands of quiet bars a second pays the scans only on the rare bar that fires).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from quant.anomalies import Finding, Ladder, MarketThresholds, Severity, scan_price_moves, scan_volume_spikes
from state.events import Bar

DAY_S = 86_400.0
MAY_FIRE_MARGIN = 1e-9  # relative slack of the cheap test: far wider than the rounding of 20 summed volumes


class MarketWatchConfig(BaseModel):
    """When a bar is a market anomaly (`Settings.anomalies.market`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    move_at_least_pct: float = Field(5.0, gt=0, description="A move within one minute-bar gap (the source's 5 %)")
    minute_window_s: float = Field(60.0, gt=0, description="Bars at most this far apart are minute bars")
    daily_move_at_least_pct: float = Field(8.0, gt=0, description="A close-to-close move between daily bars")
    daily_gap_s: float = Field(4 * DAY_S, gt=0, description="Daily bars further apart are not compared")
    volume_at_least_multiple: float = Field(10.0, gt=1, description="Volume against the previous bars' mean")
    volume_window_bars: int = Field(20, ge=2, description="Bars in the volume's mean")

    def thresholds(self, gap_s: float) -> MarketThresholds:
        """The thresholds for a bar `gap_s` after its symbol's previous one."""
        if gap_s <= self.minute_window_s:
            move, window = self.move_at_least_pct, self.minute_window_s
        else:
            move, window = self.daily_move_at_least_pct, self.daily_gap_s
        return MarketThresholds(
            move_at_least_pct=move,
            move_window_s=window,
            move_severity=Ladder(Severity.HIGH, ((2.0 * move, Severity.CRITICAL),)),
            volume_at_least_multiple=self.volume_at_least_multiple,
            volume_window_bars=self.volume_window_bars,
        )


@dataclass(slots=True)
class _History:
    times: deque[float]
    closes: deque[float]
    volumes: deque[float]
    zero_volumes: int = 0  # bars of `volumes` with no volume (a volume rule on the window is skipped)


@dataclass(slots=True)
class MarketWatch:
    config: MarketWatchConfig = field(default_factory=MarketWatchConfig)
    _symbols: dict[str, _History] = field(default_factory=dict)
    _minute: MarketThresholds | None = None  # the thresholds of each kind of gap, built once
    _daily: MarketThresholds | None = None

    def bar(self, symbol: str, bar: Bar) -> list[Finding]:
        """Add `bar` to `symbol`'s history and return the market rules that fire on it. A bar not after the
        symbol's last one is ignored (a redelivery)."""
        keep = self.config.volume_window_bars + 1
        history = self._symbols.get(symbol)
        if history is None:
            history = self._symbols[symbol] = _History(deque(maxlen=keep), deque(maxlen=keep), deque(maxlen=keep))
        at = bar.time.timestamp()
        if history.times and at <= history.times[-1]:
            return []
        gap = at - history.times[-1] if history.times else float("inf")
        previous_close = history.closes[-1] if history.closes else None
        self._append(history, at, bar.close, bar.volume, keep)
        if previous_close is None:
            return []
        thresholds = self._thresholds(gap)
        if not (self._move_may_fire(gap, previous_close, bar.close, thresholds)
                or self._spike_may_fire(history, bar.volume, keep, thresholds)):  # fmt: skip
            return []
        return scan_history(symbol, history, thresholds, keep)

    @staticmethod
    def _append(history: _History, at: float, close: float, volume: float, keep: int) -> None:
        if len(history.volumes) == keep and history.volumes[0] <= 0.0:
            history.zero_volumes -= 1  # the oldest bar leaves the window
        history.times.append(at)
        history.closes.append(close)
        history.volumes.append(volume)
        if volume <= 0.0:
            history.zero_volumes += 1

    def _thresholds(self, gap_s: float) -> MarketThresholds:
        if gap_s <= self.config.minute_window_s:
            if self._minute is None:
                self._minute = self.config.thresholds(gap_s)
            return self._minute
        if self._daily is None:
            self._daily = self.config.thresholds(gap_s)
        return self._daily

    @staticmethod
    def _move_may_fire(gap_s: float, previous: float, close: float, thresholds: MarketThresholds) -> bool:
        if gap_s > thresholds.move_window_s:
            return False  # too far apart to compare
        move = 100.0 * (close - previous) / previous
        return abs(move) >= thresholds.move_at_least_pct * (1.0 - MAY_FIRE_MARGIN)

    @staticmethod
    def _spike_may_fire(history: _History, volume: float, keep: int, thresholds: MarketThresholds) -> bool:
        if len(history.volumes) < keep or history.zero_volumes:
            return False  # warming up, or a bar without volume in the window
        window = thresholds.volume_window_bars
        before = sum(islice(history.volumes, window))  # the previous bars' volumes (all > 0 here)
        return volume * window >= thresholds.volume_at_least_multiple * before * (1.0 - MAY_FIRE_MARGIN)


def scan_history(symbol: str, history: _History, thresholds: MarketThresholds, keep: int) -> list[Finding]:
    """The market rules' own scans over `symbol`'s history: the findings on its newest bar."""
    at = history.times[-1]
    times = np.fromiter(history.times, dtype=np.float64)
    names = (symbol,)
    findings = scan_price_moves(
        np.fromiter(history.closes, dtype=np.float64), times_s=times, symbols=names, thresholds=thresholds
    ).findings()
    if len(history.volumes) == keep:
        findings += scan_volume_spikes(
            np.fromiter(history.volumes, dtype=np.float64), times_s=times, symbols=names, thresholds=thresholds
        ).findings()
    return [finding for finding in findings if finding.at_s == at]
