"""The allocation across bots: daily returns on each bot's sleeve from its day-start marks, and the
rebalancing proposal on return histories taken from the bundled real closes (each bot's sleeve earns one
real stock's daily return)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from quant.portfolio import (
    Portfolio,
    RiskProfile,
    max_return,
    max_sharpe,
    mean_historical_return,
    min_variance,
    sample_covariance,
)
from state.bots import Bot, BotDay
from tools.feeds.bundled import load_bundled_daily
from tools.ops.allocation import AllocationProposal, RebalanceConfig, bot_returns, propose_allocation

T0 = datetime(2014, 1, 2, 21, 0, tzinfo=UTC)
D0 = date(2014, 1, 2)
STANDS_FOR = {"tech": "AAPL", "banks": "JPM", "energy": "XOM", "staples": "KO"}
EQUITY = 100_000.0
START = 250  # index of the first bundled day of the histories (2013-09-04)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def mark(bot_id: str, n: int, pnl: float, sleeve: float = 10_000.0) -> BotDay:
    return BotDay(bot_id=bot_id, day=day(n), pnl=pnl, sleeve=sleeve, allocation=sleeve / EQUITY)


def bot(bot_id: str, allocation: float) -> Bot:
    return Bot(bot_id=bot_id, strategy="test", allocation=allocation, since=T0)


def real_marks(bots: dict[str, str], days: int, allocation: float = 0.25, start: int = START) -> list[BotDay]:
    """`days` day-start marks per bot whose P&L grows by its sleeve times its stock's real daily return."""
    panel = load_bundled_daily(list(bots.values()))
    closes = panel.close[start : start + days]
    marks: list[BotDay] = []
    for j, bot_id in enumerate(bots):
        sleeve, pnl = allocation * EQUITY, 0.0
        for t, when in enumerate(panel.dates[start : start + days]):
            marks.append(BotDay(bot_id=bot_id, day=when, pnl=pnl, sleeve=sleeve, allocation=allocation))
            if t + 1 < days:
                pnl += sleeve * (closes[t + 1, j] / closes[t, j] - 1.0)
    return marks


def real_returns(symbols: list[str], days: int, start: int = START) -> np.ndarray:
    closes = load_bundled_daily(symbols).close[start : start + days]
    return closes[1:] / closes[:-1] - 1.0


# ---- returns from the marks -------------------------------------------------------------------------


