"""The eval report: scores as Markdown and JSON, charts as PNG, and the comparison of two runs.

Files written into the run folder by `write_report`:
- ``scores.json`` and ``report.md`` (the score table, targets next to the scores, met or not, each score's
  95 % interval by event and by day; "Against chance": the run next to the no-edge control, buy-and-hold at
  the book's exposure and buy-and-hold 100 % invested; with more than one bot, the decision scores of each
  bot, also in ``scores_by_bot.json``);
- ``equity.png`` (decisions vs buy-and-hold at the book's exposure and 100 % invested, the no-edge
  control's 95 % band of final P&L shaded), ``latency.png`` (histogram of the session latency),
  ``direction.png`` (confusion matrix: what was decided vs whether the forward return was > 0; the accuracy
  and its interval in the title), ``vetoes.png`` (vetoed events: would have lost / would have won; the hit
  rate and its interval in the title).

`compare_runs` says what changed between two runs of the same set: every event whose outcome or order
differs, every score that moved, and for each decision score whether B - A is larger than the noise
(`evals.paired`). Charts use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from evals.intervals import Interval
from evals.paired import paired_differences
from evals.role_report import write_role_report
from evals.runner import DECISIONS_FILE, TIMINGS_FILE, read_lines
from evals.scores import Curves, Score, is_buy, score_run, scores_by_bot, scores_json, would_have_lost
from evals.sets import read_labels, read_manifest

SCORES_FILE, REPORT_FILE, BY_BOT_FILE = "scores.json", "report.md", "scores_by_bot.json"
CHARTS = ("equity.png", "latency.png", "direction.png", "vetoes.png")


def _data_line(set_folder: Path) -> str:
    """Which data the set was built from, as its manifest records it (older sets: nothing)."""
    data = read_manifest(set_folder).get("data")
    if not isinstance(data, dict):
        return ""
    fields = ", ".join(data.get("real_fields", []))
    closes = " (closes only: volume rules skipped)" if data.get("closes_only") else ""
    where = f"{data.get('name')} ({data.get('source')}, sha256 {data.get('sha256')})"
    return f"Data: {where}; real fields: {fields}{closes}\n\n"


def write_report(set_folder: Path, run_folder: Path) -> dict[str, Score]:
    """Score the run, write its report files into `run_folder` and return the scores."""
    scores, curves = score_run(set_folder, run_folder)
    decisions = read_lines(run_folder / DECISIONS_FILE)
    labels = read_labels(set_folder)
    text = json.dumps(scores_json(scores), sort_keys=True, indent=1) + "\n"
    (run_folder / SCORES_FILE).write_text(text, encoding="utf-8")
    markdown = (
        f"# Eval report: {run_folder.name} on {set_folder.name}\n\n{_data_line(set_folder)}"
        + score_table(scores)
        + "\n"
        + against_chance_section(scores)
        + "\n"
    )
    by_bot = scores_by_bot(set_folder, run_folder)
    bot_json = {bot: scores_json(own) for bot, own in by_bot.items()}
    (run_folder / BY_BOT_FILE).write_text(json.dumps(bot_json, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    if len(by_bot) > 1:
        markdown += "## By bot\n\n" + bot_table(by_bot) + "\n"
    markdown += "\n".join(f"![{name}]({name})" for name in CHARTS) + "\n"
    markdown += "\n" + write_role_report(set_folder, run_folder)
    (run_folder / REPORT_FILE).write_text(markdown, encoding="utf-8")
    _equity_chart(curves, scores["control_pnl"].interval, run_folder / "equity.png")
    _latency_chart(read_lines(run_folder / TIMINGS_FILE), run_folder / "latency.png")
    _direction_chart(decisions, labels, scores["directional_accuracy"], run_folder / "direction.png")
    _veto_chart(decisions, labels, scores["veto_hit_rate"], run_folder / "vetoes.png")
    return scores


def bot_table(by_bot: dict[str, dict[str, Score]]) -> str:
    """Markdown: one row per bot, its decision scores (`evals.scores.BY_BOT_SCORES`)."""
    names = list(next(iter(by_bot.values()))) if by_bot else []
    lines = ["| bot | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for bot, scores in by_bot.items():
        lines.append(f"| {bot} | " + " | ".join(_shown(scores[n].value, scores[n].unit) for n in names) + " |")
    return "\n".join(lines) + "\n"


def score_table(scores: dict[str, Score]) -> str:
    """Markdown: each score, its 95 % intervals (a control's score: the band where chance lands), target, met."""
    lines = [
        "| score | value | 95 % CI by event; by day | target | met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for name, score in scores.items():
        target = (
            ""
            if score.target is None
            else f"{'>' if score.higher_is_better else '<'} {_shown(score.target, score.unit)}"
        )
        met = {None: "", True: "yes", False: "**no**"}[score.met]
        lines.append(f"| {name} | {_shown(score.value, score.unit)} | {_intervals(score)} | {target} | {met} |")
    return "\n".join(lines) + "\n"


def against_chance_section(scores: dict[str, Score]) -> str:
    """Markdown: the run's P&L and accuracy next to the no-edge control and buy-and-hold, at the book's
    exposure and 100 % invested."""

    def cell(name: str) -> str:
        score = scores[name]
        band = _band(score.interval, score.unit)
        return _shown(score.value, score.unit) + (f" {band}" if band else "")

    exposure = _shown(scores["avg_exposure"].value, "fraction")
    p_pnl, p_accuracy = (
        _shown(scores[n].value, "p") for n in ("pnl_vs_control_p", "directional_accuracy_vs_control_p")
    )
    rows = [
        "## Against chance",
        "",
        "| book | P&L | directional accuracy | note |",
        "|---|---:|---:|---|",
        f"| the run | {cell('pnl')} | {cell('directional_accuracy')} | 95 % CI by event; average exposure {exposure} |",
        f"| no-edge control | {cell('control_pnl')} | {cell('control_directional_accuracy')} | "
        f"mean [95 % band] of random directions, same trades and sizing; p(control >= run): "
        f"P&L {p_pnl}, accuracy {p_accuracy} |",
        f"| buy-and-hold at the book's exposure | {cell('exposure_matched_benchmark_pnl')} | | "
        f"equal weight, invested as the book was each day (average {exposure}) |",
        f"| buy-and-hold, 100 % invested | {cell('benchmark_pnl')} | | equal weight, all the capital all the time |",
    ]
    return "\n".join(rows) + "\n"


def compare_runs(set_folder: Path, run_a: Path, run_b: Path) -> str:
    """Markdown: the events whose decision changed from run A to run B, and the scores side by side."""
    a = {d["event_id"]: d for d in read_lines(run_a / DECISIONS_FILE)}
    b = {d["event_id"]: d for d in read_lines(run_b / DECISIONS_FILE)}
    labels = read_labels(set_folder)
    lines = [f"# Compare {run_a.name} (A) with {run_b.name} (B) on {set_folder.name}", "", "## Events that changed", ""]
    lines += ["| event | A | B | forward return |", "|---|---|---|---:|"]
    changed = 0
    for event_id in sorted(a.keys() | b.keys()):
        before, after = a.get(event_id), b.get(event_id)
        if _gist(before) == _gist(after):
            continue
        changed += 1
        forward = labels.get(event_id, {}).get("forward_return")
        shown = "" if forward is None else f"{forward:+.2%}"
        lines.append(f"| {event_id} | {_describe(before)} | {_describe(after)} | {shown} |")
    lines += ["", f"{changed} of {len(a.keys() | b.keys())} events changed.", "", "## Scores", ""]
    scores_a, _ = score_run(set_folder, run_a)
    scores_b, _ = score_run(set_folder, run_b)
    lines += ["| score | A | B | change |", "|---|---:|---:|---:|"]
    for name in dict.fromkeys([*scores_a, *scores_b]):
        sa, sb = scores_a.get(name), scores_b.get(name)
        va, vb = (s.value if s else None for s in (sa, sb))
        delta = "" if va is None or vb is None else f"{vb - va:+.4g}"
        known = sa or sb
        unit = known.unit if known else "count"
        lines.append(f"| {name} | {_shown(va, unit)} | {_shown(vb, unit)} | {delta} |")
    lines += ["", "## Against the noise (B - A, paired bootstrap over the set's events)", ""]
    lines += ["| score | B - A | 95 % CI | verdict |", "|---|---:|---:|---|"]
    decisions_a, decisions_b = list(a.values()), list(b.values())
    for difference in paired_differences(decisions_a, decisions_b, labels):
        change = "n/a" if difference.change is None else f"{difference.change:+.4g}"
        interval = difference.interval
        band = "n/a" if interval is None else f"[{interval.low:+.4g}, {interval.high:+.4g}]"
        lines.append(f"| {difference.score} | {change} | {band} | {difference.verdict} |")
    return "\n".join(lines) + "\n"


def _gist(decision: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if decision is None:
        return None
    return decision["outcome"], json.dumps(decision.get("order"), sort_keys=True)


def _describe(decision: dict[str, Any] | None) -> str:
    if decision is None:
        return "(absent)"
    order = decision.get("order")
    return f"{decision['outcome']}: {order['side']} {order['quantity']:g}" if order else decision["outcome"]


def _band(interval: Interval | None, unit: str) -> str:
    return "" if interval is None else f"[{_shown(interval.low, unit)}, {_shown(interval.high, unit)}]"


def _intervals(score: Score) -> str:
    by_event, by_day = _band(score.interval, score.unit), _band(score.day_interval, score.unit)
    return f"{by_event}; {by_day}" if by_day else by_event


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "fraction":
        return f"{value:.2%}"
    if unit == "count":
        return f"{value:g}"
    if unit == "usd":
        return f"${value:.4f}"
    return f"{value:.3f}"


def _equity_chart(curves: Curves, control: Interval | None, path: Path) -> None:
    """Top: like for like (the book, buy-and-hold at its exposure, the control's band); bottom: the book
    against buy-and-hold 100 % invested, whose scale would flatten the top panel's lines."""
    figure, (matched, full) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    days = range(len(curves.dates))
    matched.plot(days, curves.strategy, label="decisions (2.5 % stake per trade)")
    matched.plot(days, curves.exposure_matched, label="buy-and-hold at the book's exposure")
    if control is not None:
        matched.axhspan(1.0 + control.low, 1.0 + control.high, color="grey", alpha=0.2,
                        label="no-edge control: 95 % band of final P&L")  # fmt: skip
    matched.set_ylabel("equity (start = 1)")
    matched.legend(fontsize=8)
    matched.set_title("Equity: decisions vs chance and buy-and-hold at the same exposure")
    full.plot(days, curves.strategy, label="decisions")
    full.plot(days, curves.benchmark, label="buy-and-hold, equal weight, 100 % invested", color="tab:green")
    full.set_ylabel("equity (start = 1)")
    full.legend(fontsize=8)
    ticks = list(range(0, len(curves.dates), max(1, len(curves.dates) // 6)))
    full.set_xticks(ticks, [curves.dates[i] for i in ticks], rotation=20)
    _save(figure, path)


def _latency_chart(timings: list[dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.hist([float(t["total_ms"]) for t in timings] or [0.0], bins=40)
    axes.set_xlabel("session latency, whole graph (ms)")
    axes.set_ylabel("events")
    axes.set_title("Latency")
    _save(figure, path)


def _direction_chart(
    decisions: list[dict[str, Any]], labels: dict[str, dict[str, Any]], accuracy: Score, path: Path
) -> None:
    rows = ("bought", "did not buy")
    cells: Counter[tuple[int, int]] = Counter()
    for d in decisions:
        label = labels.get(d["event_id"])
        if label is None or label["symbol"] is None:
            continue
        cells[(0 if is_buy(d) else 1, 0 if label["forward_return"] > 0 else 1)] += 1
    matrix = [[cells[(r, c)] for c in range(2)] for r in range(2)]
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.imshow(matrix, cmap="Blues")
    for r in range(2):
        for c in range(2):
            axes.text(c, r, str(matrix[r][c]), ha="center", va="center")
    axes.set_xticks([0, 1], ["went up", "went down / flat"])
    axes.set_yticks([0, 1], list(rows))
    axes.set_title(f"Direction: decision vs forward return\naccuracy {_with_ci(accuracy)}", fontsize=10)
    _save(figure, path)


def _veto_chart(
    decisions: list[dict[str, Any]], labels: dict[str, dict[str, Any]], hit_rate: Score, path: Path
) -> None:
    outcomes = Counter(
        "would have lost" if would_have_lost(labels[d["event_id"]]) else "would have won"
        for d in decisions
        if d["outcome"] == "vetoed" and d["event_id"] in labels
    )
    figure, axes = plt.subplots(figsize=(5, 4))
    names = ["would have lost", "would have won"]
    counts = [outcomes[n] for n in names]
    axes.bar(names, counts, color=["tab:green", "tab:red"])
    total = counts[0] + counts[1]
    if hit_rate.interval is not None and total:  # the lost bar's 95 % interval, as counts
        interval = hit_rate.interval
        below, above = counts[0] - interval.low * total, interval.high * total - counts[0]
        axes.errorbar([0], [counts[0]], yerr=[[max(below, 0.0)], [max(above, 0.0)]], fmt="none", color="black",
                      capsize=6)  # fmt: skip
    axes.set_ylabel("vetoed events")
    axes.set_title(f"Veto outcomes\nhit rate {_with_ci(hit_rate)}", fontsize=10)
    _save(figure, path)


def _with_ci(score: Score) -> str:
    band = _band(score.interval, score.unit)
    return _shown(score.value, score.unit) + (f", 95 % CI {band}" if band else "")


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)
