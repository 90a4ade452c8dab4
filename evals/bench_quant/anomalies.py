"""Benchmark: the vectorised bot-anomaly pass against a straightforward per-bot Python loop.

    python -m evals.bench_quant.anomalies

The baseline (``scan_bots_loop``) implements the same five rules and severity ladders bot by bot, trade by
trade, in plain Python over ``BotRecord``s; the tests use it as the reference the vectorised pass must
equal. Both run in the same process on the same synthetic population (there is no real bot data): about
13 trades per bot over the last hour, with a few bots in each kind of trouble (bursts, losing streaks,
bad fills, failing API calls, silence, never heard from).

Rows are ``(case, our seconds, baseline seconds, max difference)``: the median of repeated runs each, and
the largest difference between the two outputs over every bot, rule, severity level and measured value
(NaN must match NaN; a difference in the findings themselves counts as infinity).

- ``bots_N``: ``scan_bots`` plus ``findings()``, the whole job, against the loop.
- ``bots_N_arrays_only``: ``scan_bots`` alone (what a monitor polls), against the same loop.
- ``bots_N_pack``: ``BotActivity.from_records`` (per-bot records to arrays), against nothing (NaN): the
  price of starting from records rather than keeping arrays.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from quant.anomalies import (
    BotActivity,
    BotRecord,
    BotThresholds,
    BotTrade,
    Evidence,
    Finding,
    Ladder,
    Rule,
    Severity,
    scan_bots,
)
from quant.anomalies.bots import BotScan
from quant.anomalies.severity import FloatArray, LevelArray

NOW_S = 1_700_000_000.0
BOT_RULES = (Rule.TRADE_BURST, Rule.LOSS_STREAK, Rule.SLIPPAGE, Rule.API_ERRORS, Rule.HEARTBEAT)
LoopColumns = dict[Rule, tuple[LevelArray, FloatArray, FloatArray]]  # rule -> (level, value, basis) per bot


def scan_bots_loop(
    records: Sequence[BotRecord], now_s: float, thresholds: BotThresholds | None = None
) -> tuple[LoopColumns, list[Finding]]:
    """The five bot rules, one bot at a time: per rule (level, value, basis) per bot, and the findings."""
    p = thresholds or BotThresholds()
    columns: dict[Rule, tuple[list[int], list[float], list[float]]] = {rule: ([], [], []) for rule in BOT_RULES}
    findings: list[Finding] = []
    fires_when = {
        Rule.TRADE_BURST: f"value > {float(p.burst_trades_above):g}",
        Rule.LOSS_STREAK: f"value >= {float(p.losses_at_least):g}",
        Rule.SLIPPAGE: f"value > {p.slippage_above_pct:g}",
        Rule.API_ERRORS: f"value >= {p.api_error_rate_at_least_pct:g}",
        Rule.HEARTBEAT: f"value >= {p.heartbeat_silence_at_least_s:g}",
    }

    def record(bot: BotRecord, rule: Rule, value: float, threshold: float, ladder: Ladder, strict: bool,
               basis: float, unit: str, window: str, basis_label: str) -> None:  # fmt: skip
        fired = value > threshold if strict else value >= threshold
        level = _grade(value, fired, ladder, strict)
        levels, values, bases = columns[rule]
        levels.append(level)
        values.append(value)
        bases.append(basis)
        if level:
            evidence = Evidence(value, float(threshold), fires_when[rule], unit, window, basis, basis_label)
            findings.append(Finding(rule, bot.bot_id, now_s, Severity(level), evidence))

    burst_window = f"trades stamped after now - {p.burst_window_s:g} s"
    api_window = "the caller's request-count window"
    heartbeat_basis = "last heartbeat (epoch s)"
    for bot in records:
        trades = bot.trades
        recent = 0
        for trade in trades:
            if trade.time_s > now_s - p.burst_window_s:
                recent += 1
        record(bot, Rule.TRADE_BURST, float(recent), p.burst_trades_above, p.burst_severity, True,
               p.burst_window_s, "trades", burst_window, "window (s)")  # fmt: skip

        last = trades[-p.loss_lookback_trades :]
        losses = 0
        for trade in last:
            if trade.pnl < 0:
                losses += 1
        record(bot, Rule.LOSS_STREAK, float(losses), p.losses_at_least, p.loss_severity, False, float(len(last)),
               "losing trades", f"last {p.loss_lookback_trades} trades", "trades considered")  # fmt: skip

        last = trades[-p.slippage_lookback_trades :]
        mean = sum(t.slippage_pct for t in last) / len(last) if last else math.nan
        record(bot, Rule.SLIPPAGE, mean, p.slippage_above_pct, p.slippage_severity, True, float(len(last)),
               "% mean adverse slippage", f"last {p.slippage_lookback_trades} trades", "trades considered")  # fmt: skip

        rate = 100.0 * bot.api_errors / bot.api_requests if bot.api_requests >= p.api_min_requests else math.nan
        record(bot, Rule.API_ERRORS, rate, p.api_error_rate_at_least_pct, p.api_error_severity, False,
               float(bot.api_requests), "% of requests failed", api_window, "requests")  # fmt: skip

        silence = math.inf if math.isnan(bot.last_heartbeat_s) else now_s - bot.last_heartbeat_s
        record(bot, Rule.HEARTBEAT, silence, p.heartbeat_silence_at_least_s, p.heartbeat_severity, False,
               bot.last_heartbeat_s, "s without a heartbeat", "since the last heartbeat", heartbeat_basis)  # fmt: skip

    arrays = {
        rule: (np.array(levels, dtype=np.int8), np.array(values), np.array(bases))
        for rule, (levels, values, bases) in columns.items()
    }
    return arrays, findings


def _grade(value: float, fired: bool, ladder: Ladder, strict: bool) -> int:
    if not fired:
        return 0
    level = ladder.base
    for step, severity in ladder.steps:
        if (value > step) if strict else (value >= step):
            level = severity
    return int(level)


def max_difference(scan: BotScan, loop: LoopColumns, ours: list[Finding] | None, theirs: list[Finding]) -> float:
    """Largest difference between the two outputs; NaN must meet NaN, and differing findings are infinite."""
    worst = 0.0
    for rule_scan in scan.rules:
        level, value, basis = loop[rule_scan.rule]
        worst = max(worst, float(np.max(np.abs(rule_scan.level[0].astype(np.int64) - level), initial=0)))
        for a, b in ((rule_scan.value[0], value), (rule_scan.basis[0], basis)):
            if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.array_equal(np.isinf(a), np.isinf(b)):
                return math.inf
            finite = np.isfinite(a)
            worst = max(worst, float(np.max(np.abs(a[finite] - b[finite]), initial=0.0)))
    if ours is not None and [(f.rule, f.subject, f.severity) for f in ours] != [
        (f.rule, f.subject, f.severity) for f in theirs
    ]:
        return math.inf
    return worst


def synthetic_population(n_bots: int, *, now_s: float = NOW_S, seed: int = 7) -> list[BotRecord]:
    """``n_bots`` bots over the last hour, a few percent of them in each kind of trouble."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_bots):
        kind = rng.random()
        count = int(rng.poisson(12))
        times = np.sort(now_s - rng.uniform(0.0, 3600.0, count))
        if kind < 0.01:  # a runaway loop: a burst of trades in the last few minutes
            times = np.sort(np.concatenate([times, now_s - rng.uniform(0.0, 300.0, int(rng.integers(15, 130)))]))
            count = len(times)
        pnl = rng.normal(-1.0 if 0.01 <= kind < 0.03 else 0.3, 1.0, count)
        slippage = np.abs(rng.normal(0.9 if 0.03 <= kind < 0.05 else 0.1, 0.3, count))
        heartbeat = now_s - rng.exponential(60.0)
        if 0.05 <= kind < 0.07:
            heartbeat = now_s - rng.uniform(600.0, 7200.0)
        elif 0.07 <= kind < 0.075:
            heartbeat = math.nan
        requests = int(rng.poisson(50))
        errors = int(rng.binomial(requests, 0.4 if 0.08 <= kind < 0.1 else 0.02))
        trades = tuple(
            BotTrade(float(t), float(x), float(s))
            for t, x, s in zip(times.tolist(), pnl.tolist(), slippage.tolist(), strict=True)
        )
        records.append(BotRecord(f"bot-{i:05d}", trades, heartbeat, requests, errors))
    return records


