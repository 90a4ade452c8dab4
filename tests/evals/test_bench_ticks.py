"""`python -m evals.bench_ticks` with small numbers, so the benchmark cannot rot (no timing is checked), and
the long tapes it generates from the bundled bars."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals import bench_ticks
from evals.tick_tape import MINUTE_SYMBOL, minute_bars, minute_lines, pass_lines, tick_lines, write_tick_tape


def test_long_tapes_repeat_the_bundled_bars_forward_in_time() -> None:
    one = pass_lines()
    lines = [json.loads(line) for line in tick_lines(one + 40)]
    assert len(lines) == one + 40
    assert len({line["id"] for line in lines}) == len(lines)
    last: dict[str, str] = {}
    for line in lines:
        symbol, at = line["symbols"][0], line["payload"]["bar"]["time"]
        assert symbol not in last or at > last[symbol], f"{symbol} goes back in time at {at}"
        last[symbol] = at
    repeated = lines[one]
    assert repeated["payload"]["bar"]["close"] == lines[0]["payload"]["bar"]["close"]  # the same real prices
    assert repeated["event_time"] > lines[one - 1]["event_time"]


def test_the_minute_tape_is_the_bundled_minute_bars_a_week_later_each_pass() -> None:
    bars = minute_bars()
    assert len(bars) == 1564 and bars[0].time.isoformat() == "2020-12-15T14:30:00+00:00"  # 09:30 in New York
    lines = [json.loads(line) for line in minute_lines(len(bars) + 3)]
    assert len({line["id"] for line in lines}) == len(lines)
    times = [line["payload"]["bar"]["time"] for line in lines]
    assert times == sorted(times) and len(set(times)) == len(times)  # every tick a new moment
    assert {line["symbols"][0] for line in lines} == {MINUTE_SYMBOL}
    again = lines[len(bars)]
    assert again["payload"]["bar"]["close"] == bars[0].close and again["event_time"].startswith("2020-12-22T14:30")


def test_the_tape_is_written_as_it_is_made(tmp_path: Path) -> None:
    path = write_tick_tape(tmp_path / "t.jsonl", 100)
    assert len(path.read_text().splitlines()) == 100


def test_the_benchmark_prints_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    bench_ticks.main(["--ticks", "300", "--repeats", "1", "--memory-lines", "200", "--long"])
    out = capsys.readouterr().out
    assert "| aegis replay (embedded)" in out and "| floor: sqlite3 + deques" in out
    assert "ratio subject/floor" in out
    assert out.count("ticks applied per run: 300 (of 300 lines)") == 2  # the daily and the minute tapes
    assert "(a2) the same on one-minute bars" in out
    assert "0 events decided" in out
    rows = [line for line in out.splitlines() if line.startswith("|") and "RSS" not in line]
    sizes = Counter(line.split("|")[1].strip() for line in rows)
    assert sizes["200"] == 1 and sizes["2,000"] == 1
    assert "10x / 1x maximum RSS" in out
    assert out.count("met") >= 3  # each target says met or missed
