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

`scores_by_bot` splits the decision scores by the bot each event belongs to (a set built with `--bots`
attributes its events to the reference bots).

Pure apart from reading the run's and the set's files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evals.controls import STAKE
from evals.runner import DECISIONS_FILE, TIMINGS_FILE, read_lines
from evals.sets import read_labels, read_manifest
from quant.metrics import max_drawdown, sharpe_ratio, total_return


@dataclass(frozen=True, slots=True)
class Score:
    """One score. `target` is the bound from the source documents, if any; `met` is None without a target."""

    value: float | None
    unit: str  # "fraction", "ratio", "ms", "count", "usd"
    target: float | None = None
    higher_is_better: bool = True

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value > self.target if self.higher_is_better else self.value < self.target

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass(frozen=True, slots=True)
class Curves:
    """Daily equity of the decisions and of the benchmark, on the set's calendar (start = 1.0)."""

    dates: list[str]
    strategy: list[float]
    benchmark: list[float]


def score_run(set_folder: Path, run_folder: Path) -> tuple[dict[str, Score], Curves]:
    """The scores of the run in `run_folder` on the set in `set_folder`, and the equity curves behind them."""
    decisions = read_lines(run_folder / DECISIONS_FILE)
    timings = read_lines(run_folder / TIMINGS_FILE) if (run_folder / TIMINGS_FILE).exists() else []
    labels = read_labels(set_folder)
    manifest = read_manifest(set_folder)
    own, curves = _decision_scores(decisions, labels, manifest)
    outcomes = [d["outcome"] for d in decisions]
    attempted = sum(outcomes.count(o) for o in ("ordered", "execution_failed", "blocked"))
    scores: dict[str, Score] = {
        **{name: own[name] for name in ("events", "orders", "directional_accuracy", "veto_hit_rate", "vetoes")},
        "execution_success": Score(outcomes.count("ordered") / attempted if attempted else None, "fraction", 0.995),
        **{name: own[name] for name in ("pnl", "sharpe", "max_drawdown")},
        "benchmark_pnl": Score(total_return(curves.benchmark), "fraction"),
        "benchmark_sharpe": Score(_finite(sharpe_ratio(curves.benchmark)), "ratio"),
        "benchmark_max_drawdown": Score(max_drawdown(curves.benchmark), "fraction"),
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


def is_buy(decision: dict[str, Any]) -> bool:
    order = decision.get("order")
    return decision["outcome"] == "ordered" and isinstance(order, dict) and order.get("side") == "buy"


def would_have_lost(label: dict[str, Any]) -> bool:
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
    return Curves(dates, [float(v) for v in strategy], [float(v) for v in benchmark])


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
