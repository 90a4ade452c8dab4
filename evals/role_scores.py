"""Scores per role: is the analyst calibrated, do the validator's vetoes catch losers, does the commander's size
follow the outcome, how many later winners did the pre-screen settle. From a run's decision lines
(`evals.runner.decision_line`) and the set's labels (`evals.labels`), nothing else.

- Analyst: each long or short view states a `confidence`; the view "went its way" when the label's forward
  return has its sign (long: > 0, short: < 0). Brier score = mean (confidence - went its way)^2 over those
  views, and a reliability curve (confidence bins of width 0.1: mean confidence, share that went its way,
  count). Accuracy by direction as the analysis says: long, short, and flat (right when the forward return
  stayed within `flat_band`, the labels' stop distance: nothing worth a trade happened).
- Validator: of its vetoes, the share that would have lost (`evals.scores.would_have_lost`: precision, the
  gate's veto hit rate); of the losers it saw, the share it vetoed (recall); what the vetoes saved or cost:
  -`STAKE` x the label's exit return per vetoed event, summed (positive = saved), and split into losses
  avoided and gains forgone.
- Commander: the commanded `size_pct` of its buys against the label's exit return (Pearson correlation, mean
  exit return per size bucket of one percentage point), and the risk guard's clips of its orders (share of
  buy or sell commands the guard changed, resampled by event: it needs no label; per changed field, the
  relative clip |before - after| / |before|).
- Pre-screen: of the events it settled ("screened_out") that have a symbol, the later winners (forward
  return > 0 or the target hit), their share and the P&L they would have made at `STAKE`.

Decisions that must not be silently changed:
- Nothing is dropped silently: every role's table counts the events it reached, those it did not, and those
  without a tradeable label (no label, or a market-wide event without a symbol), and the report shows them.
- A field absent from the lines (runs written before it existed) gives None ("n/a"), never an error.
- Intervals are `evals.intervals.bootstrap_interval` resampling whole days (the label's `day`): events of
  one day share the market. Shares and means resample the events' values; sums and the correlation are
  recomputed on each resample.
- A buy's outcome is the label's `exit_return` (the offensive posture's stop and target), as the run's P&L
  is scored; flat views and vetoes are judged on the same long label.

Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evals.controls import STAKE
from evals.intervals import Interval, bootstrap_interval, total
from evals.labels import DEFAULT_STOP
from evals.scores import would_have_lost

__all__ = [
    "AnalystScores",
    "ClipSummary",
    "CommanderScores",
    "Estimate",
    "PreScreenScores",
    "ReliabilityBin",
    "RoleScores",
    "SizeBucket",
    "ValidatorScores",
    "role_scores",
    "role_scores_json",
]

Line = Mapping[str, Any]
Labels = Mapping[str, dict[str, Any]]  # by event id, as `evals.sets.read_labels` gives them
RELIABILITY_BINS = 10  # equal-width confidence bins over [0, 1]
SIZE_BUCKET_PCT = 1.0  # width of a commander size bucket, in percentage points


@dataclass(frozen=True, slots=True)
class Estimate:
    """A figure over `count` events and its 95 % interval (None: no events, or too few days to resample)."""

    value: float | None
    count: int
    interval: Interval | None = None


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_confidence: float
    hit_share: Estimate  # share of the bin's views that went their way


@dataclass(frozen=True, slots=True)
class AnalystScores:
    recorded: bool  # the lines carry the analysis at all
    reached: int  # events with an analysis
    not_reached: int
    untradeable: int  # analyses of events without a label with a symbol
    no_confidence: int  # tradeable directional analyses without a confidence field
    brier: Estimate  # over tradeable long and short views; lower is better
    reliability: tuple[ReliabilityBin, ...]
    accuracy: dict[str, Estimate]  # "long", "short", "flat"


@dataclass(frozen=True, slots=True)
class ValidatorScores:
    recorded: bool
    reached: int  # events with a verdict
    not_reached: int
    untradeable: int
    vetoes: int  # tradeable vetoes
    precision: Estimate  # of the vetoes, the share that would have lost
    recall: Estimate  # of the losers it saw, the share it vetoed
    net_saved: Estimate  # sum of -STAKE x exit return over the vetoes, fraction of starting capital
    losses_avoided: float  # the positive part of that sum
    gains_forgone: float  # the negative part, as a positive number


@dataclass(frozen=True, slots=True)
class SizeBucket:
    low_pct: float
    high_pct: float
    mean_exit_return: Estimate


@dataclass(frozen=True, slots=True)
class ClipSummary:
    field: str
    count: int  # clips of this field
    mean: float | None  # relative clip; None when before or after is not a number
    max: float | None
    rules: dict[str, int]


@dataclass(frozen=True, slots=True)
class CommanderScores:
    recorded: bool
    reached: int  # events with a command
    not_reached: int
    buys: int  # tradeable buys with a size
    holds: int
    sells: int
    untradeable: int
    size_return_correlation: Estimate
    size_buckets: tuple[SizeBucket, ...]
    guarded: int  # buy or sell commands, which the risk guard saw
    clipped: Estimate  # share of them the guard changed
    clips: tuple[ClipSummary, ...]


@dataclass(frozen=True, slots=True)
class PreScreenScores:
    screened_out: int
    tradeable: int  # of them, with a label with a symbol
    untradeable: int  # market-wide (no symbol) or unlabelled
    winners: Estimate  # share that later rose or hit the target
    winners_pnl: float  # STAKE x exit return summed over the winners, fraction of starting capital
    pnl_if_bought: Estimate  # the same sum over every tradeable screened-out event


@dataclass(frozen=True, slots=True)
class RoleScores:
    events: int
    outcomes: dict[str, int]
    stake: float
    analyst: AnalystScores
    validator: ValidatorScores
    commander: CommanderScores
    pre_screen: PreScreenScores


def role_scores(
    decisions: Sequence[Line], labels: Labels, *, stake: float = STAKE, flat_band: float = DEFAULT_STOP
) -> RoleScores:
    """The per-role scores of a run's decision lines against the set's labels (by event id)."""
    return RoleScores(
        events=len(decisions),
        outcomes=dict(sorted(Counter(str(d.get("outcome")) for d in decisions).items())),
        stake=stake,
        analyst=analyst_scores(decisions, labels, flat_band),
        validator=validator_scores(decisions, labels, stake),
        commander=commander_scores(decisions, labels),
        pre_screen=pre_screen_scores(decisions, labels, stake),
    )


def role_scores_json(scores: RoleScores) -> dict[str, Any]:
    return asdict(scores)


def analyst_scores(decisions: Sequence[Line], labels: Labels, flat_band: float) -> AnalystScores:
    reached = [d for d in decisions if isinstance(d.get("analysis"), dict)]
    tradeable = [(d["analysis"], label) for d in reached if (label := _tradeable(d, labels)) is not None]
    right: dict[str, list[tuple[bool, str]]] = {"long": [], "short": [], "flat": []}
    calibration: list[tuple[float, bool, str]] = []
    no_confidence = 0
    for analysis, label in tradeable:
        direction, forward = analysis.get("direction"), float(label["forward_return"])
        if direction not in right:
            continue
        went = {"long": forward > 0, "short": forward < 0, "flat": abs(forward) <= flat_band}[direction]
        right[direction].append((went, label["day"]))
        if direction == "flat":
            continue
        confidence = analysis.get("confidence")
        if isinstance(confidence, int | float):
            calibration.append((float(confidence), went, label["day"]))
        else:
            no_confidence += 1
    errors = [(p - hit) ** 2 for p, hit, _ in calibration]
    return AnalystScores(
        recorded=any("analysis" in d for d in decisions),
        reached=len(reached),
        not_reached=len(decisions) - len(reached),
        untradeable=len(reached) - len(tradeable),
        no_confidence=no_confidence,
        brier=_mean_estimate(errors, [day for *_, day in calibration]),
        reliability=_reliability(calibration),
        accuracy={name: _share([hit for hit, _ in flags], [day for _, day in flags]) for name, flags in right.items()},
    )


def _reliability(calibration: list[tuple[float, bool, str]]) -> tuple[ReliabilityBin, ...]:
    members: dict[int, list[tuple[float, bool, str]]] = defaultdict(list)
    for entry in calibration:
        members[min(int(entry[0] * RELIABILITY_BINS), RELIABILITY_BINS - 1)].append(entry)
    return tuple(
        ReliabilityBin(
            low=index / RELIABILITY_BINS,
            high=(index + 1) / RELIABILITY_BINS,
            count=len(entries),
            mean_confidence=float(np.mean([p for p, _, _ in entries])),
            hit_share=_share([hit for _, hit, _ in entries], [day for *_, day in entries]),
        )
        for index, entries in sorted(members.items())
    )


def validator_scores(decisions: Sequence[Line], labels: Labels, stake: float) -> ValidatorScores:
    reached = [d for d in decisions if isinstance(d.get("verdict"), dict)]
    seen = [(d["verdict"].get("verdict") == "veto", label) for d in reached if (label := _tradeable(d, labels))]
    vetoed = [label for veto, label in seen if veto]
    losers = [(veto, label["day"]) for veto, label in seen if would_have_lost(label)]
    saved = [(-stake * float(label["exit_return"]), label["day"]) for label in vetoed]
    return ValidatorScores(
        recorded=any("verdict" in d for d in decisions),
        reached=len(reached),
        not_reached=len(decisions) - len(reached),
        untradeable=len(reached) - len(seen),
        vetoes=len(vetoed),
        precision=_share([would_have_lost(label) for label in vetoed], [label["day"] for label in vetoed]),
        recall=_share([veto for veto, _ in losers], [day for _, day in losers]),
        net_saved=_sum_estimate([v for v, _ in saved], [day for _, day in saved]),
        losses_avoided=float(sum(v for v, _ in saved if v > 0)),
        gains_forgone=float(-sum(v for v, _ in saved if v < 0)),
    )


def commander_scores(decisions: Sequence[Line], labels: Labels) -> CommanderScores:
    reached = [d for d in decisions if isinstance(d.get("command"), dict)]
    actions = Counter(str(d["command"].get("action")) for d in reached)
    buys: list[tuple[float, float, str]] = []
    untradeable = 0
    for d in reached:
        label, size = _tradeable(d, labels), d["command"].get("size_pct")
        if label is None:
            untradeable += 1
        elif d["command"].get("action") == "buy" and isinstance(size, int | float):
            buys.append((float(size), float(label["exit_return"]), label["day"]))
    guarded = [d for d in reached if d["command"].get("action") in ("buy", "sell")]
    changes = [list(d.get("guard_changes") or []) for d in guarded]
    return CommanderScores(
        recorded=any("command" in d for d in decisions),
        reached=len(reached),
        not_reached=len(decisions) - len(reached),
        buys=len(buys),
        holds=actions["hold"],
        sells=actions["sell"],
        untradeable=untradeable,
        size_return_correlation=_correlation(buys),
        size_buckets=_size_buckets(buys),
        guarded=len(guarded),
        clipped=_share([bool(c) for c in changes], [str(d.get("event_id")) for d in guarded]),
        clips=_clip_summaries([c for group in changes for c in group]),
    )


def _size_buckets(buys: list[tuple[float, float, str]]) -> tuple[SizeBucket, ...]:
    members: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    for buy in buys:
        members[int(buy[0] // SIZE_BUCKET_PCT)].append(buy)
    return tuple(
        SizeBucket(
            low_pct=index * SIZE_BUCKET_PCT,
            high_pct=(index + 1) * SIZE_BUCKET_PCT,
            mean_exit_return=_mean_estimate([r for _, r, _ in entries], [day for *_, day in entries]),
        )
        for index, entries in sorted(members.items())
    )


def _clip_summaries(changes: list[Mapping[str, Any]]) -> tuple[ClipSummary, ...]:
    by_field: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for change in changes:
        by_field[str(change.get("field"))].append(change)
    summaries = []
    for name, group in sorted(by_field.items()):
        clips = [c for c in map(_relative_clip, group) if c is not None]
        summaries.append(
            ClipSummary(
                field=name,
                count=len(group),
                mean=float(np.mean(clips)) if clips else None,
                max=max(clips) if clips else None,
                rules=dict(sorted(Counter(str(c.get("rule")) for c in group).items())),
            )
        )
    return tuple(summaries)


def _relative_clip(change: Mapping[str, Any]) -> float | None:
    """|before - after| / |before| when both are numbers (a changed order type is not: None)."""
    try:
        before, after = float(change["before"]), float(change["after"])
    except (KeyError, TypeError, ValueError):
        return None
    if before == 0 or not np.isfinite(before) or not np.isfinite(after):
        return None
    return abs(before - after) / abs(before)


def pre_screen_scores(decisions: Sequence[Line], labels: Labels, stake: float) -> PreScreenScores:
    screened = [d for d in decisions if d.get("outcome") == "screened_out"]
    tradeable = [label for d in screened if (label := _tradeable(d, labels)) is not None]
    winners = [float(label["forward_return"]) > 0 or label.get("barrier") == "target" for label in tradeable]
    days = [label["day"] for label in tradeable]
    pnl = [stake * float(label["exit_return"]) for label in tradeable]
    return PreScreenScores(
        screened_out=len(screened),
        tradeable=len(tradeable),
        untradeable=len(screened) - len(tradeable),
        winners=_share(winners, days),
        winners_pnl=float(sum(v for v, won in zip(pnl, winners, strict=True) if won)),
        pnl_if_bought=_sum_estimate(pnl, days),
    )


def _tradeable(decision: Line, labels: Labels) -> dict[str, Any] | None:
    """The event's label when it has a symbol and a long's returns (market-wide events have neither)."""
    label = labels.get(str(decision.get("event_id")))
    if label is None or label.get("symbol") is None or label.get("exit_return") is None:
        return None
    return label


def _share(flags: Sequence[bool], days: Sequence[str]) -> Estimate:
    return _mean_estimate([1.0 if flag else 0.0 for flag in flags], days)


def _mean_estimate(values: Sequence[float], days: Sequence[str]) -> Estimate:
    if not values:
        return Estimate(None, 0)
    return Estimate(float(np.mean(values)), len(values), bootstrap_interval(values, blocks=days))


def _sum_estimate(values: Sequence[float], days: Sequence[str]) -> Estimate:
    if not values:
        return Estimate(0.0, 0)
    return Estimate(float(np.sum(values)), len(values), bootstrap_interval(values, statistic=total, blocks=days))


def _correlation(pairs: list[tuple[float, float, str]]) -> Estimate:
    """Pearson correlation of size and exit return; None when either is constant (on a resample too: then
    no interval)."""
    sizes = np.array([s for s, _, _ in pairs], dtype=np.float64)
    returns = np.array([r for _, r, _ in pairs], dtype=np.float64)
    statistic = _pearson_of(sizes, returns)
    value = statistic(np.arange(len(pairs), dtype=np.float64))
    if not np.isfinite(value):
        return Estimate(None, len(pairs))
    indices = [float(i) for i in range(len(pairs))]
    interval = bootstrap_interval(indices, statistic=statistic, blocks=[day for *_, day in pairs])
    if interval is not None and not (np.isfinite(interval.low) and np.isfinite(interval.high)):
        interval = None
    return Estimate(value, len(pairs), interval)


def _pearson_of(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> Callable[[npt.NDArray[np.float64]], float]:
    def pearson(indices: npt.NDArray[np.float64]) -> float:
        picked = indices.astype(np.intp)
        a, b = x[picked], y[picked]
        if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
            return float("nan")
        return float(np.corrcoef(a, b)[0, 1])

    return pearson
