"""The quant report of the bars a session loaded, built once for every session that loads the same bars.

Sessions on one symbol between two of its bars load the same window: the hot store hands out the same
`Bar` instances for the same stored entries (`state.redis_hot`, `state.hot`), so the report, a pure
function of those bars, is the same too. Building it (numpy over 120 bars, a dozen indicators) was about a
tenth of a worker's CPU per event. A window counts as the same only when it holds the very same bar
objects in the same order (bars are frozen); anything else, a new bar, a window read from another tier, is
built afresh. A window whose report fails to build raises every time (failures are not kept).
"""

from __future__ import annotations

import numpy as np

from quant.report import QuantReport, build_report
from state.events import Bar

_SYMBOLS_KEPT = 256  # symbols whose last report is kept; past it the memo starts again empty


class ReportMemo:
    """Each symbol's last window and the report built from it."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[tuple[Bar, ...], QuantReport]] = {}

    def report(self, symbol: str, bars: tuple[Bar, ...]) -> QuantReport:
        kept = self._last.get(symbol)
        if kept is not None and _same_bars(kept[0], bars):
            return kept[1]
        columns = np.array([[b.open, b.high, b.low, b.close, b.volume] for b in bars], dtype=np.float64)
        report = build_report(symbol, *columns.T, bar_dates=[b.time.date() for b in bars])
        if symbol not in self._last and len(self._last) >= _SYMBOLS_KEPT:
            self._last.clear()
        self._last[symbol] = (bars, report)
        return report


def _same_bars(kept: tuple[Bar, ...], bars: tuple[Bar, ...]) -> bool:
    return len(kept) == len(bars) and all(a is b for a, b in zip(kept, bars, strict=True))
