"""The post-cutoff mode: only events after a model's stated knowledge cutoff remain; the bundled sets, which end
years before any catalogued cutoff, are refused in one line naming their newest event and the cutoff."""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis.cli import app
from aegis.runtime.replay_job import WARMUP_DAYS
from aegis.settings import Settings
from agents.llm.catalog import CATALOG
from evals.cutoff import CutoffError, after_cutoff, cutoff_for, model_cutoff
from evals.runner import read_lines
from evals.set_folder import check_set_folder
from evals.sets import GATE, LABELS_FILE, MANIFEST_FILE, TAPE_FILE, read_labels

# Whole weeks (weekdays kept) that put the middle of the gate set on the commander's cutoff (2026-06-30): half of
# its events land after it.
SHIFT = timedelta(weeks=(date(2026, 6, 30) - (GATE.start + (GATE.end - GATE.start) / 2)).days // 7)


@pytest.fixture(scope="module")
def shifted_set(gate_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate set with every date moved SHIFT later, as if built from data imported up to 2026."""
    out = tmp_path_factory.mktemp("shifted") / "gate-2026"
    shutil.copytree(gate_set, out)

    def later(match: re.Match[str]) -> str:
        return (date.fromisoformat(match[0]) + SHIFT).isoformat()

    for name in (TAPE_FILE, LABELS_FILE, MANIFEST_FILE):
        path = out / name
        path.write_text(re.sub(r"\d{4}-\d{2}-\d{2}", later, path.read_text(encoding="utf-8")), encoding="utf-8")
    return out


def test_the_catalog_states_the_vendors_cutoffs_or_none() -> None:
    assert model_cutoff("claude-opus-5-5") == date(2026, 6, 30)
    assert model_cutoff("claude-opus-5") == date(2026, 5, 31)
    assert model_cutoff("deepseek-chat") is None and model_cutoff("deepseek-reasoner") is None
    assert all(hasattr(m, "knowledge_cutoff") for p in CATALOG.values() for m in p.models)
    with pytest.raises(CutoffError, match="not in the provider catalog"):
        model_cutoff("gpt-9")


def test_a_role_names_its_models_cutoff_and_one_without_is_refused() -> None:
    settings = Settings()
    assert cutoff_for("commander", settings) == (date(2026, 6, 30), "claude-opus-5-5, the commander's model")
    assert cutoff_for("2025-01-31", settings) == (date(2025, 1, 31), "given date")
    with pytest.raises(CutoffError, match=r"deepseek-chat \(the analyst's model\) has no stated knowledge cutoff"):
        cutoff_for("analyst", settings)
    with pytest.raises(CutoffError, match="neither a role"):
        cutoff_for("yesterday", settings)


def test_only_events_after_the_cutoff_remain(shifted_set: Path, tmp_path: Path) -> None:
    cutoff, why = cutoff_for("commander", Settings())
    out = after_cutoff(shifted_set, tmp_path / "after", cutoff, why)
    manifest = check_set_folder(out)  # a whole set: the runner takes it
    labels, before = read_labels(out), read_labels(shifted_set)
    expected = {event_id for event_id, label in before.items() if date.fromisoformat(label["day"]) > cutoff}
    assert set(labels) == expected and 0 < len(labels) < len(before)
    assert manifest["after_cutoff"] == {"cutoff": "2026-06-30", "by": "claude-opus-5-5, the commander's model"}
    assert date.fromisoformat(manifest["first_event_day"]) > cutoff
    assert date.fromisoformat(manifest["prices"]["dates"][0]) >= date.fromisoformat(manifest["first_event_day"])
    lines = read_lines(out / TAPE_FILE)
    tick_days = sorted({line["event_time"][:10] for line in lines if line["type"] == "MARKET_TICK"})
    first = manifest["first_event_day"]
    assert len([d for d in tick_days if d < first]) == WARMUP_DAYS  # the indicators' warm-up, no more
    events = [line for line in lines if line["type"] != "MARKET_TICK"]
    assert all(date.fromisoformat(line["event_time"][:10]) > cutoff for line in events)


def test_an_event_on_the_cutoff_day_is_dropped(shifted_set: Path, tmp_path: Path) -> None:
    labels = read_labels(shifted_set)
    day = sorted(date.fromisoformat(label["day"]) for label in labels.values())[len(labels) // 2]
    kept = read_labels(after_cutoff(shifted_set, tmp_path / "after", day))
    assert kept and all(date.fromisoformat(label["day"]) > day for label in kept.values())


def test_a_bundled_set_is_refused_with_its_newest_event_and_the_cutoff(gate_set: Path, tmp_path: Path) -> None:
    newest = max(label["day"] for label in read_labels(gate_set).values())
    with pytest.raises(CutoffError) as refused:
        after_cutoff(gate_set, tmp_path / "after", date(2026, 6, 30), "claude-opus-5-5, the commander's model")
    message = str(refused.value)
    assert f"newest event is {newest}" in message and "2026-06-30" in message and "\n" not in message
    assert not (tmp_path / "after").exists()


def test_eval_build_after_cutoff_on_bundled_data_is_one_line_exit_2(tmp_path: Path) -> None:
    args = ["eval", "build", "--windows", "2014-01-01:2014-03-31", "--tickers", "XOM", "--out"]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "a"), "--after-cutoff", "commander"], prog_name="aegis")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "ends 2014-03-31, by the knowledge cutoff 2026-06-30" in result.output
    assert not (tmp_path / "a").exists()  # refused from the window's end, before the set was built
    result = CliRunner().invoke(app, [*args, str(tmp_path / "b"), "--after-cutoff", "analyst"], prog_name="aegis")
    assert result.exit_code == 2 and "no stated knowledge cutoff" in result.output
    assert not (tmp_path / "b").exists()  # refused before anything was built
