"""The stage runner: budgets, slow stages, invalid output, unexpected errors, all failing closed."""

from __future__ import annotations

import pytest

from agents.analyst import AnalystView
from agents.llm.client import LLMReply, LLMRequest
from agents.llm.scripted import Scripted, ScriptedClient
from agents.stage import RoleCall, StageBudget, run_role
from prompts.loader import load_prompt
from state.decisions import StageStatus

VIEW = {"direction": "long", "confidence": 0.7, "thesis": "t", "evidence": ["e"]}


def call(warn_s: float = 1.0, fail_s: float = 2.0) -> RoleCall[AnalystView]:
    return RoleCall("analyst", AnalystView, load_prompt("analyst"), "m", StageBudget(min(0.01, warn_s), warn_s, fail_s))


async def test_a_valid_reply_within_budget_is_ok_and_fully_recorded() -> None:
    result = await run_role(call(), {"x": 1}, ScriptedClient({"analyst": [VIEW]}))
    assert result.output == AnalystView.model_validate(VIEW)
    record = result.record
    assert record.status is StageStatus.OK and record.reason is None
    assert record.prompt_id == "analyst@v2" and record.prompt_hash and record.raw_reply
    assert record.parsed == VIEW and record.provider == "scripted"


async def test_a_reply_past_the_warn_threshold_is_kept_but_marked_slow() -> None:
    result = await run_role(
        call(warn_s=0.02, fail_s=2.0), {}, ScriptedClient({"analyst": [Scripted(VIEW, delay_s=0.05)]})
    )
    assert result.output is not None
    assert result.record.status is StageStatus.SLOW and "warn" in (result.record.reason or "")


async def test_prose_around_the_json_is_tolerated() -> None:
    text = 'Here is my view:\n```json\n{"direction": "flat", "confidence": 0.5, "thesis": "t", "evidence": ["e"]}\n```'
    result = await run_role(call(), {}, ScriptedClient({"analyst": [Scripted(text)]}))
    assert result.output is not None and result.output.direction == "flat"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Scripted("no json here"), "no JSON object"),
        (Scripted({**VIEW, "confidence": 1.7}), "confidence"),
        (Scripted({**VIEW, "extra": 1}), "extra"),
        (Scripted(error=RuntimeError("bug in client")), "unexpected RuntimeError"),
    ],
)
async def test_bad_replies_fail_closed_with_the_reason(reply: Scripted, reason: str) -> None:
    result = await run_role(call(), {}, ScriptedClient({"analyst": [reply]}))
    assert result.failed and result.output is None
    assert result.record.status is StageStatus.FAILED
    assert reason in (result.record.reason or "")


class _Hangs:
    provider = "hangs"

    async def complete(self, request: LLMRequest) -> LLMReply:
        import asyncio

        await asyncio.sleep(60)
        raise AssertionError("unreachable")


async def test_a_hanging_provider_is_cut_at_the_fail_threshold() -> None:
    result = await run_role(call(warn_s=0.02, fail_s=0.05), {}, _Hangs())
    assert result.failed and "timed out after 0.05 s" in (result.record.reason or "")


def test_a_budget_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="target <= warn <= fail"):
        StageBudget(2.0, 1.0, 3.0)
