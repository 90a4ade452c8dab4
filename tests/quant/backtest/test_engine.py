"""The backtest engine on hand-made bars: next-bar fills, brackets, the live guard, the book, edge cases.

Unless a test says otherwise: 100,000 cash, fees 10 bps, slippage 20 bps, a permissive posture (50 % entries,
5 % stop, 10 % target, market orders allowed) and no concentration cap, so each test sees one rule at work.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from quant.backtest import run_backtest
from quant.posture import DEFAULT_POSTURES, Posture, PostureParams
from tests.quant.backtest.support import PERMISSIVE, Scripted, bar, buy, config, panel, sell

FLAT = bar(100, 101, 99, 100)


def _postures(params: PostureParams) -> dict[Posture, PostureParams]:
    return {posture: params for posture in Posture}


# --- fills at the next bar -------------------------------------------------------------------------------


def test_a_market_buy_decided_at_t_fills_at_the_next_open_with_slippage_and_fee() -> None:
    bars = panel([FLAT], [bar(102, 104, 101, 103)], [bar(103, 105, 102, 104)])
    result = run_backtest(bars, Scripted({0: [buy()]}), config())

    (fill,) = result.fills
    assert (fill.bar, fill.decided_at, fill.side, fill.reason) == (1, 0, "buy", "entry")
    assert fill.quantity == 500  # 50 % of 100,000 at the last close of 100, whole units
    assert fill.price == pytest.approx(102 * 1.002)
    assert fill.fee == pytest.approx(500 * 102 * 1.002 * 0.001)
    assert result.cash[1] == pytest.approx(100_000 - 500 * 102 * 1.002 * 1.001)
    assert result.equity[1] == pytest.approx(result.cash[1] + 500 * 103)
    assert result.positions[:, 0].tolist() == [0, 500, 500]


def test_an_order_never_fills_at_the_prices_of_the_bar_it_was_decided_on() -> None:
    # Bar 0 trades down to 99, which would reach the limit; bar 1, the only bar the order is for, does not.
    bars = panel([FLAT], [bar(102, 104, 101, 103)])
    result = run_backtest(bars, Scripted({0: [buy(order_type="limit", limit=99.5)]}), config())
    assert result.fills == ()
    (unfilled,) = result.unfilled
    assert unfilled.bar == 1
    assert "not reached" in unfilled.reason


@pytest.mark.parametrize(("next_bar", "price"), [(bar(102, 104, 98, 103), 100.0), (bar(97, 99, 96, 98), 97.0)])
def test_a_buy_limit_fills_if_touched_at_the_better_of_open_and_limit(
    next_bar: tuple[float, float, float, float], price: float
) -> None:
    result = run_backtest(panel([FLAT], [next_bar]), Scripted({0: [buy(order_type="limit", limit=100)]}), config())
    (fill,) = result.fills
    assert fill.price == price  # a limit fill carries no slippage


def test_a_sell_limit_fills_if_touched_at_the_better_of_open_and_limit() -> None:
    bars = panel([FLAT], [FLAT], [bar(106, 109, 105, 107)])
    result = run_backtest(bars, Scripted({0: [buy()], 1: [sell(order_type="limit", limit=108)]}), config())
    exit_fill = result.fills[-1]
    assert (exit_fill.bar, exit_fill.side, exit_fill.reason, exit_fill.price) == (2, "sell", "exit", 108.0)
    assert result.positions[-1, 0] == 0


def test_an_order_for_a_symbol_without_a_next_bar_expires() -> None:
    bars = panel([FLAT], [None], [FLAT])
    result = run_backtest(bars, Scripted({0: [buy()]}), config())
    assert result.fills == ()
    assert [(u.bar, u.reason) for u in result.unfilled] == [(1, "no bar for the symbol")]


def test_a_buy_the_cash_cannot_cover_after_a_gap_is_cancelled() -> None:
    almost_all_in = PostureParams(99.0, 5.0, 10.0, 5, 0.0)
    bars = panel([FLAT], [bar(110, 111, 109, 110)])
    result = run_backtest(bars, Scripted({0: [buy(size_pct=99)]}), config(postures=_postures(almost_all_in)))
    assert result.fills == ()
    assert "insufficient cash" in result.unfilled[0].reason
    assert result.cash.min() >= 0


# --- brackets ---------------------------------------------------------------------------------------------


def test_brackets_are_armed_from_the_bar_after_the_entry() -> None:
    # The entry bar reaches both the stop (95) and the target (110); neither counts on that bar.
    bars = panel([FLAT], [bar(100, 111, 94, 100)], [FLAT])
    result = run_backtest(bars, Scripted({0: [buy()]}), config())
    assert [f.reason for f in result.fills] == ["entry"]
    assert result.positions[-1, 0] == 500


@pytest.mark.parametrize(
    ("exit_bar", "reason", "price"),
    [
        (bar(100, 111, 94, 100), "stop_loss", 95 * 0.998),  # both touched: the stop, conservatively
        (bar(90, 92, 89, 91), "stop_loss", 90 * 0.998),  # a gap through the stop fills at the open
        (bar(105, 112, 104, 111), "take_profit", 110.0),  # the target, no slippage
        (bar(115, 116, 113, 114), "take_profit", 115.0),  # a gap above the target fills at the open
    ],
)
def test_bracket_exits(exit_bar: tuple[float, float, float, float], reason: str, price: float) -> None:
    bars = panel([FLAT], [FLAT], [exit_bar], [FLAT])
    result = run_backtest(bars, Scripted({0: [buy()]}), config())  # stop 95, target 110 from the close of 100
    exit_fill = result.fills[-1]
    assert (exit_fill.bar, exit_fill.reason, exit_fill.decided_at) == (2, reason, 0)
    assert exit_fill.price == pytest.approx(price)
    (trade,) = result.trades
    assert trade.exit_reason == reason
    assert trade.pnl == pytest.approx(500 * (price - 100.2) - 500 * 100.2 * 0.001 - 500 * price * 0.001)
    assert trade.return_fraction == pytest.approx(trade.pnl / (500 * 100.2 * 1.001))


# --- the live guard ----------------------------------------------------------------------------------------


def test_proposals_pass_the_live_guard_and_rejections_keep_their_reason() -> None:
    result = run_backtest(panel([FLAT], [FLAT]), Scripted({0: [sell(), buy(size_pct=200)]}), config())
    rejected, clipped = result.decisions
    assert (rejected.rejected_by, rejected.rejected_because) == ("guard", "nothing to sell: short selling is disabled")
    assert result.rejections == (rejected,)
    assert clipped.order is not None and clipped.order.quantity == 500
    assert [c.rule for c in clipped.changes] == [
        "posture.entry_size",
        "posture.stop_loss_band",
        "posture.take_profit_band",
    ]


def test_orders_approved_in_one_bar_count_against_each_other() -> None:
    two = panel([FLAT, FLAT], [FLAT, FLAT], symbols=("AAA", "BBB"))
    one_position = PostureParams(50.0, 5.0, 10.0, 1, 0.0)
    result = run_backtest(two, Scripted({0: [buy("AAA"), buy("BBB")]}), config(postures=_postures(one_position)))
    assert result.decisions[1].rejected_because == "1 symbols held or pending and the posture allows 1: no buy of BBB"

    large = PostureParams(60.0, 5.0, 10.0, 5, 0.0)
    result = run_backtest(two, Scripted({0: [buy("AAA", 60), buy("BBB", 60)]}), config(postures=_postures(large)))
    first, second = (d.order for d in result.decisions)
    assert first is not None and second is not None
    assert first.quantity == 600
    assert second.quantity == math.floor((100_000 - 60_000 * 1.005) / 1.005 / 100)  # cash left after the first
    assert len(result.fills) == 2
    assert result.cash.min() >= 0


def test_the_daily_loss_limit_blocks_entries_after_a_losing_bar() -> None:
    bars = panel([FLAT, FLAT], [bar(100, 101, 79, 80), FLAT], [FLAT, FLAT], symbols=("AAA", "BBB"))
    result = run_backtest(bars, Scripted({0: [buy("AAA")], 1: [buy("BBB")]}), config())
    blocked = result.decisions[-1]
    assert blocked.bar == 1
    assert blocked.rejected_because is not None and blocked.rejected_because.startswith("daily loss 10.")


def test_the_vix_of_each_bar_sets_its_posture() -> None:
    two = panel([FLAT, FLAT], [FLAT, FLAT], [FLAT, FLAT], symbols=("AAA", "BBB"))
    scripted = Scripted({0: [buy("AAA")], 1: [buy("BBB")]})
    result = run_backtest(two, scripted, config(postures=dict(DEFAULT_POSTURES)), vix=[12.0, 31.0, 31.0])
    offensive, defensive = result.decisions
    assert (offensive.posture, defensive.posture) == (Posture.OFFENSIVE, Posture.DEFENSIVE)
    assert offensive.order is not None and offensive.order.quantity == 25  # 2.5 % of 100,000 at 100
    assert defensive.order is not None and defensive.order.quantity == 14  # 1.5 % of ~99,990 at 100


def test_engine_rules_one_order_per_symbol_per_bar_one_position_per_symbol_known_symbols() -> None:
    bars = panel([FLAT], [FLAT], [FLAT])
    result = run_backtest(bars, Scripted({0: [buy(), buy(), buy("ZZZ")], 1: [buy()]}), config())
    reasons = [(d.bar, d.rejected_by, d.rejected_because) for d in result.rejections]
    assert reasons == [
        (0, "engine", "an order for AAA is already placed for the next bar: one order per symbol per bar"),
        (0, "engine", "unknown symbol 'ZZZ': not in the panel"),
        (1, "engine", "already holding AAA: one position per symbol, no adding"),
    ]


# --- what the strategy sees ------------------------------------------------------------------------------


def test_the_strategy_sees_read_only_views_ending_at_the_current_bar() -> None:
    scripted = Scripted({})
    run_backtest(panel([FLAT], [FLAT], [FLAT], [FLAT]), scripted, config())
    assert scripted.seen == [(t, t + 1, False) for t in range(4)]


# --- edge cases ------------------------------------------------------------------------------------------


def test_a_run_without_trades_keeps_its_cash() -> None:
    result = run_backtest(panel([FLAT], [FLAT], [FLAT]), Scripted({}), config())
    assert result.equity.tolist() == [100_000.0] * 3
    m = result.metrics
    assert (m.total_return, m.max_drawdown, m.exposure, m.trades.trades) == (0.0, 0.0, 0.0, 0)
    assert math.isnan(m.sharpe) and math.isnan(m.calmar) and math.isnan(m.trades.win_rate)


def test_a_symbol_without_any_bar_is_never_traded_and_never_breaks_the_run() -> None:
    bars = panel([FLAT, None], [FLAT, None], [FLAT, None], symbols=("AAA", "NONE"))
    result = run_backtest(bars, Scripted({0: [buy("NONE"), buy("AAA")]}), config())
    rejected = result.decisions[0]
    assert rejected.rejected_because == "price must be a positive finite number, got nan"
    assert [f.symbol for f in result.fills] == ["AAA"]
    assert np.isfinite(result.equity).all()


def test_a_single_bar_runs_and_its_orders_expire() -> None:
    result = run_backtest(panel([FLAT]), Scripted({0: [buy()]}), config(), dates=[date(2020, 1, 2)])
    assert result.equity.tolist() == [100_000.0]
    assert result.fills == ()
    assert [u.reason for u in result.unfilled] == ["no bar after the decision"]
    assert math.isnan(result.metrics.cagr)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="no bars"):
        run_backtest(panel([FLAT]).head(0), Scripted({}), config())
    with pytest.raises(ValueError, match="dates"):
        run_backtest(panel([FLAT], [FLAT]), Scripted({}), config(), dates=[date(2020, 1, 2)])
    with pytest.raises(ValueError, match="vix"):
        run_backtest(panel([FLAT], [FLAT]), Scripted({}), config(), vix=[12.0])
    with pytest.raises(ValueError, match="initial_cash"):
        config(initial_cash=0.0)
    assert PERMISSIVE.max_open_positions == 5
