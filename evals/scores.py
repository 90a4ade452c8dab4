"""Scores of one eval run: how good the decisions were, judged by the set's labels, and what they cost.

Definitions (fractions, not percent; targets from the source documents where they give one):
- directional accuracy [> 65 %]: of the ordered buys, the share whose label's forward return is > 0;
- veto hit rate [> 80 %]: of the vetoed events, the share that would have lost (forward return <= 0) or hit
  the stop;
- execution success [> 99.5 %]: ordered / (ordered + execution_failed + blocked by the risk guard);
- P&L of the decisions: each ordered buy stakes `STAKE` of the starting capital and is held to its label's
  exit (stop, target or the horizon's close); realised P&L is booked on the exit day. The benchmark is an
  equal-weight buy-and-hold of the set's instruments from its first event day. Sharpe is annualised on
  daily equity (252 days); max drawdown is negative;
- stage latency p50/p95/p99 in milliseconds, from the timings file (wall clock);
- LLM calls, tokens and cost per decision (the `rules` provider is no LLM: zero calls);
- pre-screen share: events settled by the pre-screen (outcome "screened_out") without any role call.

How sure they are, and against what (by default, in every `score_run`):
- every score over events carries its 95 % bootstrap interval by event (`interval`) and by day blocks
  (`day_interval`): directional accuracy, veto hit rate, execution success, pre-screen share, P&L, Sharpe and
  max drawdown (how each is resampled: `evals.score_intervals`);
- the no-edge control (`evals.controls`) on the same set: as many trades as the run's ordered buys, drawn
  from the set's tradable labels (those with an `exit_return`), random directions. `control_pnl` and
  `control_directional_accuracy` are the control's mean with its 95 % band as `interval`;
  `pnl_vs_control_p` and `directional_accuracy_vs_control_p` are the shares of control draws that scored at
  least the run's (one-sided p-values: small means the run beat chance);
- the book's average exposure (`avg_exposure`, fraction of the starting capital, `evals.exposure`) and the
  benchmark at the book's exposure of each day (`exposure_matched_benchmark_pnl`,
  `quant.benchmark_at_exposure`); `benchmark_pnl` stays the 100 %-invested buy-and-hold.

`scores_by_bot` splits the decision scores by the bot each event belongs to (a set built with `--bots`
attributes its events to the reference bots).

Pure apart from reading the run's and the set's files.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evals.controls import STAKE, no_edge_control
from evals.exposure import book_exposure
from evals.intervals import Interval, total
from evals.runner import DECISIONS_FILE, TIMINGS_FILE, read_lines
from evals.score_intervals import BookStatistic, interval_pair
from evals.sets import read_labels, read_manifest
from quant.benchmark_at_exposure import benchmark_at_exposure
from quant.metrics import max_drawdown, sharpe_ratio, total_return


@dataclass(frozen=True, slots=True)
class Score:
    """One score. `target` is the bound from the source documents, if any; `met` is None without a target.
    `interval` / `day_interval`: its 95 % bootstrap interval by event / by day (a control's score: the band
    where chance lands), None when not computed or too few events."""

    value: float | None
    unit: str  # "fraction", "ratio", "ms", "count", "usd", "p" (a one-sided p-value)
    target: float | None = None
    higher_is_better: bool = True
    interval: Interval | None = None
    day_interval: Interval | None = None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value > self.target if self.higher_is_better else self.value < self.target

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass(frozen=True, slots=True)
class Curves:
    """Daily equity of the decisions and of the benchmark, on the set's calendar (start = 1.0); the book's
    exposure each day and the benchmark at that exposure."""

    dates: list[str]
    strategy: list[float]
    benchmark: list[float]
    exposure: list[float] = field(default_factory=list)
    exposure_matched: list[float] = field(default_factory=list)


def score_run(set_folder: Path, run_folder: Path) -> tuple[dict[str, Score], Curves]:
    """The scores of the run in `run_folder` on the set in `set_folder`, and the equity curves behind them."""
    decisions = read_lines(run_folder / DECISIONS_FILE)
    timings = read_lines(run_folder / TIMINGS_FILE) if (run_folder / TIMINGS_FILE).exists() else []
    labels = read_labels(set_folder)
    manifest = read_manifest(set_folder)
    own, curves = _decision_scores(decisions, labels, manifest)
    own = _with_intervals(own, decisions, labels, curves.dates)
    outcomes = [d["outcome"] for d in decisions]
    attempted = [d for d in decisions if d["outcome"] in ("ordered", "execution_failed", "blocked")]
    success_interval, success_day_interval = interval_pair(
        [float(d["outcome"] == "ordered") for d in attempted], [_day(d, labels) for d in attempted]
    )
    scores: dict[str, Score] = {
        **{name: own[name] for name in ("events", "orders", "directional_accuracy", "veto_hit_rate", "vetoes")},
        "execution_success": Score(
            outcomes.count("ordered") / len(attempted) if attempted else None,
            "fraction",
            0.995,
            interval=success_interval,
            day_interval=success_day_interval,
        ),
        **{name: own[name] for name in ("pnl", "sharpe", "max_drawdown")},
        "benchmark_pnl": Score(total_return(curves.benchmark), "fraction"),
        "benchmark_sharpe": Score(_finite(sharpe_ratio(curves.benchmark)), "ratio"),
        "benchmark_max_drawdown": Score(max_drawdown(curves.benchmark), "fraction"),
        "avg_exposure": Score(_mean(curves.exposure), "fraction"),
        "exposure_matched_benchmark_pnl": Score(total_return(curves.exposure_matched), "fraction"),
        **against_chance(own, labels, decisions),
        "llm_calls_per_decision": Score(_mean([d["llm_calls"] for d in decisions]), "count", higher_is_better=False),
        "tokens_per_decision": Score(
            _mean([d["usage"]["input_tokens"] + d["usage"]["output_tokens"] for d in decisions]), "count"
        ),
        "cost_per_decision_usd": Score(_mean([d["usage"]["cost_usd"] for d in decisions]), "usd"),
        "prescreen_share": own["prescreen_share"],
    }
    for stage, (p50, p95, p99) in stage_percentiles(timings).items():
        scores[f"latency_{stage}_p50_ms"] = Score(p50, "ms", higher_is_better=False)
        scores[f"latency_{stage}_p95_ms"] = Score(p95, "ms", higher_is_better=False)
        scores[f"latency_{stage}_p99_ms"] = Score(p99, "ms", higher_is_better=False)
    return scores, curves


BY_BOT_SCORES = ("events", "orders", "directional_accuracy", "veto_hit_rate", "vetoes", "pnl", "sharpe",
                 "max_drawdown", "prescreen_share")  # fmt: skip


def scores_by_bot(set_folder: Path, run_folder: Path) -> dict[str, dict[str, Score]]:
    """The decision scores of each bot's events (a decision line's `bot_id`; lines written before bots
    existed belong to the default bot), computed as `score_run` computes them for the whole run: the bots'
    event and order counts add up to the run's. Latencies and costs are the run's, not split."""
    decisions = read_lines(run_folder / DECISIONS_FILE)
    labels = read_labels(set_folder)
    manifest = read_manifest(set_folder)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for decision in decisions:
        groups[decision.get("bot_id") or "default"].append(decision)
    by_bot: dict[str, dict[str, Score]] = {}
    for bot, own in sorted(groups.items()):
        scores = _decision_scores(own, labels, manifest)[0]
        by_bot[bot] = {name: scores[name] for name in BY_BOT_SCORES}
    return by_bot


def against_chance(
    own: dict[str, Score], labels: dict[str, dict[str, Any]], decisions: list[dict[str, Any]]
) -> dict[str, Score]:
    """The no-edge control on the run's set and trade count, and the run's one-sided p-values against it."""
    tradable = [label for label in labels.values() if label.get("exit_return") is not None]
    trades = sum(1 for d in decisions if is_buy(d) and d["event_id"] in labels)
    control = no_edge_control(tradable, trades)
    pnl = own["pnl"].value
    scores = {
        "control_pnl": Score(control.pnl.mean, "fraction", interval=control.pnl.interval()),
        "pnl_vs_control_p": Score(
            None if pnl is None else control.pnl.share_at_least(pnl), "p", higher_is_better=False
        ),
    }
    accuracy = control.directional_accuracy
    value = own["directional_accuracy"].value
    scores["control_directional_accuracy"] = Score(
        None if accuracy is None else accuracy.mean,
        "fraction",
        interval=None if accuracy is None else accuracy.interval(),
    )
    scores["directional_accuracy_vs_control_p"] = Score(
        None if accuracy is None or value is None else accuracy.share_at_least(value), "p", higher_is_better=False
    )
    return scores


def _with_intervals(
    own: dict[str, Score], decisions: list[dict[str, Any]], labels: dict[str, dict[str, Any]], dates: list[str]
) -> dict[str, Score]:
    """`own` with the 95 % intervals, by event and by day, of its scores over events."""
    buys = [labels[d["event_id"]] for d in decisions if is_buy(d) and d["event_id"] in labels]
    vetoed = [labels[d["event_id"]] for d in decisions if d["outcome"] == "vetoed" and d["event_id"] in labels]
    buy_days = [label["day"] for label in buys]
    pnl = np.array([STAKE * float(label["exit_return"]) for label in buys], dtype=np.float64)
    rows = {day: row for row, day in enumerate(dates)}
    exit_rows = np.array([rows.get(label["exit_day"], len(dates) - 1) for label in buys], dtype=np.intp)
    picks = [float(i) for i in range(len(buys))]

    def book(metric: Any) -> BookStatistic:
        return BookStatistic(exit_rows, pnl, len(dates), metric)

    intervals = {
        "directional_accuracy": interval_pair([float(v["forward_return"] > 0) for v in buys], buy_days),
        "veto_hit_rate": interval_pair([float(would_have_lost(v)) for v in vetoed], [v["day"] for v in vetoed]),
        "pnl": interval_pair(list(pnl), buy_days, total),
        "sharpe": interval_pair(picks, buy_days, book(sharpe_ratio)),
        "max_drawdown": interval_pair(picks, buy_days, book(max_drawdown)),
        "prescreen_share": interval_pair(
            [float(d["outcome"] == "screened_out") for d in decisions], [_day(d, labels) for d in decisions]
        ),
    }
    return {
        name: dataclasses.replace(score, interval=intervals[name][0], day_interval=intervals[name][1])
        if name in intervals
        else score
        for name, score in own.items()
    }


def _day(decision: dict[str, Any], labels: dict[str, dict[str, Any]]) -> str:
    """The day an event belongs to, for day blocks (an event without a label is a block of its own)."""
    label = labels.get(decision["event_id"])
    return str(label["day"]) if label else f"event:{decision['event_id']}"


def _decision_scores(
    decisions: list[dict[str, Any]], labels: dict[str, dict[str, Any]], manifest: dict[str, Any]
) -> tuple[dict[str, Score], Curves]:
    buys = [d for d in decisions if is_buy(d) and d["event_id"] in labels]
    vetoed = [labels[d["event_id"]] for d in decisions if d["outcome"] == "vetoed" and d["event_id"] in labels]
    outcomes = [d["outcome"] for d in decisions]
    curves = equity_curves(manifest, [labels[d["event_id"]] for d in buys])
    rose = [labels[d["event_id"]]["forward_return"] > 0 for d in buys]
    scores = {
        "events": Score(float(len(decisions)), "count"),
        "orders": Score(float(len(buys)), "count"),
        "directional_accuracy": Score(_share(rose), "fraction", 0.65),
        "veto_hit_rate": Score(_share([would_have_lost(label) for label in vetoed]), "fraction", 0.80),
        "vetoes": Score(float(len(vetoed)), "count"),
        "pnl": Score(total_return(curves.strategy), "fraction"),
        "sharpe": Score(_finite(sharpe_ratio(curves.strategy)), "ratio"),
        "max_drawdown": Score(max_drawdown(curves.strategy), "fraction"),
        "prescreen_share": Score(_share([o == "screened_out" for o in outcomes]), "fraction"),
    }
    return scores, curves


def is_buy(decision: Mapping[str, Any]) -> bool:
    order = decision.get("order")
    return decision["outcome"] == "ordered" and isinstance(order, dict) and order.get("side") == "buy"


def would_have_lost(label: Mapping[str, Any]) -> bool:
    return bool(label["forward_return"] <= 0 or label.get("barrier") == "stop")


def equity_curves(manifest: dict[str, Any], trades: list[dict[str, Any]]) -> Curves:
    dates: list[str] = manifest["prices"]["dates"]
    booked: dict[str, float] = defaultdict(float)
    for label in trades:
        booked[label["exit_day"]] += STAKE * float(label["exit_return"])
    strategy = list(1.0 + np.cumsum([booked.get(day, 0.0) for day in dates]))
    closes = np.array(
        [[np.nan if v is None else v for v in series] for series in manifest["prices"]["close"].values()],
        dtype=np.float64,
    )
    first = closes[:, 0:1]
    with np.errstate(invalid="ignore"):
        relative = closes[np.isfinite(first[:, 0])] / first[np.isfinite(first[:, 0])]
    benchmark = list(np.nanmean(relative, axis=0)) if len(relative) else [1.0] * len(dates)
    exposure = book_exposure(dates, trades)
    return Curves(
        dates,
        [float(v) for v in strategy],
        [float(v) for v in benchmark],
        [float(v) for v in exposure],
        [float(v) for v in benchmark_at_exposure(benchmark, exposure)],
    )


def stage_percentiles(timings: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """p50/p95/p99 in ms per stage, plus "total", over the events where the stage ran."""
    samples: dict[str, list[float]] = defaultdict(list)
    for line in timings:
        for stage, ms in line["stages"].items():
            samples[stage].append(float(ms))
        samples["total"].append(float(line["total_ms"]))
    out: dict[str, tuple[float, float, float]] = {}
    for stage in sorted(samples):
        p50, p95, p99 = np.percentile(np.asarray(samples[stage]), [50, 95, 99])
        out[stage] = (round(float(p50), 3), round(float(p95), 3), round(float(p99), 3))
    return out


def scores_json(scores: dict[str, Score]) -> dict[str, Any]:
    return {name: score.to_json() for name, score in scores.items()}


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _mean(values: list[float] | list[int]) -> float | None:
    return float(np.mean(values)) if values else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