def test_a_day_s_return_is_the_next_day_s_pnl_less_this_one_over_this_day_s_sleeve() -> None:
    marks = [
        mark("a", 0, 0.0, 10_000.0), mark("a", 1, 100.0, 10_000.0), mark("a", 2, 50.0, 20_000.0),
        mark("a", 3, 350.0, 20_000.0),
        mark("b", 0, 0.0, 5_000.0), mark("b", 1, -30.0, 6_000.0), mark("b", 2, 0.0, 6_000.0),
        mark("b", 3, 0.0, 6_000.0),
        mark("other", 0, 0.0), mark("other", 4, 1e6),  # a bot not asked for: ignored, day 4 included
    ]  # fmt: skip
    random.Random(7).shuffle(marks)
    history = bot_returns(marks, ["a", "b"])
    assert history.bot_ids == ("a", "b")
    assert history.days == (day(0), day(1), day(2))
    np.testing.assert_allclose(history.returns, [[0.01, -0.006], [-0.005, 0.005], [0.015, 0.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(history.growth()[:, 0], [1.0, 1.01, 1.01 * 0.995, 1.01 * 0.995 * 1.015], rtol=1e-15)


def test_days_on_which_a_bot_lacks_a_mark_are_dropped() -> None:
    marks = [mark("a", n, 10.0 * n) for n in range(5)] + [mark("b", n, -5.0 * n) for n in (0, 1, 3, 4)]
    marks.append(mark("a", 5, 50.0))
    history = bot_returns(marks, ["a", "b"])
    assert history.days == (day(0), day(3))  # b has no mark on day 2 (ends day 1, starts day 2) nor on day 5
    np.testing.assert_allclose(history.returns, [[0.001, -0.0005], [0.001, -0.0005]], atol=1e-15)


def test_a_day_whose_sleeve_is_zero_is_dropped() -> None:
    marks = [mark("a", n, 10.0 * n) for n in range(4)] + [mark("b", n, 20.0 * n) for n in range(4)]
    marks[1] = mark("a", 1, 10.0, sleeve=0.0)  # a's allocation was 0 on day 1
    history = bot_returns(marks, ["a", "b"])
    assert history.days == (day(0), day(2))
    np.testing.assert_allclose(history.returns, [[0.001, 0.002], [0.001, 0.002]], atol=1e-15)


def test_no_marks_give_an_empty_history_of_the_right_width() -> None:
    history = bot_returns([], ["a", "b", "c"])
    assert history.days == () and history.returns.shape == (0, 3)


def test_marks_built_from_real_closes_give_back_the_stocks_returns() -> None:
    history = bot_returns(real_marks(STANDS_FOR, 60), list(STANDS_FOR))
    np.testing.assert_allclose(history.returns, real_returns(list(STANDS_FOR.values()), 60), rtol=1e-9, atol=1e-15)


# ---- the proposal -----------------------------------------------------------------------------------


def four_bots(weights: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)) -> list[Bot]:
    return [bot(b, w) for b, w in zip(STANDS_FOR, weights, strict=True)]


def test_too_little_history_is_a_skip_with_the_reason() -> None:
    proposal = propose_allocation(four_bots(), real_marks(STANDS_FOR, 10), RebalanceConfig())
    assert proposal.proposal is None and not proposal.apply and proposal.target == {}
    assert proposal.history_days == 9
    assert proposal.reason == "9 days of returns, fewer than the 20 needed"


def test_one_bot_is_a_skip_with_the_reason() -> None:
    proposal = propose_allocation([bot("tech", 0.4)], real_marks({"tech": "AAPL"}, 60), RebalanceConfig())
    assert proposal.proposal is None and not proposal.apply
    assert proposal.reason == "1 bot running: there is nothing to allocate across"


@pytest.mark.parametrize(
    ("count", "config", "words"),
    [
        (2, RebalanceConfig(), "2 bots at a 40% maximum reach only 80% of equity"),
        (4, RebalanceConfig(min_allocation=0.3, max_allocation=0.5), "4 bots at a 30% minimum need 120% of equity"),
    ],
)
def test_bounds_that_admit_no_allocation_are_a_skip_with_the_reason(
    count: int, config: RebalanceConfig, words: str
) -> None:
    bots = dict(list(STANDS_FOR.items())[:count])
    proposal = propose_allocation([bot(b, 1 / count) for b in bots], real_marks(bots, 60), config)
    assert proposal.proposal is None and not proposal.apply
    assert proposal.reason.startswith(words)


def test_a_bot_without_return_variation_is_named_in_the_skip() -> None:
    marks = real_marks({"tech": "AAPL", "banks": "JPM", "energy": "XOM"}, 60)
    marks += [BotDay(bot_id="idle", day=m.day, pnl=-12.5, sleeve=25_000.0, allocation=0.25)
              for m in marks if m.bot_id == "tech"]  # fmt: skip
    bots = [bot(b, 0.25) for b in ("tech", "banks", "idle", "energy")]
    proposal = propose_allocation(bots, marks, RebalanceConfig())
    assert proposal.proposal is None and not proposal.apply
    assert proposal.reason.startswith("idle had no return variation in the last 59 days")


def estimates(days: int, newest: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Expected returns and covariance of the stocks' real returns (the newest `newest` of them), computed
    here independently of the bots' marks."""
    returns = real_returns(list(STANDS_FOR.values()), days)[-(newest or days) :]
    growth = np.vstack([np.ones((1, returns.shape[1])), np.cumprod(1.0 + returns, axis=0)])
    return mean_historical_return(growth), sample_covariance(growth)


def target_weights(proposal: AllocationProposal) -> np.ndarray:
    return np.array([proposal.target[b] for b in STANDS_FOR])


def test_the_moderate_target_is_the_maximum_sharpe_portfolio_within_the_bounds() -> None:
    config = RebalanceConfig()
    proposal = propose_allocation(four_bots(), real_marks(STANDS_FOR, 250), config)
    assert proposal.proposal is not None
    assert proposal.history_days == 249 and proposal.risk_level is RiskProfile.MODERATE
    mu, cov = estimates(250)
    expected = max_sharpe(mu, cov, bounds=(0.05, 0.40), risk_free_rate=0.0)
    weights = target_weights(proposal)
    np.testing.assert_allclose(weights, expected.weights, rtol=0, atol=1e-12)
    assert np.all(weights >= 0.05 - 1e-12) and np.all(weights <= 0.40 + 1e-12)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    interior = (weights > 0.05 + 1e-6) & (weights < 0.40 - 1e-6)
    assert interior.sum() >= 2  # not a corner of the bounds: the estimates decide the weights
    at_two_percent = max_sharpe(mu, cov, bounds=(0.05, 0.40), risk_free_rate=0.02).weights
    assert np.abs(weights - at_two_percent).max() > 1e-3  # the config's risk-free rate (0) is the one used
    assert proposal.apply is (proposal.proposal.sharpe_improvement >= config.min_sharpe_improvement)


@pytest.mark.parametrize(
    ("level", "optimiser"), [(RiskProfile.CONSERVATIVE, min_variance), (RiskProfile.AGGRESSIVE, max_return)]
)
def test_the_other_risk_levels_use_their_optimiser(level: RiskProfile, optimiser: Callable[..., Portfolio]) -> None:
    proposal = propose_allocation(four_bots(), real_marks(STANDS_FOR, 250), RebalanceConfig(risk_level=level))
    mu, cov = estimates(250)
    expected = optimiser(mu, cov, bounds=(0.05, 0.40), risk_free_rate=0.0)
    np.testing.assert_allclose(target_weights(proposal), expected.weights, rtol=0, atol=1e-12)


def test_only_the_newest_lookback_days_are_used() -> None:
    proposal = propose_allocation(four_bots(), real_marks(STANDS_FOR, 250), RebalanceConfig(lookback_days=60))
    assert proposal.history_days == 60
    mu, cov = estimates(250, newest=60)
    expected = max_sharpe(mu, cov, bounds=(0.05, 0.40), risk_free_rate=0.0)
    np.testing.assert_allclose(target_weights(proposal), expected.weights, rtol=0, atol=1e-12)
    full = propose_allocation(four_bots(), real_marks(STANDS_FOR, 250), RebalanceConfig())
    assert np.abs(target_weights(full) - target_weights(proposal)).max() > 1e-3


def test_current_weights_equal_to_the_target_are_a_skip() -> None:
    marks = real_marks(STANDS_FOR, 250)
    first = propose_allocation(four_bots(), marks, RebalanceConfig())
    target = tuple(first.target[b] for b in STANDS_FOR)
    again = propose_allocation(four_bots(target), marks, RebalanceConfig())
    assert again.proposal is not None and again.proposal.trades == ()
    assert not again.apply
    assert again.reason == "the current weights already match the target"


def test_rebalance_config_refuses_a_minimum_above_the_maximum() -> None:
    with pytest.raises(ValidationError, match=r"min_allocation 0\.5 is above max_allocation 0\.4"):
        RebalanceConfig(min_allocation=0.5, max_allocation=0.4)
    assert RebalanceConfig(min_allocation=0.25, max_allocation=0.25).max_allocation == 0.25


def test_a_lookback_shorter_than_the_history_needed_is_refused() -> None:
    with pytest.raises(ValueError, match="lookback_days 10 is below min_history_days 20"):
        RebalanceConfig(lookback_days=10)
