"""The labelled portfolio analysis: the numpy layer's exact figures on the bundled closes, with the labels put back;
bounds that leave nothing to optimise are refused, and an unsolvable profile does not sink the others."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, expected_returns, risk_models

from quant import portfolio as quant
from quant.portfolio import RiskProfile
from tools.feeds.bundled import load_bundled_daily
from tools.ops.portfolio_analysis import (
    SCORECARD_COLUMNS,
    BoundsError,
    PortfolioAnalysis,
    analyse_portfolio,
    check_bounds,
)

RF = 0.02
BOUNDS = (0.05, 0.40)


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    """The bundled daily closes, columns in an order that is not alphabetical (labels must follow it)."""
    panel = load_bundled_daily()
    order = list(reversed(panel.symbols))
    frame = pd.DataFrame(panel.close, index=pd.DatetimeIndex(panel.dates, name="date"), columns=list(panel.symbols))
    return frame[order]


@pytest.fixture(scope="module")
def analysis(closes: pd.DataFrame) -> PortfolioAnalysis:
    return analyse_portfolio(closes)


def test_every_result_is_labelled_by_the_input_columns_in_their_order(
    closes: pd.DataFrame, analysis: PortfolioAnalysis
) -> None:
    assets = list(closes.columns)
    assert list(analysis.scorecard.index) == assets
    assert list(analysis.scorecard.columns) == list(SCORECARD_COLUMNS)
    assert list(analysis.correlation.index) == assets
    assert list(analysis.correlation.columns) == assets
    assert list(analysis.covariance.index) == list(analysis.covariance.columns) == assets
    for series in (analysis.expected_returns, analysis.current_weights, analysis.risk_contributions):
        assert list(series.index) == assets
    for proposal in analysis.proposals.values():
        assert list(proposal.weights.index) == assets
    assert list(analysis.proposals) == list(RiskProfile)


def test_figures_equal_the_numpy_layers_on_the_same_arrays_exactly(
    closes: pd.DataFrame, analysis: PortfolioAnalysis
) -> None:
    prices = closes.to_numpy()
    mu, cov = quant.mean_historical_return(prices), quant.sample_covariance(prices)
    performance = quant.asset_performance(prices, 252, RF)
    for name in SCORECARD_COLUMNS:
        np.testing.assert_array_equal(analysis.scorecard[name].to_numpy(), getattr(performance, name))
    np.testing.assert_array_equal(analysis.correlation.to_numpy(), quant.correlation_matrix(prices))
    np.testing.assert_array_equal(analysis.expected_returns.to_numpy(), mu)
    np.testing.assert_array_equal(analysis.covariance.to_numpy(), cov)

    equal = np.full(len(closes.columns), 1.0 / len(closes.columns))
    np.testing.assert_array_equal(analysis.current_weights.to_numpy(), equal)
    contributions = quant.risk_contributions(equal, cov)
    np.testing.assert_array_equal(analysis.risk_contributions.to_numpy(), contributions / contributions.sum())
    assert analysis.diversification_ratio == quant.diversification_ratio(equal, cov)
    now = quant.evaluate(equal, mu, cov, RF)
    assert (analysis.current.expected_return, analysis.current.volatility, analysis.current.sharpe) == (
        now.expected_return,
        now.volatility,
        now.sharpe,
    )

    for profile, proposal in analysis.proposals.items():
        target = quant.optimize_for_profile(profile, mu, cov, bounds=BOUNDS, risk_free_rate=RF)
        verdict = quant.propose_rebalance(list(closes.columns), equal, target.weights, mu, cov, risk_free_rate=RF)
        np.testing.assert_array_equal(proposal.weights.to_numpy(), target.weights)
        assert (proposal.expected_return, proposal.volatility, proposal.sharpe) == (
            target.expected_return,
            target.volatility,
            target.sharpe,
        )
        assert proposal.sharpe_improvement == verdict.sharpe_improvement
        assert proposal.turnover == verdict.turnover
        assert (proposal.rebalance, proposal.reason) == (verdict.rebalance, verdict.reason)
        assert proposal.error is None


def test_risk_shares_sum_to_one(analysis: PortfolioAnalysis) -> None:
    assert analysis.risk_contributions.sum() == pytest.approx(1.0, abs=1e-12)
    assert analysis.diversification_ratio > 1.0


def test_proposed_weights_are_fully_invested_within_the_bounds(analysis: PortfolioAnalysis) -> None:
    for proposal in analysis.proposals.values():
        assert proposal.weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert (proposal.weights >= BOUNDS[0] - 1e-12).all()
        assert (proposal.weights <= BOUNDS[1] + 1e-12).all()


def test_unknown_current_weights_are_equal_weights_and_the_notes_say_so(analysis: PortfolioAnalysis) -> None:
    assert any("current weights unknown" in note and "equal weights" in note for note in analysis.notes)


def test_on_the_bundled_data_the_moderate_profile_clears_the_5_percent_rule_and_the_conservative_does_not(
    analysis: PortfolioAnalysis,
) -> None:
    moderate = analysis.proposals[RiskProfile.MODERATE]
    conservative = analysis.proposals[RiskProfile.CONSERVATIVE]
    assert moderate.sharpe > analysis.current.sharpe
    assert moderate.rebalance
    assert moderate.sharpe_improvement >= 0.05
    assert not conservative.rebalance
    assert "short of the 5.0% improvement" in conservative.reason


def test_moderate_weights_match_pypfopt_on_the_bundled_closes(
    closes: pd.DataFrame, analysis: PortfolioAnalysis
) -> None:
    peer = EfficientFrontier(
        expected_returns.mean_historical_return(closes), risk_models.sample_cov(closes), weight_bounds=BOUNDS
    )
    peer.max_sharpe(risk_free_rate=RF)
    theirs = pd.Series(peer.clean_weights(rounding=None))
    ours = analysis.proposals[RiskProfile.MODERATE].weights
    assert list(theirs.index) == list(ours.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), atol=1e-6)  # they agree to ~3e-16


def test_given_current_weights_are_read_by_label_whatever_their_order(closes: pd.DataFrame) -> None:
    assets = list(closes.columns)
    raw = np.linspace(1.0, 2.0, len(assets))
    weights = pd.Series(raw / raw.sum(), index=assets)
    shuffled = weights[list(reversed(assets))]
    analysis = analyse_portfolio(closes, shuffled)
    pd.testing.assert_series_equal(analysis.current_weights, weights, check_names=False)
    cov = quant.sample_covariance(closes.to_numpy())
    assert analysis.diversification_ratio == quant.diversification_ratio(weights.to_numpy(), cov)
    assert not any("unknown" in note for note in analysis.notes)


def test_current_weights_short_of_100_percent_count_the_rest_as_cash(closes: pd.DataFrame) -> None:
    weights = pd.Series(0.9 / len(closes.columns), index=closes.columns)
    analysis = analyse_portfolio(closes, weights)
    assert any("sum to 90 %" in note and "10 % counts as cash" in note for note in analysis.notes)


def test_weights_that_do_not_match_the_columns_name_the_missing_and_extra_labels(closes: pd.DataFrame) -> None:
    assets = list(closes.columns)
    weights = pd.Series(1.0 / len(assets), index=[*assets[:-1], "TSLA"])
    with pytest.raises(ValueError, match=rf"do not match the assets: missing {assets[-1]}; extra TSLA"):
        analyse_portfolio(closes, weights)
    with pytest.raises(ValueError, match=rf"missing {assets[0]}$"):
        analyse_portfolio(closes, pd.Series(1.0 / len(assets), index=assets[1:]))


def test_twenty_assets_at_a_5_percent_minimum_are_pinned_at_equal_weight() -> None:
    with pytest.raises(BoundsError, match=r"20 assets at a 5 % minimum take exactly 100 % of capital") as caught:
        check_bounds(20, (0.05, 0.40))
    assert "equal weight (5 %)" in str(caught.value)
    assert "nothing to optimise" in str(caught.value)
    assert "widen the bounds" in str(caught.value)


def test_a_maximum_that_adds_up_to_exactly_100_percent_is_pinned_too() -> None:
    with pytest.raises(BoundsError, match=r"4 assets at a 25 % maximum .* nothing to optimise.*a higher maximum"):
        check_bounds(4, (0.05, 0.25))


def test_bounds_no_portfolio_fits_are_refused_with_the_arithmetic() -> None:
    with pytest.raises(
        BoundsError,
        match=r"^21 assets at a 5 % minimum need 105 % of capital: no portfolio fits the bounds 5 %\.\.40 %$",
    ):
        check_bounds(21, (0.05, 0.40))
    with pytest.raises(BoundsError, match=r"^2 assets at a 40 % maximum hold at most 80 % of capital"):
        check_bounds(2, (0.05, 0.40))
    with pytest.raises(BoundsError, match="minimum is above the maximum"):
        check_bounds(5, (0.3, 0.2))


def test_bounds_with_room_pass_silently() -> None:
    check_bounds(12, (0.05, 0.40))
    check_bounds(3, (0.05, 0.40))
    check_bounds(20, (0.0, 1.0))


def test_analysis_checks_the_bounds_before_estimating_anything(closes: pd.DataFrame) -> None:
    with pytest.raises(BoundsError, match="12 assets at a 10 % minimum need 120 % of capital"):
        analyse_portfolio(closes, bounds=(0.10, 0.40))


def test_when_every_asset_loses_money_the_moderate_profile_fails_alone(closes: pd.DataFrame) -> None:
    # The real closes, each halved once a year on top of its own path: every compound return is below 0.
    years = np.arange(len(closes)) / 252.0
    falling = closes.mul(0.5**years, axis=0)
    analysis = analyse_portfolio(falling)
    assert (analysis.expected_returns < 0).all()

    moderate = analysis.proposals[RiskProfile.MODERATE]
    assert not moderate.solved
    assert moderate.error is not None and "risk-free rate" in moderate.error
    assert moderate.weights.empty
    assert not moderate.rebalance
    assert any(note.startswith("no moderate proposal:") for note in analysis.notes)
    for profile in (RiskProfile.CONSERVATIVE, RiskProfile.AGGRESSIVE):
        kept = analysis.proposals[profile]
        assert kept.solved
        assert list(kept.weights.index) == list(closes.columns)
        assert kept.weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_only_the_profiles_asked_for_are_proposed(closes: pd.DataFrame) -> None:
    analysis = analyse_portfolio(closes, profiles=["aggressive", RiskProfile.CONSERVATIVE])
    assert list(analysis.proposals) == [RiskProfile.AGGRESSIVE, RiskProfile.CONSERVATIVE]


def test_a_later_start_is_allowed_and_noted(closes: pd.DataFrame) -> None:
    late = closes.copy()
    late.iloc[:300, 0] = np.nan
    analysis = analyse_portfolio(late)
    first = late.columns[0]
    assert any(note.startswith(f"{first} has values from {late.index[300]}") for note in analysis.notes)
    np.testing.assert_array_equal(analysis.covariance.to_numpy(), quant.sample_covariance(late.to_numpy()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.iloc[:0], "values is empty"),
        (lambda f: f.iloc[:1], "at least 2 dates"),
        (lambda f: f.iloc[:, :1], "a portfolio needs at least 2"),
        (lambda f: f.set_axis([*f.columns[:-1], f.columns[0]], axis=1), "asset labels repeat"),
        (lambda f: f.set_axis(range(len(f.columns)), axis=1), "asset labels must be strings"),
        (lambda f: f.iloc[::-1], "ascending order"),
    ],
)
def test_a_panel_that_cannot_be_analysed_is_refused(
    closes: pd.DataFrame, change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        analyse_portfolio(change(closes))


def test_a_bad_value_is_named_by_asset_and_date(closes: pd.DataFrame) -> None:
    bad = closes.copy()
    bad.iloc[10, 2] = -1.0
    with pytest.raises(ValueError, match=rf"{closes.columns[2]} has -1.0 at {closes.index[10]}"):
        analyse_portfolio(bad)
    empty = closes.copy()
    empty.iloc[:, 1] = np.nan
    with pytest.raises(ValueError, match=rf"{closes.columns[1]}: fewer than 2 returns"):
        analyse_portfolio(empty)
