"""Specification of the bot rules on synthetic bots (there is no real bot data), edge by edge.

Defaults from the source documents: more than 20 trades in 10 minutes; 7 or more losses in the last 10
trades; mean slippage above 0.5 %; an API error rate of 30 % or more; no heartbeat for 15 minutes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.anomalies import (
    BotActivity,
    BotRecord,
    BotScan,
    BotThresholds,
    BotTrade,
    Evidence,
    Finding,
    Rule,
    RuleScan,
    Severity,
    scan_bots,
)

NOW = 1_700_000_000.0  # epoch seconds, the moment of the scan


def trades(n: int, *, ago_s: float = 60.0, pnl: float = 1.0, slippage_pct: float = 0.1) -> list[BotTrade]:
    """``n`` identical trades, the last one ``ago_s`` seconds before NOW, one second apart, oldest first."""
    return [BotTrade(NOW - ago_s - (n - 1 - i), pnl, slippage_pct) for i in range(n)]


def bot(
    history: list[BotTrade] | None = None,
    *,
    bot_id: str = "bot-1",
    heartbeat_ago_s: float = 5.0,
    requests: int = 0,
    errors: int = 0,
) -> BotRecord:
    return BotRecord(bot_id, tuple(history or ()), NOW - heartbeat_ago_s, requests, errors)


def scan(*records: BotRecord, thresholds: BotThresholds | None = None) -> BotScan:
    return scan_bots(BotActivity.from_records(records), now_s=NOW, thresholds=thresholds or BotThresholds())


def levels(rule_scan: RuleScan) -> list[int]:
    return [int(level) for level in rule_scan.level[0]]


# --- trade burst: more than 20 trades in the last 600 s --------------------------------------------------


@pytest.mark.parametrize(
    ("count", "severity"),
    [
        (20, 0),
        (21, Severity.MEDIUM),
        (40, Severity.MEDIUM),
        (41, Severity.HIGH),
        (100, Severity.HIGH),
        (101, Severity.CRITICAL),
    ],
)
def test_more_than_20_trades_in_ten_minutes_is_a_burst(count: int, severity: int) -> None:
    result = scan(bot(trades(count)))
    assert levels(result.trade_burst) == [severity]
    assert result.trade_burst.value[0, 0] == count


def test_a_trade_exactly_ten_minutes_old_is_outside_the_window() -> None:
    twenty_recent = trades(20)
    assert levels(scan(bot([BotTrade(NOW - 600.0, 1.0, 0.1), *twenty_recent])).trade_burst) == [0]
    assert levels(scan(bot([BotTrade(NOW - 599.5, 1.0, 0.1), *twenty_recent])).trade_burst) == [Severity.MEDIUM]


def test_trades_stamped_after_now_count_as_recent() -> None:
    # A bot's clock a little ahead of ours must not hide a burst.
    assert levels(scan(bot(trades(21, ago_s=-30.0))).trade_burst) == [Severity.MEDIUM]


def test_old_trades_do_not_make_a_burst() -> None:
    assert levels(scan(bot(trades(500, ago_s=700.0))).trade_burst) == [0]


# --- loss streak: 7 or more losses among the last 10 trades ---------------------------------------------


def last_ten(losses: int) -> list[BotTrade]:
    return trades(10 - losses, ago_s=100.0) + trades(losses, ago_s=10.0, pnl=-5.0)


@pytest.mark.parametrize(
    ("losses", "severity"),
    [(6, 0), (7, Severity.MEDIUM), (8, Severity.MEDIUM), (9, Severity.HIGH), (10, Severity.CRITICAL)],
)
def test_seven_or_more_losses_in_the_last_ten_trades_is_a_losing_streak(losses: int, severity: int) -> None:
    result = scan(bot(last_ten(losses)))
    assert levels(result.loss_streak) == [severity]
    assert result.loss_streak.value[0, 0] == losses


def test_losses_older_than_the_last_ten_trades_do_not_count() -> None:
    history = trades(7, ago_s=500.0, pnl=-5.0) + trades(10, ago_s=10.0)
    assert levels(scan(bot(history)).loss_streak) == [0]


def test_a_scratch_trade_at_zero_is_not_a_loss() -> None:
    history = trades(3, ago_s=100.0, pnl=0.0) + trades(7, ago_s=10.0, pnl=-1.0)
    assert levels(scan(bot(history)).loss_streak) == [Severity.MEDIUM]
    history = trades(4, ago_s=100.0, pnl=0.0) + trades(6, ago_s=10.0, pnl=-1.0)
    assert levels(scan(bot(history)).loss_streak) == [0]


def test_a_bot_with_fewer_than_ten_trades_is_judged_on_all_of_them() -> None:
    result = scan(bot(trades(7, pnl=-1.0)))
    assert levels(result.loss_streak) == [Severity.MEDIUM]
    assert result.loss_streak.basis[0, 0] == 7  # trades considered


# --- slippage: mean adverse slippage of the last 10 trades above 0.5 % ----------------------------------


@pytest.mark.parametrize(
    ("slippages", "severity"),
    [
        ([0.5] * 10, 0),  # exactly 0.5 % is not above it
        ([0.5] * 9 + [0.625], Severity.MEDIUM),  # mean 0.5125 %
        ([1.0] * 10, Severity.MEDIUM),
        ([1.0] * 9 + [1.125], Severity.HIGH),
        ([2.0] * 9 + [2.125], Severity.CRITICAL),
        ([2.0] * 5 + [-1.5] * 5, 0),  # price improvements offset bad fills: mean 0.25 %
    ],
)
def test_mean_slippage_above_half_a_percent_fires(slippages: list[float], severity: int) -> None:
    history = [BotTrade(NOW - 100.0 + i, 1.0, s) for i, s in enumerate(slippages)]
    result = scan(bot(history))
    assert levels(result.slippage) == [severity]
    assert result.slippage.value[0, 0] == pytest.approx(sum(slippages) / 10)


def test_one_bad_fill_among_good_ones_is_diluted() -> None:
    history = [*trades(9, ago_s=50.0, slippage_pct=0.1), BotTrade(NOW - 10.0, 1.0, 4.0)]  # mean 0.49 %
    assert levels(scan(bot(history)).slippage) == [0]


def test_slippage_older_than_the_last_ten_trades_does_not_count() -> None:
    history = trades(5, ago_s=500.0, slippage_pct=5.0) + trades(10, ago_s=10.0, slippage_pct=0.1)
    assert levels(scan(bot(history)).slippage) == [0]


def test_a_bot_without_trades_has_no_slippage_and_no_streak() -> None:
    result = scan(bot([]))
    assert math.isnan(result.slippage.value[0, 0])
    assert levels(result.slippage) == levels(result.loss_streak) == levels(result.trade_burst) == [0]


# --- API errors: 30 % or more of the requests failed -----------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "errors", "severity"),
    [
        (100, 29, 0),
        (10, 3, Severity.MEDIUM),  # exactly 30 %
        (10, 4, Severity.MEDIUM),
        (10, 5, Severity.HIGH),
        (10, 9, Severity.CRITICAL),
        (3, 3, Severity.CRITICAL),
        (0, 0, 0),  # no requests, no rate
    ],
)
def test_an_api_error_rate_of_30_percent_or_more_fires(requests: int, errors: int, severity: int) -> None:
    assert levels(scan(bot(requests=requests, errors=errors)).api_errors) == [severity]


def test_a_minimum_request_count_can_silence_rates_over_a_handful_of_calls() -> None:
    thresholds = BotThresholds(api_min_requests=20)
    assert levels(scan(bot(requests=10, errors=10), thresholds=thresholds).api_errors) == [0]
    assert levels(scan(bot(requests=20, errors=6), thresholds=thresholds).api_errors) == [Severity.MEDIUM]


# --- heartbeat: silent for 15 minutes or more ------------------------------------------------------------


@pytest.mark.parametrize(
    ("ago_s", "severity"),
    [(899.0, 0), (900.0, Severity.HIGH), (3599.0, Severity.HIGH), (3600.0, Severity.CRITICAL), (-20.0, 0)],
)
def test_no_heartbeat_for_fifteen_minutes_fires(ago_s: float, severity: int) -> None:
    assert levels(scan(bot(heartbeat_ago_s=ago_s)).heartbeat) == [severity]


def test_a_bot_never_heard_from_has_been_silent_forever() -> None:
    never = BotRecord("ghost", (), math.nan, 0, 0)
    result = scan(never)
    assert levels(result.heartbeat) == [Severity.CRITICAL]
    assert result.heartbeat.value[0, 0] == math.inf


# --- the population view --------------------------------------------------------------------------------


def test_each_bot_is_judged_on_its_own_trades_only() -> None:
    result = scan(
        bot(trades(21), bot_id="busy"),
        bot([], bot_id="idle"),
        bot(last_ten(10), bot_id="loser"),
        bot(trades(3), bot_id="quiet", heartbeat_ago_s=1000.0),
    )
    assert levels(result.trade_burst) == [Severity.MEDIUM, 0, 0, 0]
    assert levels(result.loss_streak) == [0, 0, Severity.CRITICAL, 0]
    assert levels(result.heartbeat) == [0, 0, 0, Severity.HIGH]
    assert result.worst().tolist() == [Severity.MEDIUM, 0, Severity.CRITICAL, Severity.HIGH]


def test_findings_name_the_bot_the_rule_and_the_numbers_that_fired_it() -> None:
    result = scan(bot([], bot_id="quiet"), bot(trades(21), bot_id="busy", requests=10, errors=3))
    assert result.findings() == [
        Finding(
            Rule.TRADE_BURST,
            "busy",
            NOW,
            Severity.MEDIUM,
            Evidence(21.0, 20.0, "value > 20", "trades", "trades stamped after now - 600 s", 600.0, "window (s)"),
        ),
        Finding(
            Rule.API_ERRORS,
            "busy",
            NOW,
            Severity.MEDIUM,
            Evidence(
                30.0, 30.0, "value >= 30", "% of requests failed", "the caller's request-count window", 10.0, "requests"
            ),
        ),
    ]


def test_thresholds_are_parameters() -> None:
    strict = BotThresholds(burst_trades_above=5, burst_window_s=60.0, losses_at_least=3, loss_lookback_trades=5)
    result = scan(bot(trades(6, ago_s=10.0) + trades(3, ago_s=0.0, pnl=-1.0)), thresholds=strict)
    assert levels(result.trade_burst) == [Severity.MEDIUM]
    assert levels(result.loss_streak) == [Severity.MEDIUM]


def test_an_empty_population_scans_to_nothing() -> None:
    result = scan()
    assert result.findings() == []
    assert result.worst().shape == (0,)


# --- inputs -----------------------------------------------------------------------------------------------


def activity(**overrides: object) -> BotActivity:
    fields: dict[str, object] = {
        "bot_ids": ("a", "b"),
        "trade_offsets": np.array([0, 2, 3]),
        "trade_time_s": np.array([10.0, 20.0, 5.0]),  # bot b starts over: its own clock order
        "trade_pnl": np.array([1.0, -1.0, 2.0]),
        "trade_slippage_pct": np.array([0.1, 0.2, 0.3]),
        "last_heartbeat_s": np.array([15.0, math.nan]),
        "api_requests": np.array([4, 0]),
        "api_errors": np.array([1, 0]),
    }
    fields.update(overrides)
    return BotActivity(**fields)  # type: ignore[arg-type]


def test_activity_in_array_form_is_accepted_as_it_comes() -> None:
    assert activity().size == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trade_time_s": np.array([20.0, 10.0, 5.0])}, "oldest first within each bot; 'a' at index 1"),
        ({"trade_offsets": np.array([1, 2, 3])}, "trade_offsets must start at 0"),
        ({"trade_offsets": np.array([0, 3])}, r"trade_offsets must have shape \(3,\)"),
        ({"trade_pnl": np.array([1.0, math.nan, 2.0])}, "trade_pnl has a non-finite value at index 1"),
        ({"trade_slippage_pct": np.array([0.1, 0.2])}, r"trade_slippage_pct must have shape \(3,\)"),
        ({"api_errors": np.array([5, 0])}, "api_errors must be within 0..api_requests; 'a' has 5"),
        ({"api_requests": np.array([4.5, 0.0])}, "api_requests must hold integers"),
        ({"last_heartbeat_s": np.array([math.inf, 1.0])}, "last_heartbeat_s must be"),
    ],
)
def test_malformed_activity_is_refused_with_the_field_named(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        activity(**overrides)


def test_the_scan_needs_a_finite_now() -> None:
    with pytest.raises(ValueError, match="now_s"):
        scan_bots(activity(), now_s=math.nan)


@pytest.mark.parametrize(
    "overrides",
    [{"losses_at_least": 0}, {"loss_lookback_trades": 0}, {"burst_window_s": 0.0}, {"slippage_above_pct": math.nan}],
)
def test_nonsense_thresholds_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(overrides))):
        BotThresholds(**overrides)  # type: ignore[arg-type]
