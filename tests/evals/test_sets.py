"""The builder: reproducible files, labels only from later bars inside the set's own window."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

from evals.sets import DEVELOPMENT, GATE, HOLDOUT, LABELS_FILE, MANIFEST_FILE, TAPE_FILE, build_set, read_labels


def test_building_twice_gives_byte_identical_files(gate_set: Path, tmp_path: Path) -> None:
    again = build_set(GATE, tmp_path)
    for name in (TAPE_FILE, LABELS_FILE, MANIFEST_FILE):
        assert (again / name).read_bytes() == (gate_set / name).read_bytes()


def test_every_label_exits_after_its_event_and_inside_the_window(gate_set: Path) -> None:
    labels = read_labels(gate_set)
    assert labels
    for label in labels.values():
        assert label["exit_day"] > label["day"]
        assert GATE.start.isoformat() <= label["day"] and label["exit_day"] <= GATE.end.isoformat()


def test_the_tape_is_in_time_order_and_holds_every_labelled_event(gate_set: Path) -> None:
    lines = [json.loads(line) for line in (gate_set / TAPE_FILE).read_text().splitlines()]
    times = [line["event_time"] for line in lines]
    assert times == sorted(times)
    events = {line["id"] for line in lines if line["type"] != "MARKET_TICK"}
    assert events == set(read_labels(gate_set))
    assert any(line["symbols"] == ["VIX"] for line in lines)


def test_a_set_ending_earlier_never_labels_with_the_later_bars(tmp_path: Path) -> None:
    short = replace(GATE, name="short", end=date(2015, 9, 30))
    labels = read_labels(build_set(short, tmp_path))
    assert max(label["exit_day"] for label in labels.values()) <= "2015-09-30"


def test_development_and_holdout_do_not_overlap() -> None:
    assert DEVELOPMENT.end < HOLDOUT.start
