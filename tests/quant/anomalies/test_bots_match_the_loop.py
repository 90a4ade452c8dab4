"""The vectorised bot pass equals the straightforward per-bot loop on random populations and thresholds.

The loop (``evals.bench_quant.anomalies.scan_bots_loop``) is the benchmark's baseline: the rules written
bot by bot, trade by trade. Times sit on a one-second grid around the window edges, and slippages on a
1/128 % grid, so every sum is exact and the two implementations must agree bit for bit, edges included.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evals.bench_quant.anomalies import BOT_RULES, scan_bots_loop
from quant.anomalies import BotActivity, BotRecord, BotThresholds, BotTrade, Finding, scan_bots

NOW = 1_700_000_000.0

# Seconds relative to NOW, often right on the burst-window edges (600 s and 60 s ago).
trade_offsets_s = st.one_of(
    st.sampled_from([-601, -600, -599, -61, -60, -59, 0]), st.integers(min_value=-1300, max_value=30)
)
trades = st.lists(
    st.tuples(
        trade_offsets_s,
        st.sampled_from([-3.0, -0.5, 0.0, 0.25, 2.0]),
        st.one_of(st.sampled_from([0.25, 0.5, 1.0]), st.integers(min_value=-64, max_value=384).map(lambda k: k / 128)),
    ),
    max_size=40,
).map(lambda rows: tuple(BotTrade(NOW + t, pnl, slip) for t, pnl, slip in sorted(rows, key=lambda r: r[0])))


@st.composite
def bots(draw: st.DrawFn, index: int) -> BotRecord:
    requests = draw(st.integers(min_value=0, max_value=20))
    ago = st.one_of(st.sampled_from([-3600, -901, -900, -899, -300]), st.integers(min_value=-5000, max_value=60))
    heartbeat = draw(st.one_of(st.just(math.nan), ago.map(lambda s: NOW + s)))
    return BotRecord(
        bot_id=f"bot-{index}",
        trades=draw(trades),
        last_heartbeat_s=heartbeat,
        api_requests=requests,
        api_errors=draw(st.integers(min_value=0, max_value=requests)),
    )


populations = st.integers(min_value=0, max_value=25).flatmap(lambda n: st.tuples(*(bots(i) for i in range(n))))

thresholds = st.builds(
    BotThresholds,
    burst_trades_above=st.integers(min_value=0, max_value=25),
    burst_window_s=st.sampled_from([60.0, 600.0]),
    losses_at_least=st.integers(min_value=1, max_value=10),
    loss_lookback_trades=st.integers(min_value=1, max_value=12),
    slippage_above_pct=st.sampled_from([0.25, 0.5, 1.0]),
    slippage_lookback_trades=st.integers(min_value=1, max_value=12),
    api_error_rate_at_least_pct=st.sampled_from([10.0, 30.0, 50.0]),
    api_min_requests=st.integers(min_value=1, max_value=5),
    heartbeat_silence_at_least_s=st.sampled_from([300.0, 900.0]),
)


def comparable(finding: Finding) -> tuple[object, ...]:
    # NaN (the basis of a bot never heard from) never equals itself; compare it as text.
    e = finding.evidence
    fields = (e.value, e.threshold, e.fires_when, e.unit, e.window, e.basis, e.basis_label)
    return (finding.rule, finding.subject, finding.at_s, finding.severity, *(repr(f) for f in fields))


@settings(max_examples=200, deadline=None)
@given(population=populations, limits=st.one_of(st.just(BotThresholds()), thresholds))
def test_the_vectorised_pass_equals_the_per_bot_loop(population: tuple[BotRecord, ...], limits: BotThresholds) -> None:
    scan = scan_bots(BotActivity.from_records(population), now_s=NOW, thresholds=limits)
    loop, loop_findings = scan_bots_loop(population, NOW, limits)
    assert [rule_scan.rule for rule_scan in scan.rules] == list(BOT_RULES)
    for rule_scan in scan.rules:
        level, value, basis = loop[rule_scan.rule]
        np.testing.assert_array_equal(rule_scan.level[0], level, err_msg=str(rule_scan.rule))
        np.testing.assert_array_equal(rule_scan.value[0], value, err_msg=str(rule_scan.rule))
        np.testing.assert_array_equal(rule_scan.basis[0], basis, err_msg=str(rule_scan.rule))
    assert [comparable(f) for f in scan.findings()] == [comparable(f) for f in loop_findings]
