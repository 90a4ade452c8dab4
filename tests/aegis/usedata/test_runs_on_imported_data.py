"""Runs, backtests and event sets on a user's data, imported with `aegis data import` from real files
(closes-only adjusted closes of S&P stocks, SPY daily OHLCV): the events say which data they came from,
closes-only data gives real decisions (its volume is unknown, never read as zero), manifests carry the
data's hash, and every mistake is one line."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from aegis.cli import app
from quant.report import build_report
from tests.aegis.usedata import user_data
from tools.feeds.datasets import Dataset

TICKERS = ["AAPL", "JPM", "XOM", "PFE", "WMT", "AMZN"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    handlers = list(root.handlers)
    yield tmp_path / "data"
    for handler in set(root.handlers) - set(handlers):  # `aegis run` logs to a file in its run folder
        root.removeHandler(handler)
        handler.close()


@pytest.fixture
def sp6(data_dir: Path) -> Dataset:
    return user_data.closes_only(data_dir, "sp6", TICKERS, date(2016, 6, 1), date(2017, 6, 30))


def aegis(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="aegis")


def one_line_error(result: Result, *expected: str) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert lines and lines[-1].startswith("aegis "), result.output
    for text in expected:
        assert text in lines[-1], lines[-1]
    return lines[-1]


def test_closes_only_bars_get_a_real_report_flagged_for_what_they_lack() -> None:
    closes = 100.0 * np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.01, 80)))
    report = build_report("X", closes, closes, closes, closes, np.zeros_like(closes))
    assert "insufficient_history" not in report.flags
    assert {"no_volume", "closes_only"} <= set(report.flags)
    assert np.isfinite(report.atr_pct) and np.isfinite(report.rsi)  # ATR from the close-to-close moves
    short = build_report("X", closes[:30], closes[:30], closes[:30], closes[:30], np.zeros(30))
    assert "insufficient_history" in short.flags  # too few bars for the slow average: still said


@pytest.mark.slow
def test_a_run_on_closes_only_data_decides_and_its_events_name_the_data(sp6: Dataset, tmp_path: Path) -> None:
    run_dir, tape = tmp_path / "run", tmp_path / "tape.jsonl"
    result = aegis(
        "run", "--data", "sp6", "--symbols", "aapl,JPM,XOM", "--start", "2016-06-01", "--end", "2016-10-31",
        "--speed", "0", "--data-dir", str(run_dir), "--events-out", str(tape),
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"dataset sp6 (data:sp6, sha256 {sp6.sha256[:12]})" in result.output
    assert "real fields          close  (closes only" in result.output
    events = [json.loads(line) for line in tape.read_text(encoding="utf-8").splitlines()]
    stocks = [e for e in events if e["symbols"] and e["symbols"][0] != "VIX"]
    assert stocks and {e["source"] for e in stocks} == {"data:sp6"}
    vix = [e for e in events if e["symbols"] == ["VIX"]]
    assert vix and {e["source"] for e in vix} == {"data:sp6"}  # the dataset's own VIX (--vix), named as its
    signals = [e for e in stocks if e["type"] == "SIGNAL_GENERATED"]
    assert signals and not any(e["payload"]["signal"] == "volume_surge" for e in signals)
    with sqlite3.connect(run_dir / "records.sqlite") as db:
        records = [json.loads(row[0]) for row in db.execute("SELECT record FROM decisions")]
    assert {r["event_id"] for r in records} == {e["id"] for e in signals}
    flags = [set(r["quant_report"]["flags"]) for r in records if r.get("quant_report")]
    assert flags and all({"no_volume", "closes_only"} <= f and "insufficient_history" not in f for f in flags)
    assert any(r["outcome"] not in ("screened_out", "rejected") for r in records)  # the roles deliberated


@pytest.mark.slow
def test_an_eval_set_of_imported_data_records_the_data_and_runs(sp6: Dataset, tmp_path: Path) -> None:
    sets, out = tmp_path / "sets", tmp_path / "eval"
    built = aegis(
        "eval", "build", "--data", "sp6", "--windows", "2016-09-01:2016-11-30", "--tickers", "AAPL,JPM,XOM",
        "--out", str(sets),
    )  # fmt: skip
    assert built.exit_code == 0, (built.output, built.exception)
    folder = sets / "sp6_2016-09-01_2016-11-30"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data"] == {
        "source": "data:sp6", "name": "sp6", "sha256": sp6.sha256, "real_fields": ["close"], "closes_only": True,
    }  # fmt: skip
    assert manifest["window"] == ["2016-09-01", "2016-11-30"] and manifest["symbols"] == ["AAPL", "JPM", "XOM"]
    assert "volume_spike" in manifest["skipped"] and "volume_spike" not in manifest["events_by_kind"]
    tape = [json.loads(line) for line in (folder / "tape.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {e["source"] for e in tape} == {"data:sp6"}  # the VIX ticks too: the dataset's own (--vix)
    ran = aegis("eval", "run", str(folder), "--out", str(out))
    assert ran.exit_code == 0, (ran.output, ran.exception)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["data"]["sha256"] == sp6.sha256
    decisions = (out / "decisions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(decisions) == manifest["events"] > 0


def test_a_backtest_on_imported_data_names_it_and_refuses_volume_rules_on_closes(sp6: Dataset, data_dir: Path) -> None:
    spy = user_data.ohlcv(data_dir, "spy")
    result = aegis("backtest", "--data", "spy", "--strategy", "growth", "--no-chart", "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.output)
    assert report["data"]["sha256"] == spy.sha256 and report["symbols"] == ["SPY"]
    assert (report["start"], report["end"]) == ("2017-01-03", "2017-12-29")
    one_line_error(
        aegis("backtest", "--data", "sp6", "--strategy", "growth", "--no-chart"),
        "growth confirms its entries with a volume surge",
        "--strategy value",
    )
    value = aegis("backtest", "--data", "sp6", "--strategy", "value", "--symbols", "JPM,XOM", "--no-chart", "--json")
    assert value.exit_code == 0, (value.output, value.exception)
    assert json.loads(value.output)["data"]["real_fields"] == ["close"]
    one_line_error(aegis("backtest", "--data", "sp6", "--bots"), "the reference bots trade the bundled tickers")


def test_a_set_folder_is_checked_before_anything_is_replayed(sp6: Dataset, tmp_path: Path) -> None:
    sets = tmp_path / "sets"
    built = aegis("eval", "build", "--data", "sp6", "--windows", "2016-09-01:2016-10-31", "--tickers", "XOM",
                  "--out", str(sets))  # fmt: skip
    assert built.exit_code == 0, (built.output, built.exception)
    folder = sets / "sp6_2016-09-01_2016-10-31"
    labels = (folder / "labels.jsonl").read_text(encoding="utf-8")
    (folder / "labels.jsonl").unlink()
    one_line_error(aegis("eval", "run", str(folder), "--out", str(tmp_path / "o1")), "it lacks labels.jsonl")
    assert not (tmp_path / "o1").exists()  # refused up front: nothing replayed, nothing written
    (folder / "labels.jsonl").write_text("\n".join(labels.splitlines()[1:]) + "\n", encoding="utf-8")
    one_line_error(aegis("eval", "run", str(folder), "--out", str(tmp_path / "o2")), "the manifest counts")
    (folder / "manifest.json").write_text("[1]\n", encoding="utf-8")
    one_line_error(aegis("eval", "run", str(folder), "--out", str(tmp_path / "o3")), "is not a JSON object")


def test_what_the_data_does_not_hold_is_one_line_saying_what_it_does(sp6: Dataset, tmp_path: Path) -> None:
    covers = "dataset 'sp6' covers 2016-06-01..2017-06-30"
    run = ("run", "--data", "sp6", "--data-dir", str(tmp_path / "run"))
    one_line_error(aegis(*run, "--symbols", "AAPL,TSLA"), "unknown symbol TSLA", "dataset 'sp6' holds: AAPL, AMZN")
    one_line_error(aegis(*run, "--start", "2019-01-02"), "no trading days", covers)
    one_line_error(aegis(*run, "--start", "2017-05-01"), "a run needs more than 60", covers)
    one_line_error(aegis("run", "--data", "nope"), "no dataset named 'nope'", "sp6")
    build = ("eval", "build", "--data", "sp6", "--out", str(tmp_path / "sets"))
    one_line_error(aegis(*build, "--windows", "2019-01-01:2019-06-30"), "outside the data", "covers 2016-06-01..2017")
    one_line_error(
        aegis(*build, "--windows", "2016-06-01:2016-07-29"), "60 trading days of data before it", "2016-08-25"
    )
    one_line_error(aegis(*build, "--windows", "2016-09-01"), "is not START:END")
    one_line_error(aegis(*build, "--tickers", "XOM,FOO"), "unknown symbol FOO")
    one_line_error(aegis(*build), "outside the data")  # the standard windows (2012-2017) are not in this data
