"""Shared fixtures of the eval-suite tests: the small gate set, built and run once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.masking import mask_set
from evals.runner import RunOptions, run_set
from evals.sets import GATE, build_set


@pytest.fixture(scope="session")
def gate_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_set(GATE, tmp_path_factory.mktemp("sets"))


@pytest.fixture(scope="session")
def gate_run(gate_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "rules"
    run_set(gate_set, out, RunOptions(progress=False))
    return out


@pytest.fixture(scope="session")
def masked_gate_set(gate_set: Path) -> Path:
    return mask_set(gate_set, gate_set.parent / f"{gate_set.name}-masked")


@pytest.fixture(scope="session")
def gate_prompts_run(gate_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate set run by the rules with every role's prompt recorded."""
    out = tmp_path_factory.mktemp("runs") / "rules-prompts"
    run_set(gate_set, out, RunOptions(progress=False, prompts=True))
    return out


@pytest.fixture(scope="session")
def masked_gate_run(masked_gate_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The masked gate set run by the rules with every role's prompt recorded."""
    out = tmp_path_factory.mktemp("runs") / "masked-rules-prompts"
    run_set(masked_gate_set, out, RunOptions(progress=False, prompts=True))
    return out


DAYS = ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]
# event id -> (symbol, day, forward return, barrier, exit day, exit return)
TINY_LABELS = {
    "e1": ("A", DAYS[0], 0.05, "target", DAYS[1], 0.03),
    "e2": ("B", DAYS[0], -0.02, "stop", DAYS[2], -0.015),
    "e3": ("A", DAYS[1], -0.01, "timeout", DAYS[3], -0.01),
    "e4": ("B", DAYS[1], 0.04, "target", DAYS[3], 0.03),
    "e5": ("A", DAYS[2], 0.02, "timeout", DAYS[4], 0.02),
    "e6": ("B", DAYS[2], 0.01, "timeout", DAYS[4], 0.01),
}
TINY_OUTCOMES = {
    "e1": "ordered",
    "e2": "ordered",
    "e3": "vetoed",
    "e4": "vetoed",
    "e5": "screened_out",
    "e6": "blocked",
}


def _usage(tokens_in: int = 0, tokens_out: int = 0, cost: float = 0.0) -> dict[str, object]:
    return {
        "input_tokens": tokens_in, "cached_input_tokens": 0, "cache_write_tokens": 0,
        "output_tokens": tokens_out, "reasoning_tokens": 0, "cost_usd": cost,
    }  # fmt: skip


def write_tiny_run(folder: Path, outcomes: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    decisions, timings = [], []
    for n, (event_id, outcome) in enumerate(sorted(outcomes.items())):
        symbol = TINY_LABELS[event_id][0]
        order = {"side": "buy", "quantity": 10.0, "symbol": symbol} if outcome == "ordered" else None
        first = event_id == "e1"
        decisions.append({
            "event_id": event_id, "outcome": outcome, "order": order, "symbol": symbol,
            "llm_calls": 3 if first else 0, "role_calls": 3 if first else 0,
            "usage": _usage(100, 50, 0.012) if first else _usage(),
        })  # fmt: skip
        timings.append({"event_id": event_id, "stages": {"analyst": float(n + 1)}, "total_ms": float(10 * (n + 1))})
    (folder / "decisions.jsonl").write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in decisions))
    (folder / "timings.jsonl").write_text("".join(json.dumps(t, sort_keys=True) + "\n" for t in timings))
    (folder / "run.json").write_text(json.dumps({"set": str(folder.parent / "tiny-set")}))
    return folder


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-set"
    folder.mkdir()
    labels = [
        {"event_id": e, "kind": "trigger", "symbol": s, "day": d, "signal": "golden_cross", "direction": "long",
         "forward_return": f, "barrier": b, "exit_day": x, "exit_offset": 1, "exit_return": r}
        for e, (s, d, f, b, x, r) in TINY_LABELS.items()
    ]  # fmt: skip
    (folder / "labels.jsonl").write_text("".join(json.dumps(label) + "\n" for label in labels))
    prices = {"dates": DAYS, "close": {"A": [10.0, 11.0, 12.0, 11.0, 12.0], "B": [20.0, 20.0, 22.0, 22.0, 24.0]}}
    (folder / "manifest.json").write_text(json.dumps({"name": "tiny", "prices": prices}))
    return folder


@pytest.fixture
def tiny_run(tiny_set: Path) -> Path:
    return write_tiny_run(tiny_set.parent / "run-a", TINY_OUTCOMES)
