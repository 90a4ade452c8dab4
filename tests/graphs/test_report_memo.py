"""A symbol's quant report is built once per window of bars, and afresh for any other window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from graphs.deliberation.report_memo import ReportMemo
from quant.report import build_report
from state.events import Bar

T0 = datetime(2026, 1, 2, 21, 0, tzinfo=UTC)


def bars(n: int, start: float = 100.0) -> tuple[Bar, ...]:
    return tuple(
        Bar(time=T0 + timedelta(days=i), open=start + i, high=start + i + 2, low=start + i - 1, close=start + i + 1,
            volume=1000 + i)
        for i in range(n)
    )  # fmt: skip


def built(window: tuple[Bar, ...]) -> object:
    columns = np.array([[b.open, b.high, b.low, b.close, b.volume] for b in window], dtype=np.float64)
    return build_report("AAPL", *columns.T, bar_dates=[b.time.date() for b in window])


def test_the_same_bars_give_the_report_built_the_first_time() -> None:
    memo, window = ReportMemo(), bars(60)
    first = memo.report("AAPL", window)
    assert first == built(window)
    assert memo.report("AAPL", tuple(window)) is first


def test_a_new_bar_or_other_bar_objects_build_the_report_afresh() -> None:
    memo, window = ReportMemo(), bars(60)
    first = memo.report("AAPL", window)
    moved = (*window[1:], bars(61)[-1])
    assert memo.report("AAPL", moved) == built(moved) != first
    copies = tuple(b.model_copy() for b in window)  # equal bars, other objects (another store's read): rebuilt
    again = memo.report("AAPL", copies)
    assert again == first and again is not first
