"""`aegis run`'s summary: the book's average exposure and buy-and-hold at that exposure, from the fills."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from aegis.runtime.book_exposure import compare_at_exposure, daily_exposure
from aegis.runtime.summary import Percentiles, RunSummary
from state.orders import Fill, FillReason, Side
from tools.feeds.bundled import DailyPanel, bar_time

DAYS = (date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3), date(2021, 3, 4))
CAPITAL = 100_000.0


def _panel() -> DailyPanel:
    # A: opens 100 on day 1 and closes 100, 110, 121, 121; B: closes 50, 50, nan (no bar), 45
    opens = np.array([[100.0, 50.0], [100.0, 50.0], [110.0, 50.0], [121.0, 50.0]])
    close = np.array([[100.0, 50.0], [110.0, 50.0], [121.0, np.nan], [121.0, 45.0]])
    return DailyPanel(DAYS, ("A", "B"), opens, close, close, close, np.ones_like(close), np.full(4, 15.0))


def _fill(n: int, symbol: str, side: Side, quantity: float, day: date) -> Fill:
    return Fill(
        fill_id=f"f{n}", order_id=f"o{n}", event_id=f"e{n}", symbol=symbol, side=side, quantity=quantity,
        price=100.0, fee=0.0, reason=FillReason.ENTRY if side == Side.BUY else FillReason.STOP_LOSS,
        time=bar_time(day),
    )  # fmt: skip


FILLS = [
    _fill(1, "A", Side.BUY, 20.0, DAYS[1]),  # 20 A held from day 2 on
    _fill(2, "B", Side.BUY, 40.0, DAYS[2]),  # 40 B bought on day 3 ...
    _fill(3, "B", Side.SELL, 40.0, DAYS[2]),  # ... and stopped out the same day: invested that day
]


def test_the_exposure_of_each_day_is_the_largest_holding_at_the_days_close_over_the_capital() -> None:
    exposure = daily_exposure(FILLS, _panel(), 0, 3, CAPITAL)
    # day 3: 20 A at 121 and 40 B at its last close (50, day 3 has no B bar); day 4: 20 A at 121
    assert list(exposure) == pytest.approx([0.0, 2_200 / CAPITAL, (2_420 + 2_000) / CAPITAL, 2_420 / CAPITAL])


def test_buy_and_hold_at_the_books_exposure_scales_each_days_basket_return() -> None:
    comparison = compare_at_exposure(FILLS, _panel(), 1, 3, CAPITAL)
    assert comparison is not None
    exposure = [0.022, 0.0442, 0.0242]  # rows 1..3
    # the basket from row 1's open: A 100 -> 110, 121, 121; B 50 -> 50, (nan), 45
    basket = [1.0, (1.1 + 1.0) / 2, 1.21, (1.21 + 0.9) / 2]
    returns = [basket[i + 1] / basket[i] - 1.0 for i in range(3)]
    assert comparison.average_exposure == pytest.approx(sum(exposure) / 3)
    assert comparison.benchmark_return == pytest.approx(sum(e * r for e, r in zip(exposure, returns, strict=True)))
    assert compare_at_exposure(FILLS, _panel(), 2, 1, CAPITAL) is None  # nothing decided yet


def test_the_summary_prints_the_exposure_next_to_both_benchmarks() -> None:
    summary = RunSummary(
        window="2021-03-01 .. 2021-03-04", symbols=2, trading_days=4, events=3, deliberations=3, screened_out=0,
        vetoes=0, holds=1, blocked=0, orders=2, fills=3, rejected=0, failed_sessions=0, start_equity=CAPITAL,
        end_equity=100_720.0, benchmark_return=0.9564, latencies={"session": Percentiles.of([1.0])},
        wall_seconds=1.0, records="records", providers="rules", llm_cost_usd=0.0, average_exposure=0.0312,
        exposure_matched_return=0.0081,
    )  # fmt: skip
    lines = summary.lines()
    assert "  P&L                  +720.00 (+0.72%)  vs buy-and-hold of the basket +95.64% (100 % invested)" in lines
    assert "  book exposure        3.12% of the capital on average; buy-and-hold at the book's exposure +0.81%" in lines
    without = RunSummary(**{**{f: getattr(summary, f) for f in summary.__dataclass_fields__}, "average_exposure": None})
    assert not any("book exposure" in line for line in without.lines())
