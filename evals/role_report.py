"""The per-role part of the eval report: the "## Per role" Markdown section, ``role_scores.json`` and
``reliability.png`` (the analyst's reliability curve against the diagonal).

`write_role_report` is the one call `evals.report.write_report` makes; the figures come from
`evals.role_scores`. Decisions that must not be silently changed: every table shows how many events the
role reached and how many it did not, and a figure without events reads "n/a", never 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from evals.intervals import Interval
from evals.role_scores import AnalystScores, Estimate, RoleScores, role_scores, role_scores_json
from evals.runner import DECISIONS_FILE, read_lines
from evals.sets import read_labels

ROLE_SCORES_FILE, RELIABILITY_CHART = "role_scores.json", "reliability.png"


def write_role_report(set_folder: Path, run_folder: Path) -> str:
    """Write ``role_scores.json`` and ``reliability.png`` into `run_folder`; the Markdown section for report.md."""
    scores = role_scores(read_lines(run_folder / DECISIONS_FILE), read_labels(set_folder))
    text = json.dumps(role_scores_json(scores), sort_keys=True, indent=1) + "\n"
    (run_folder / ROLE_SCORES_FILE).write_text(text, encoding="utf-8")
    reliability_chart(scores.analyst, run_folder / RELIABILITY_CHART)
    return role_section(scores)


def role_section(scores: RoleScores) -> str:
    """Markdown: who reached how many events, then one small table per role (values with 95 % intervals)."""
    stake = f"{scores.stake:.1%}"
    parts = [
        "## Per role\n",
        "Intervals: 95 %, bootstrap over days. P&L figures are fractions of the starting capital at a "
        f"{stake} stake per event.\n",
        _reach_table(scores),
        "### Analyst\n",
        _analyst_table(scores.analyst),
        _reliability_table(scores.analyst),
        f"![{RELIABILITY_CHART}]({RELIABILITY_CHART})\n",
        "### Validator\n",
        _validator_table(scores),
        "### Commander\n",
        _commander_table(scores),
        "### Pre-screen\n",
        _pre_screen_table(scores),
    ]
    return "\n".join(parts)


def _reach_table(scores: RoleScores) -> str:
    a, v, c, p = scores.analyst, scores.validator, scores.commander, scores.pre_screen
    rows = [
        ("pre-screen (settled)", p.screened_out, scores.events - p.screened_out, p.untradeable, True),
        ("analyst", a.reached, a.not_reached, a.untradeable, a.recorded),
        ("validator", v.reached, v.not_reached, v.untradeable, v.recorded),
        ("commander", c.reached, c.not_reached, c.untradeable, c.recorded),
    ]
    lines = ["| role | events reached | not reached | reached without a tradeable label |", "|---|---:|---:|---:|"]
    for name, reached, missed, untradeable, recorded in rows:
        if recorded:
            lines.append(f"| {name} | {reached} | {missed} | {untradeable} |")
        else:
            lines.append(f"| {name} | n/a (not recorded in this run) | n/a | n/a |")
    outcomes = ", ".join(f"{name} {count}" for name, count in scores.outcomes.items())
    return "\n".join(lines) + f"\n\n{scores.events} events: {outcomes}.\n"


def _analyst_table(analyst: AnalystScores) -> str:
    rows = [("Brier score, long and short views (lower is better)", analyst.brier, "ratio")]
    rows += [(f"accuracy, {name} views", estimate, "fraction") for name, estimate in analyst.accuracy.items()]
    note = "Flat views are right when the forward return stayed within the stop distance."
    if analyst.no_confidence:
        note += f" {analyst.no_confidence} long or short views stated no confidence (left out of the Brier score)."
    return _table(rows) + f"\n{note}\n"


def _reliability_table(analyst: AnalystScores) -> str:
    if not analyst.reliability:
        return "Reliability: n/a (no long or short view with a confidence).\n"
    lines = ["| confidence | views | mean confidence | went its way | 95 % interval |", "|---|---:|---:|---:|---|"]
    for b in analyst.reliability:
        hit = b.hit_share
        lines.append(
            f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {b.mean_confidence:.3f} | "
            f"{_value(hit.value, 'fraction')} | {_interval(hit.interval, 'fraction')} |"
        )
    return "\n".join(lines) + "\n"


def _validator_table(scores: RoleScores) -> str:
    v = scores.validator
    rows = [
        ("veto precision: vetoes that would have lost", v.precision, "fraction"),
        ("veto recall: losers it saw that it vetoed", v.recall, "fraction"),
        ("saved by the vetoes, net (positive = saved)", v.net_saved, "pnl"),
    ]
    return _table(rows) + (
        f"\nLosses avoided {_value(v.losses_avoided, 'pnl')}, gains forgone {_value(v.gains_forgone, 'pnl')}.\n"
    )


def _commander_table(scores: RoleScores) -> str:
    c = scores.commander
    rows = [
        ("correlation of commanded size with exit return (buys)", c.size_return_correlation, "ratio"),
        ("orders the risk guard clipped", c.clipped, "fraction"),
    ]
    rows += [
        (f"mean exit return, size {b.low_pct:g}-{b.high_pct:g} %", b.mean_exit_return, "fraction")
        for b in c.size_buckets
    ]
    text = _table(rows) + f"\n{c.buys} buys with a label, {c.holds} holds, {c.sells} sells.\n"
    if c.clips:
        text += "\n| clipped field | clips | mean relative clip | max relative clip | rules |\n"
        text += "|---|---:|---:|---:|---|\n"
        for clip in c.clips:
            rules = ", ".join(f"{rule} {n}" for rule, n in clip.rules.items())
            text += f"| {clip.field} | {clip.count} | {_value(clip.mean, 'ratio')} | {_value(clip.max, 'ratio')} | "
            text += f"{rules} |\n"
    return text


def _pre_screen_table(scores: RoleScores) -> str:
    p = scores.pre_screen
    rows = [
        ("winners screened out: later rose or hit the target", p.winners, "fraction"),
        ("P&L of every screened-out event, had it been bought", p.pnl_if_bought, "pnl"),
    ]
    winners = round((p.winners.value or 0.0) * p.winners.count)
    return _table(rows) + (
        f"\n{winners} winners of {p.tradeable} screened-out events with a symbol would have made "
        f"{_value(p.winners_pnl, 'pnl')}; {p.untradeable} screened-out events had no tradeable label.\n"
    )


def _table(rows: list[tuple[str, Estimate, str]]) -> str:
    lines = ["| score | value | 95 % interval | events |", "|---|---:|---|---:|"]
    for name, estimate, unit in rows:
        lines.append(
            f"| {name} | {_value(estimate.value, unit)} | {_interval(estimate.interval, unit)} | {estimate.count} |"
        )
    return "\n".join(lines) + "\n"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "fraction":
        return f"{value:.1%}"
    if unit == "pnl":
        return f"{value:+.3%}"
    return f"{value:.3g}"


def _interval(interval: Interval | None, unit: str) -> str:
    if interval is None:
        return "n/a"
    return f"{_value(interval.low, unit)} to {_value(interval.high, unit)}"


def reliability_chart(analyst: AnalystScores, path: Path) -> None:
    """Mean confidence against the share that went the analyst's way, per bin, with 95 % intervals."""
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    bins = [b for b in analyst.reliability if b.hit_share.value is not None]
    if bins:
        x = [b.mean_confidence for b in bins]
        y = [float(b.hit_share.value or 0.0) for b in bins]
        below = [y[i] - (b.hit_share.interval.low if b.hit_share.interval else y[i]) for i, b in enumerate(bins)]
        above = [(b.hit_share.interval.high if b.hit_share.interval else y[i]) - y[i] for i, b in enumerate(bins)]
        axes.errorbar(x, y, yerr=[below, above], fmt="o", capsize=3, label="analyst (95 % interval)")
        for b, xi, yi in zip(bins, x, y, strict=True):
            axes.annotate(f"n={b.count}", (xi, yi), textcoords="offset points", xytext=(6, -12), fontsize=8)
    else:
        axes.text(0.5, 0.5, "no long or short view with a confidence", ha="center", va="center")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("stated confidence (bin mean)")
    axes.set_ylabel("share that went the analyst's way")
    axes.set_title("Analyst reliability")
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})  # as the report's charts: no version stamp
    plt.close(figure)