def _scan_and_find(activity: BotActivity) -> list[Finding]:
    return scan_bots(activity, now_s=NOW_S).findings()


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_anomalies() -> list[tuple[str, float, float, float]]:
    """Rows ``(case, our seconds, baseline seconds, max difference)``, measured now, in this process."""
    rows: list[tuple[str, float, float, float]] = []
    for n_bots in (1_000, 10_000):
        records = synthetic_population(n_bots)
        activity = BotActivity.from_records(records)
        loop, loop_findings = scan_bots_loop(records, NOW_S)
        scan = scan_bots(activity, now_s=NOW_S)
        findings = scan.findings()
        repeats = 200 if n_bots <= 1_000 else 50
        ours_full = _median_seconds(partial(_scan_and_find, activity), repeats)
        ours_arrays = _median_seconds(partial(scan_bots, activity, now_s=NOW_S), repeats)
        baseline = _median_seconds(partial(scan_bots_loop, records, NOW_S), 5)
        pack = _median_seconds(partial(BotActivity.from_records, records), 5)
        rows.append((f"bots_{n_bots}", ours_full, baseline, max_difference(scan, loop, findings, loop_findings)))
        rows.append((f"bots_{n_bots}_arrays_only", ours_arrays, baseline, max_difference(scan, loop, None, [])))
        rows.append((f"bots_{n_bots}_pack", pack, math.nan, math.nan))
    return rows


def main() -> None:
    print("bot anomaly pass (5 rules) vs a per-bot Python loop; median seconds")
    print(f"{'case':28}{'ours ms':>10}{'loop ms':>10}{'speed-up':>10}{'max diff':>12}")
    for case, ours, baseline, difference in bench_anomalies():
        speedup = baseline / ours if math.isfinite(baseline) else math.nan
        print(f"{case:28}{ours * 1e3:>10.2f}{baseline * 1e3:>10.2f}{speedup:>10.1f}{difference:>12.3g}")


if __name__ == "__main__":
    main()
