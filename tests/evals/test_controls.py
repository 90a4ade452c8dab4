"""The no-edge control: reproducible draws, chance-level statistics checked against their closed form."""

from __future__ import annotations

import numpy as np
import pytest

from evals.controls import MIN_DRAWS, STAKE, no_edge_control


def _labels(n: int, forward: float, exit_return: float | None = None) -> list[dict[str, float]]:
    return [{"forward_return": forward, "exit_return": forward if exit_return is None else exit_return}] * n


def test_the_draws_are_reproducible_from_the_seed_and_change_with_it() -> None:
    rng = np.random.default_rng(7)
    labels = [{"forward_return": float(r), "exit_return": float(r)} for r in rng.normal(0, 0.02, 300)]
    a, b = no_edge_control(labels, 40), no_edge_control(labels, 40)
    assert a.pnl.values.tobytes() == b.pnl.values.tobytes()
    other = no_edge_control(labels, 40, seed=1)
    assert not np.array_equal(a.pnl.values, other.pnl.values)


def test_random_directions_on_equal_moves_match_the_binomial_closed_form() -> None:
    # Every event rose 2 %: a draw of n trades books STAKE * 0.02 * (longs - shorts), longs ~ Binomial(n, 1/2),
    # so its mean is 0 and its standard deviation STAKE * 0.02 * sqrt(n); accuracy is longs / n, mean 1/2.
    n = 64
    control = no_edge_control(_labels(500, 0.02), n, draws=4000)
    sd = STAKE * 0.02 * np.sqrt(n)
    assert abs(control.pnl.mean) < 4 * sd / np.sqrt(4000)
    assert control.pnl.values.std() == pytest.approx(sd, rel=0.05)
    assert control.directional_accuracy is not None
    assert control.directional_accuracy.mean == pytest.approx(0.5, abs=0.01)
    interval = control.directional_accuracy.interval()
    assert interval.low == pytest.approx(0.5 - 1.96 * 0.5 / np.sqrt(n), abs=0.02)


def test_a_long_books_the_bracket_exit_and_a_short_the_mirrored_one() -> None:
    # Stopped out at -1.5 % although the horizon closed +1 %: a long books -1.5 %, a short (its target at the
    # long's stop) +1.5 %; the draws are STAKE * 1.5 % * (shorts - longs), centred on zero.
    control = no_edge_control(_labels(10, 0.01, exit_return=-0.015), 10, draws=4000)
    steps = np.round(control.pnl.values / (STAKE * 0.015)).astype(int)
    assert np.allclose(control.pnl.values, steps * STAKE * 0.015)
    assert set(np.unique(steps)) <= set(range(-10, 11, 2))
    assert abs(control.pnl.mean) < 4 * STAKE * 0.015 * np.sqrt(10) / np.sqrt(4000)
    # Accuracy follows the forward return's sign: the long was right (it rose), whatever its bracket booked.
    assert control.directional_accuracy is not None
    assert control.directional_accuracy.mean == pytest.approx(0.5, abs=0.02)


def test_share_at_least_is_the_one_sided_p_value() -> None:
    control = no_edge_control(_labels(100, 0.02), 20)
    assert control.pnl.share_at_least(control.pnl.values.max()) == pytest.approx(
        float(np.mean(control.pnl.values == control.pnl.values.max()))
    )
    assert control.pnl.share_at_least(-1.0) == 1.0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 200 draws"):
        no_edge_control(_labels(5, 0.01), 2, draws=MIN_DRAWS - 1)
    with pytest.raises(ValueError, match="cannot be drawn"):
        no_edge_control(_labels(5, 0.01), 6)
    assert no_edge_control(_labels(5, 0.01), 0).directional_accuracy is None
