"""Record a run through the real DeepSeek and Anthropic client code (mocked HTTP), replay it from the
cassettes with no network at all, and get identical decisions."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from aegis import Settings
from aegis.cli.replay import decision_summary, replay_tape
from aegis.llm_mode import LLMMode, with_llm_mode
from aegis.runtime.replay_job import ReplayOptions, run_replay
from agents.llm.rules import analyst_policy, commander_policy, validator_policy
from tests.agents.llm.payloads import anthropic_message, deepseek_completion, tool_use

FACTS = re.compile(r"<facts>\n(.*)\n</facts>", re.DOTALL)


def _facts(messages: list[dict[str, Any]]) -> dict[str, Any]:
    user = next(m["content"] for m in messages if m["role"] == "user")
    match = FACTS.search(user if isinstance(user, str) else json.dumps(user))
    assert match, "the facts block is missing from the prompt"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def deepseek_reply(request: httpx.Request) -> httpx.Response:
    """A scripted model: answers as the rules policy would, through the real wire format."""
    body = json.loads(request.content)
    facts = _facts(body["messages"])
    if body["model"] == "deepseek-reasoner":
        verdict = validator_policy(facts)
        content = "Checked.\n" + json.dumps(verdict)
        return httpx.Response(200, json=deepseek_completion(content, model="deepseek-reasoner", reasoning="checks"))
    return httpx.Response(200, json=deepseek_completion(json.dumps(analyst_policy(facts)), cached=512))


def anthropic_reply(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    order = commander_policy(_facts(body["messages"]))
    return httpx.Response(200, json=anthropic_message([tool_use("CommanderOrder", order)], cache_read=1500))


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    path = tmp_path / "tape.jsonl"
    options = ReplayOptions(
        symbols=("AAPL", "MSFT", "JPM"), start=date(2013, 1, 2), end=date(2013, 9, 30), days_per_second=0,
        concurrency=1, events_out=path,
    )  # fmt: skip
    import asyncio

    asyncio.run(run_replay(Settings(data_dir=tmp_path / "tape-run"), options))
    return path


def _live_settings(folder: Path, cassettes: Path) -> Settings:
    settings = with_llm_mode(Settings(data_dir=folder), LLMMode.RECORD, cassettes)
    roles = dict(settings.deliberation.roles)
    roles["commander"] = roles["commander"].model_copy(update={"model": "claude-opus-5"})
    return settings.model_copy(update={"deliberation": settings.deliberation.model_copy(update={"roles": roles})})


async def test_a_recorded_run_replays_to_identical_decisions(
    tape: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-recording")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-recording")
    cassettes = tmp_path / "cassettes"
    with respx.mock(using="httpcore2", assert_all_mocked=True) as mock:
        deepseek = mock.post("https://api.deepseek.com/v1/chat/completions").mock(side_effect=deepseek_reply)
        claude = mock.post("https://api.anthropic.com/v1/messages").mock(side_effect=anthropic_reply)
        recorded = await replay_tape(_live_settings(tmp_path / "record", cassettes), tape)
    assert deepseek.call_count > 0 and claude.call_count > 0
    ordered = [d for d in recorded if d.outcome == "ordered"]
    assert ordered, "the recorded run should reach orders through the real client path"
    asked = [s for d in recorded for s in d.stages if s.stage != "rune"]  # RUNE's market check is rules only
    assert all(s.provider in {"deepseek", "anthropic"} for s in asked)
    assert sum(d.llm_usage.cost_usd for d in recorded) > 0

    monkeypatch.delenv("DEEPSEEK_API_KEY")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with respx.mock(using="httpcore2", assert_all_mocked=True) as offline:
        replay_settings = with_llm_mode(Settings(data_dir=tmp_path / "replay"), LLMMode.REPLAY, cassettes)
        roles = dict(replay_settings.deliberation.roles)
        roles["commander"] = roles["commander"].model_copy(update={"model": "claude-opus-5"})
        replay_settings = replay_settings.model_copy(
            update={"deliberation": replay_settings.deliberation.model_copy(update={"roles": roles})}
        )
        replayed = await replay_tape(replay_settings, tape)
    assert len(offline.calls) == 0, "a replay must not touch the network"
    assert [decision_summary(d) for d in replayed] == [decision_summary(d) for d in recorded]
    assert not any(d.failed_stages for d in replayed)


async def test_a_strict_replay_miss_fails_closed_naming_the_key(tape: Path, tmp_path: Path) -> None:
    settings = with_llm_mode(Settings(data_dir=tmp_path / "miss"), LLMMode.REPLAY, tmp_path / "empty")
    decisions = await replay_tape(settings, tape)
    deliberated = [d for d in decisions if d.stages]
    assert deliberated and all(d.outcome in {"hold", "vetoed"} for d in deliberated)
    reasons = [s.reason or "" for d in deliberated for s in d.stages]
    assert any("CassetteMissError" in r and "analyst/deepseek-chat/" in r for r in reasons)
