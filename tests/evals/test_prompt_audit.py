"""The prompt audit: it finds the tickers and dates every unmasked prompt carries, and nothing in any prompt of a
masked set (the gate set's events, and the injection corpus as news text), so masking is shown to work by a
check that can fail."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegis.cli import app
from evals.masking import Masker
from evals.prompt_audit import AuditError, LeakPatterns, audit_prompts, audit_run
from evals.prompt_log import PROMPTS_FILE, PromptEntry, read_prompts
from evals.sets import GATE
from prompts.loader import ExternalText, load_prompt

CORPUS = [
    json.loads(line)
    for line in (Path(__file__).parents[1] / "data" / "prompt_injections.jsonl").read_text("utf-8").splitlines()
]
ROLES = ("analyst", "validator", "commander")


def aegis(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), prog_name="aegis")
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_every_unmasked_prompt_leaks_its_ticker_and_date(gate_prompts_run: Path) -> None:
    leaks, prompts = audit_run(gate_prompts_run)
    assert prompts > 0
    assert {(leak.event_id, leak.role) for leak in leaks} == {
        (e.event_id, e.role) for e in read_prompts(gate_prompts_run / PROMPTS_FILE)
    }
    assert {leak.kind for leak in leaks} == {"ticker", "date"}
    assert {leak.text for leak in leaks if leak.kind == "ticker"} == set(GATE.symbols or ())


def test_masking_leaves_no_ticker_or_date_in_any_prompt(masked_gate_run: Path) -> None:
    entries = read_prompts(masked_gate_run / PROMPTS_FILE)
    assert {entry.role for entry in entries} == set(ROLES)  # every role was rendered, the commander too
    leaks, prompts = audit_run(masked_gate_run)
    assert (leaks, prompts) == ([], len(entries))


def test_the_prompt_log_is_in_tape_order_and_reproducible(masked_gate_run: Path, masked_gate_set: Path) -> None:
    from evals.runner import RunOptions, run_set

    again = masked_gate_run.parent / "again"
    run_set(masked_gate_set, again, RunOptions(progress=False, prompts=True, concurrency=1))
    assert (again / PROMPTS_FILE).read_bytes() == (masked_gate_run / PROMPTS_FILE).read_bytes()


@pytest.mark.parametrize("role", ROLES)
def test_masked_news_of_the_injection_corpus_leaks_nothing(role: str) -> None:
    masker = Masker({"AAPL": "STK-QWER", "JPM": "STK-ZXCV", "XOM": "STK-POIU"}, timedelta(weeks=4500), {})
    facts = {"event": {"id": "AAPL-2014-03-05-news", "symbol": "AAPL", "event_time": "2014-03-05T21:00:00+00:00"}}
    entries, masked_entries = [], []
    for n, attempt in enumerate(CORPUS):
        text = f"{attempt['text']} (Apple, AAPL, 2014-03-05)"
        plain = load_prompt(role).render(facts, [ExternalText("news", f"n{n}", text)])
        masked = load_prompt(role).render(masker.walk(facts), [ExternalText("news", f"n{n}", masker.text(text))])
        entries.append(PromptEntry(f"n{n}", role, plain.prompt_id, tuple((m.role, m.content) for m in plain.messages)))
        masked_entries.append(
            PromptEntry(f"n{n}", role, masked.prompt_id, tuple((m.role, m.content) for m in masked.messages))
        )
    patterns = LeakPatterns.known()
    assert audit_prompts(masked_entries, patterns) == []
    found = {(leak.kind, leak.text) for leak in audit_prompts(entries, patterns)}
    assert {("ticker", "AAPL"), ("company", "Apple"), ("date", "2014-03-05")} <= found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on 2014-01-02", [("date", "2014-01-02")]),
        ("on 2101-01-03", []),  # the masked calendar
        ("March 5, 2014 and 5 Mar 2014", [("date", "March 5, 2014"), ("date", "5 Mar 2014")]),
        ("the 2014 results", [("year", "2014")]),
        ("a price of 2014.5, volume 20150000, 1989", []),
        ("KO and exxon, not KOALA", [("ticker", "KO"), ("company", "exxon")]),
    ],
)
def test_the_patterns_find_what_names_a_stock_or_a_day(text: str, expected: list[tuple[str, str]]) -> None:
    assert LeakPatterns.known().find(text) == expected


def test_eval_audit_prints_each_leak_and_exits_1(gate_prompts_run: Path, masked_gate_run: Path) -> None:
    code, output = aegis("eval", "audit", str(gate_prompts_run))
    lines = output.strip().splitlines()
    assert code == 1
    assert any(line.endswith(": ticker 'AAPL'") and " analyst" in line for line in lines)
    assert lines[-1].startswith(f"{len(lines) - 1} leaks in ")
    code, output = aegis("eval", "audit", str(masked_gate_run))
    assert (code, output.strip().splitlines()[-1][:8]) == (0, "0 leaks ")


def test_eval_audit_of_a_run_without_prompts_is_one_line(gate_run: Path) -> None:
    with pytest.raises(AuditError, match="--prompts"):
        audit_run(gate_run)
    code, output = aegis("eval", "audit", str(gate_run))
    assert code == 2 and "--prompts" in output
