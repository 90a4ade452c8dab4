"""The report files, and the comparison of two runs."""

from __future__ import annotations

import json
from pathlib import Path

from evals.report import CHARTS, REPORT_FILE, SCORES_FILE, compare_runs, write_report
from tests.evals.conftest import TINY_OUTCOMES, write_tiny_run


def test_the_report_writes_markdown_json_and_charts(tiny_set: Path, tiny_run: Path) -> None:
    write_report(tiny_set, tiny_run)
    scores = json.loads((tiny_run / SCORES_FILE).read_text())
    assert scores["directional_accuracy"] == {
        "value": 0.5, "unit": "fraction", "target": 0.65, "higher_is_better": True, "met": False,
        "interval": {"low": 0.0, "high": 1.0, "level": 0.95, "draws": 2000},
        "day_interval": None,  # both buys are of one day: one block, no interval
    }  # fmt: skip
    markdown = (tiny_run / REPORT_FILE).read_text()
    assert "| directional_accuracy | 50.00% | [0.00%, 100.00%] | > 65.00% | **no** |" in markdown
    assert "## Against chance" in markdown
    assert "| buy-and-hold, 100 % invested | 20.00% |" in markdown
    for chart in CHARTS:
        assert (tiny_run / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({chart})" in markdown


def test_compare_lists_the_events_and_scores_that_changed(tiny_set: Path, tiny_run: Path) -> None:
    run_b = write_tiny_run(tiny_set.parent / "run-b", {**TINY_OUTCOMES, "e2": "vetoed"})
    text = compare_runs(tiny_set, tiny_run, run_b)
    assert "| e2 | ordered: buy 10 | vetoed | -2.00% |" in text
    assert "1 of 6 events changed." in text
    assert "| directional_accuracy | 50.00% | 100.00% | +0.5 |" in text
    assert "| e1 |" not in text
