"""Record and replay of Sena, Lubit and RUNE: a live reply through the real SDK kept as a cassette, replayed
offline (strict) to the identical output and record; a request with no cassette fails closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from agents.llm.cassette import CassetteKey, CassetteShelf, RecordingClient, ReplayClient
from agents.llm.client import LLMClient
from agents.stage import RoleResult
from state.decisions import StageRecord
from tests.agents.llm.payloads import anthropic_message, as_json, deepseek_completion, text, thinking, tool_use
from tests.agents.llm.test_workflow_roles_sdk import (
    BUDGET,
    ROLES,
    SECRET,
    VALID,
    ask,
    assert_fails_closed,
    claude,
    deepseek,
    facts_of,
    reply,
    url_for,
)
from tests.agents.workflow_facts import request_block

# What a replay must give back exactly (latency and attempts are the live call's, not the decision's).
SAME = ("status", "provider", "model", "prompt_id", "prompt_hash", "raw_reply", "reasoning", "parsed", "usage",
        "repaired", "reason")  # fmt: skip


@pytest.fixture
def mock() -> Any:
    with respx.mock(using="httpcore2", assert_all_mocked=True, assert_all_called=False) as router:
        yield router


def live_reply(role: str) -> httpx.Response:
    """Each role's live reply as its default provider sends it, reasoning or thinking included."""
    content = as_json(VALID[role])
    if role == "sena":
        return httpx.Response(200, json=deepseek_completion(content, cached=256))
    if role == "lubit":
        payload = deepseek_completion(f"Verdict:\n{content}", model="deepseek-reasoner", reasoning="s1 is allowed.")
        return httpx.Response(200, json=payload)
    blocks = [thinking("Cited records hold."), text(content)]
    return httpx.Response(200, json=anthropic_message(blocks, model="claude-opus-5-5", cache_read=900))


def live_client(role: str, shelf: CassetteShelf) -> RecordingClient:
    inner: LLMClient = claude() if role == "rune" else deepseek()
    return RecordingClient(inner, shelf)


def same(a: StageRecord, b: StageRecord) -> None:
    assert {f: getattr(a, f) for f in SAME} == {f: getattr(b, f) for f in SAME}


async def replayed(role: str, shelf: CassetteShelf, router: respx.Router) -> tuple[RoleResult[Any], ReplayClient]:
    """Replay with every HTTP route gone: a call to a provider would fail the test (assert_all_mocked)."""
    router.routes.clear()
    replay = ReplayClient(shelf, strict=True)
    return await ask(role, replay), replay


@pytest.mark.parametrize("role", ROLES)
async def test_a_recorded_reply_replays_to_the_identical_output_and_record(
    mock: respx.Router, tmp_path: Path, role: str
) -> None:
    shelf = CassetteShelf(tmp_path / "cassettes")
    route = mock.post(url_for(role)).mock(return_value=live_reply(role))
    live = await ask(role, live_client(role, shelf))
    assert live.output is not None and route.call_count == 1 and shelf.count() == 1
    again, replay = await replayed(role, shelf, mock)
    assert again.output == live.output
    same(again.record, live.record)
    assert again.record.usage is not None and again.record.usage.cost_usd > 0, "the recorded cost is kept"
    assert replay.misses == [] and route.call_count == 1
    for cassette in shelf.folder.glob("*.json"):
        assert SECRET not in cassette.read_text(encoding="utf-8")


@pytest.mark.parametrize("role", ROLES)
async def test_a_repaired_reply_replays_with_its_repair(mock: respx.Router, tmp_path: Path, role: str) -> None:
    _, model, invalid, _ = ROLES[role]
    shelf = CassetteShelf(tmp_path)
    mock.post(url_for(role)).mock(side_effect=[reply(role, model, invalid), reply(role, model, VALID[role])])
    live = await ask(role, live_client(role, shelf))
    assert live.record.repaired and shelf.count() == 2, "the first reply and the repair: two requests, two cassettes"
    again, _ = await replayed(role, shelf, mock)
    assert again.output == live.output and again.record.repaired
    same(again.record, live.record)


@pytest.mark.parametrize("role", ROLES)
async def test_a_replay_miss_fails_closed_naming_the_key(mock: respx.Router, tmp_path: Path, role: str) -> None:
    shelf = CassetteShelf(tmp_path)
    mock.post(url_for(role)).mock(return_value=live_reply(role))
    await ask(role, live_client(role, shelf))
    mock.routes.clear()
    replay = ReplayClient(shelf, strict=True)
    other = await ask(role, replay, [request_block("stop the growth bot instead")])  # another prompt, no cassette
    assert other.failed and "CassetteMissError" in (other.record.reason or "")
    assert len(replay.misses) == 1 and str(replay.misses[0]) in (other.record.reason or "")
    assert replay.misses[0] == CassetteKey(
        role, ROLES[role][1], other.record.prompt_hash or "", replay.misses[0].schema_name
    )
    assert_fails_closed(role, other)


async def test_a_failed_live_call_records_no_cassette(mock: respx.Router, tmp_path: Path) -> None:
    shelf = CassetteShelf(tmp_path)
    mock.post(url_for("sena")).respond(503, json={"error": {"message": "busy", "type": "server_error"}})
    result = await ask("sena", live_client("sena", shelf))
    assert result.failed and shelf.count() == 0


async def test_a_forced_tool_reply_replays_too(mock: respx.Router, tmp_path: Path) -> None:
    """RUNE on claude-opus-5 answers through a forced tool: the cassette keeps the tool's input as the reply."""
    shelf = CassetteShelf(tmp_path)
    payload = anthropic_message([tool_use("RuneOpinion", VALID["rune"])])
    mock.post(url_for("rune")).respond(200, json=payload)
    function, _, _, _ = ROLES["rune"]
    live = await function(facts_of("rune"), [request_block("x")], client=live_client("rune", shelf),
                          model="claude-opus-5", budget=BUDGET)  # fmt: skip
    mock.routes.clear()
    again = await function(facts_of("rune"), [request_block("x")], client=ReplayClient(shelf), model="claude-opus-5",
                           budget=BUDGET)  # fmt: skip
    assert again.output == live.output and again.output is not None
    same(again.record, live.record)
