"""Rebalancing proposals: the trade list, turnover, and the rule that small Sharpe gains are not worth trading."""

from __future__ import annotations

import numpy as np
import pytest

from quant.portfolio import optimize
from quant.portfolio.rebalance import WeightChange, propose_rebalance
from tests.quant.portfolio.pypfopt_data import estimates

ASSETS = ("A", "B", "C")
MU = np.array([0.10, 0.12, 0.06])
COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.0], [0.0, 0.0, 0.01]])


def test_the_trade_list_names_each_asset_that_moves_from_and_to_with_the_delta() -> None:
    proposal = propose_rebalance(ASSETS, [0.5, 0.3, 0.2], [0.4, 0.3, 0.3], MU, COV)
    assert [(t.asset, t.from_weight, t.to_weight) for t in proposal.trades] == [("A", 0.5, 0.4), ("C", 0.2, 0.3)]
    assert [t.delta for t in proposal.trades] == pytest.approx([-0.1, 0.1])
    assert isinstance(proposal.trades[0], WeightChange)
    assert proposal.turnover == pytest.approx(0.1)


def test_turnover_is_half_the_absolute_changes_with_cash_counted() -> None:
    fully_invested = propose_rebalance(ASSETS, [0.2, 0.3, 0.5], [0.5, 0.3, 0.2], MU, COV)
    assert fully_invested.turnover == pytest.approx(0.3)
    from_cash = propose_rebalance(ASSETS, [0.0, 0.0, 0.0], [0.5, 0.3, 0.2], MU, COV)
    assert from_cash.turnover == pytest.approx(1.0)  # all equity bought with cash: 100 % traded


def test_a_sharpe_gain_under_5_percent_is_skipped_with_the_reason() -> None:
    target = optimize.max_sharpe(MU, COV, bounds=(0.0, 1.0)).weights
    nearly = 0.97 * target + 0.03 * np.array([1.0, 0.0, 0.0])
    proposal = propose_rebalance(ASSETS, nearly, target, MU, COV)
    assert 0 < proposal.sharpe_improvement < 0.05
    assert not proposal.rebalance
    assert "short of the 5.0% improvement required" in proposal.reason
    assert proposal.trades  # what would have been traded is still shown


def test_a_sharpe_gain_of_5_percent_or_more_is_traded() -> None:
    target = optimize.max_sharpe(MU, COV, bounds=(0.0, 1.0)).weights
    proposal = propose_rebalance(ASSETS, [1.0, 0.0, 0.0], target, MU, COV)
    assert proposal.sharpe_improvement >= 0.05
    assert proposal.rebalance
    assert proposal.after.sharpe == pytest.approx(optimize.max_sharpe(MU, COV, bounds=(0.0, 1.0)).sharpe)
    assert proposal.sharpe_improvement == pytest.approx(
        (proposal.after.sharpe - proposal.before.sharpe) / abs(proposal.before.sharpe)
    )


def test_the_threshold_is_a_parameter() -> None:
    target = optimize.max_sharpe(MU, COV, bounds=(0.0, 1.0)).weights
    nearly = 0.97 * target + 0.03 * np.array([1.0, 0.0, 0.0])
    assert propose_rebalance(ASSETS, nearly, target, MU, COV, min_relative_improvement=0.0).rebalance
    assert not propose_rebalance(ASSETS, [1.0, 0, 0], target, MU, COV, min_relative_improvement=10.0).rebalance


def test_a_worse_target_is_never_traded() -> None:
    best = optimize.max_sharpe(MU, COV, bounds=(0.0, 1.0)).weights
    proposal = propose_rebalance(ASSETS, best, [0.0, 1.0, 0.0], MU, COV, min_relative_improvement=0.0)
    assert proposal.sharpe_improvement < 0
    assert not proposal.rebalance


def test_a_book_already_at_target_has_nothing_to_trade() -> None:
    proposal = propose_rebalance(ASSETS, [0.2, 0.3, 0.5], [0.2, 0.3, 0.5], MU, COV)
    assert (proposal.rebalance, proposal.trades, proposal.turnover) == (False, (), 0.0)
    assert proposal.reason == "the current weights already match the target"


def test_cash_in_the_current_book_earns_the_risk_free_rate() -> None:
    proposal = propose_rebalance(ASSETS, [0.5, 0.0, 0.0], [1.0, 0.0, 0.0], MU, COV, risk_free_rate=0.02)
    assert proposal.before.expected_return == pytest.approx(0.5 * 0.10 + 0.5 * 0.02)
    assert proposal.before.sharpe == pytest.approx(proposal.after.sharpe)  # same asset, only levered up
    assert not proposal.rebalance


def test_moving_from_all_cash_is_an_unbounded_improvement() -> None:
    proposal = propose_rebalance(ASSETS, [0.0, 0.0, 0.0], [0.3, 0.3, 0.4], MU, COV)
    assert proposal.before.sharpe == 0.0
    assert proposal.sharpe_improvement == np.inf
    assert proposal.rebalance
    assert "up from 0" in proposal.reason


def test_minimum_variance_to_maximum_sharpe_on_the_20_ticker_file_is_worth_it() -> None:
    tickers, mu, cov = estimates()
    current = optimize.min_variance(mu, cov, bounds=(0.0, 1.0)).weights
    target = optimize.max_sharpe(mu, cov, bounds=(0.0, 1.0)).weights
    proposal = propose_rebalance(tickers, current, target, mu, cov)
    assert proposal.rebalance
    assert proposal.before.sharpe == pytest.approx(0.8204054077060996, abs=1e-12)
    assert proposal.after.sharpe == pytest.approx(1.2847714127003216, abs=1e-12)
    assert proposal.turnover == pytest.approx(np.abs(target - current).sum() / 2)
    assert {t.asset for t in proposal.trades} <= set(tickers)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"current": [0.5, 0.5]}, "3 assets but current weights"),
        ({"assets": ("A", "A", "C")}, "unique"),
        ({"target": [0.5, np.nan, 0.5]}, "finite"),
        ({"min_relative_improvement": -0.1}, "min_relative_improvement"),
    ],
)
def test_malformed_proposals_are_refused(kwargs: dict[str, object], message: str) -> None:
    call: dict[str, object] = {"assets": ASSETS, "current": [0.2, 0.3, 0.5], "target": [0.3, 0.3, 0.4]}
    call.update(expected_returns=MU, cov=COV, **kwargs)
    with pytest.raises(ValueError, match=message):
        propose_rebalance(**call)  # type: ignore[arg-type]
