"""Masked sets: no ticker, company name, date or price level survives, the set scores exactly like the original,
and the rules baseline (which reads no name) decides every event the same way."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aegis.cli import app
from evals.company_names import COMPANY_NAMES
from evals.masking import MAPPING_FILE, MASK_EPOCH, REBASE_TO, Masker, MaskingError, mask_set
from evals.prompt_audit import LeakPatterns
from evals.runner import read_lines
from evals.set_folder import check_set_folder
from evals.sets import GATE, LABELS_FILE, MANIFEST_FILE, TAPE_FILE, read_labels

SET_FILES = (TAPE_FILE, LABELS_FILE, MANIFEST_FILE, MAPPING_FILE)


def mapping_of(folder: Path) -> dict[str, Any]:
    mapping: dict[str, Any] = json.loads((folder / MAPPING_FILE).read_text(encoding="utf-8"))
    return mapping


def unmask_id(event_id: str, mapping: dict[str, Any]) -> str:
    for alias, ticker in mapping["tickers"].items():
        event_id = event_id.replace(alias, ticker)
    return re.sub(r"\d{4}-\d{2}-\d{2}", lambda m: str(mapping["dates"][m[0]]), event_id)


def test_masking_is_deterministic(gate_set: Path, masked_gate_set: Path, tmp_path: Path) -> None:
    again = mask_set(gate_set, tmp_path / "again")
    for name in SET_FILES:
        assert (again / name).read_bytes() == (masked_gate_set / name).read_bytes(), name
    other_key = mask_set(gate_set, tmp_path / "other", key="another key")
    assert mapping_of(other_key)["tickers"] != mapping_of(masked_gate_set)["tickers"]


def test_the_masked_set_is_a_whole_set_without_a_real_ticker_date_or_name(
    gate_set: Path, masked_gate_set: Path
) -> None:
    manifest = check_set_folder(masked_gate_set)
    assert manifest["events"] == check_set_folder(gate_set)["events"]
    patterns = LeakPatterns.known(mapping_of(masked_gate_set)["tickers"].values())
    for name in (TAPE_FILE, LABELS_FILE, MANIFEST_FILE):
        text = (masked_gate_set / name).read_text(encoding="utf-8")
        assert patterns.find(text) == [], name
    unmasked = (gate_set / TAPE_FILE).read_text(encoding="utf-8")
    assert {kind for kind, _ in patterns.find(unmasked[:20_000])} >= {"ticker", "date"}  # the check can fail
    assert "mapping" not in (masked_gate_set / TAPE_FILE).read_text(encoding="utf-8")


def test_aliases_are_letters_never_a_known_ticker(masked_gate_set: Path) -> None:
    aliases = mapping_of(masked_gate_set)["tickers"]
    assert sorted(aliases.values()) == sorted(GATE.symbols or ())
    for alias in aliases:
        assert re.fullmatch(r"STK-[A-Z]{4}", alias), alias
        assert alias.removeprefix("STK-") not in COMPANY_NAMES


def test_the_calendar_keeps_weekdays_order_and_gaps(masked_gate_set: Path) -> None:
    dates = mapping_of(masked_gate_set)["dates"]
    fake = sorted(date.fromisoformat(d) for d in dates)
    real = [date.fromisoformat(dates[d.isoformat()]) for d in fake]
    assert real == sorted(real)
    assert MASK_EPOCH <= fake[0] < date(2101, 1, 10)
    assert all(f.weekday() == r.weekday() for f, r in zip(fake, real, strict=True))
    assert [(b - a).days for a, b in itertools.pairwise(fake)] == [(b - a).days for a, b in itertools.pairwise(real)]


def test_prices_are_rebased_and_every_return_is_kept(gate_set: Path, masked_gate_set: Path) -> None:
    mapping = mapping_of(masked_gate_set)
    ticks = [line for line in read_lines(masked_gate_set / TAPE_FILE) if line["type"] == "MARKET_TICK"]
    for alias in mapping["tickers"]:
        first = next(line for line in ticks if line["symbols"] == [alias])
        assert first["payload"]["bar"]["close"] == pytest.approx(REBASE_TO)
    real, masked = read_labels(gate_set), read_labels(masked_gate_set)
    for event_id, label in masked.items():
        original = real[unmask_id(event_id, mapping)]
        assert label["forward_return"] == original["forward_return"]
        assert label["symbol"] is None or mapping["tickers"][label["symbol"]] == original["symbol"]
    # The benchmark's returns too: each symbol's manifest closes are the real ones times one factor.
    prices = json.loads((masked_gate_set / MANIFEST_FILE).read_text(encoding="utf-8"))["prices"]["close"]
    real_prices = json.loads((gate_set / MANIFEST_FILE).read_text(encoding="utf-8"))["prices"]["close"]
    for alias, closes in prices.items():
        originals = real_prices[mapping["tickers"][alias]]
        assert closes[-1] / closes[0] == pytest.approx(originals[-1] / originals[0], rel=1e-12)


def test_the_rules_decide_every_masked_event_as_the_original(
    gate_prompts_run: Path, masked_gate_run: Path, masked_gate_set: Path
) -> None:
    mapping = mapping_of(masked_gate_set)
    real = {line["event_id"]: line for line in read_lines(gate_prompts_run / "decisions.jsonl")}
    masked = read_lines(masked_gate_run / "decisions.jsonl")
    assert len(masked) == len(real) > 0
    for line in masked:
        original = real[unmask_id(line["event_id"], mapping)]
        assert (line["outcome"], line["verdict"]) == (original["outcome"], original["verdict"]), line["event_id"]
        assert (line["command"] or {}).get("action") == (original["command"] or {}).get("action")
    assert {line["outcome"] for line in masked} >= {"ordered", "vetoed", "screened_out"}


def test_news_text_loses_names_tickers_and_dates() -> None:
    masker = Masker({"AAPL": "STK-QWER", "KO": "STK-ASDF"}, date(2101, 1, 3) - date(2014, 3, 3), {})
    text = "Apple Inc. (AAPL) and Coca-Cola (KO) rose on March 5, 2014 after 2013 results; see 2014-03-05."
    masked = masker.text(text)
    assert LeakPatterns.known().find(masked) == []
    assert "STK-QWER" in masked and "Company ASDF" in masked and "2101-01-05" in masked
    assert masker.text("KOALA at 2014.5 points") == "KOALA at 2014.5 points"  # no ticker inside a word, no price


def test_a_masked_set_is_not_masked_again(masked_gate_set: Path, tmp_path: Path) -> None:
    with pytest.raises(MaskingError, match="already a masked set"):
        mask_set(masked_gate_set, tmp_path / "twice")


def test_eval_build_masked_writes_both_sets(tmp_path: Path) -> None:
    args = ["eval", "build", "--windows", "2014-01-01:2014-06-30", "--tickers", "AAPL,XOM", "--masked"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path)], prog_name="aegis")
    assert result.exit_code == 0, result.output
    name = "bundled_2014-01-01_2014-06-30"
    assert check_set_folder(tmp_path / f"{name}-masked")["name"] == f"{name}-masked"
    assert sorted(mapping_of(tmp_path / f"{name}-masked")["tickers"].values()) == ["AAPL", "XOM"]
