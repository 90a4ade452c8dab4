"""The real SDK clients (openai for DeepSeek, anthropic for Claude) against mocked HTTP.

respx intercepts httpcore2 (the transport under openai 3.x / anthropic 2.x) with `assert_all_mocked`:
a request to anything not mocked here fails, so no test can reach the network.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from agents.analyst import AnalystView
from agents.commander import CommanderOrder
from agents.llm.anthropic_client import AnthropicClient
from agents.llm.catalog import ANTHROPIC, DEEPSEEK
from agents.llm.client import ProviderRejectedError, ProviderUnavailableError
from agents.llm.openai_compat import OpenAICompatibleClient
from agents.stage import RoleCall, StageBudget, build_request, run_role
from agents.validator import ValidatorVerdict
from prompts.loader import load_prompt
from state.decisions import StageStatus
from tests.agents.llm.payloads import (
    ANALYSIS,
    ORDER,
    VERDICT,
    anthropic_message,
    as_json,
    deepseek_completion,
    error_body,
    openai_error,
    text,
    thinking,
    tool_use,
)

DEEPSEEK_URL = "https://api.deepseek.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
FACTS = {"report": {"trend": "up"}, "event": {"id": "e1"}}
SECRET = "sk-test-should-never-appear-in-a-record"


def deepseek() -> OpenAICompatibleClient:
    return OpenAICompatibleClient(DEEPSEEK, api_key=SECRET)


def claude() -> AnthropicClient:
    return AnthropicClient(ANTHROPIC, api_key=SECRET)


def call(role: str, schema: Any, model: str, fail_s: float = 5.0) -> RoleCall[Any]:
    return RoleCall(role, schema, load_prompt(role), model, StageBudget(min(1.0, fail_s), min(2.0, fail_s), fail_s))


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)  # type: ignore[no-any-return]


@pytest.fixture
def mock() -> Any:
    with respx.mock(using="httpcore2", assert_all_mocked=True, assert_all_called=False) as router:
        yield router


async def test_deepseek_chat_answers_in_json_mode_with_cached_tokens(mock: respx.Router) -> None:
    route = mock.post(DEEPSEEK_URL).respond(200, json=deepseek_completion(as_json(ANALYSIS), cached=768))
    result = await run_role(call("analyst", AnalystView, "deepseek-chat"), FACTS, deepseek())
    assert result.output == AnalystView.model_validate(ANALYSIS)
    body = sent(route)
    assert body["model"] == "deepseek-chat"
    assert body["response_format"] == {"type": "json_object"}
    assert "AnalystView" in body["messages"][0]["content"]  # the schema rides in the system message
    assert route.calls[-1].request.headers["authorization"] == f"Bearer {SECRET}"
    usage = result.record.usage
    assert usage is not None
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (812, 768, 95)
    assert usage.cost_usd == pytest.approx((44 * 0.27 + 768 * 0.07 + 95 * 1.10) / 1e6)
    assert SECRET not in result.record.model_dump_json()


async def test_deepseek_reasoner_keeps_its_reasoning_and_gets_no_json_mode(mock: respx.Router) -> None:
    reply = "Checking each rule.\n```json\n" + as_json(VERDICT) + "\n```"
    payload = deepseek_completion(reply, model="deepseek-reasoner", reasoning="RSI 55 is not extreme; ATR fits.")
    route = mock.post(DEEPSEEK_URL).respond(200, json=payload)
    result = await run_role(call("validator", ValidatorVerdict, "deepseek-reasoner"), FACTS, deepseek())
    assert result.output is not None and result.output.verdict == "approve"
    assert "response_format" not in sent(route) and "tool_choice" not in sent(route)
    assert result.record.reasoning == "RSI 55 is not extreme; ATR fits."
    assert result.record.usage is not None and result.record.usage.reasoning_tokens == 410


async def test_claude_answers_through_a_forced_tool_with_prompt_caching(mock: respx.Router) -> None:
    blocks = [thinking("Size within the posture."), tool_use("CommanderOrder", ORDER)]
    route = mock.post(ANTHROPIC_URL).respond(200, json=anthropic_message(blocks, cache_read=1800))
    result = await run_role(call("commander", CommanderOrder, "claude-opus-5"), FACTS, claude())
    assert result.output == CommanderOrder.model_validate(ORDER)
    body = sent(route)
    assert body["tool_choice"] == {"type": "tool", "name": "CommanderOrder"}
    assert body["tools"][0]["input_schema"]["title"] == "CommanderOrder"
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert route.calls[-1].request.headers["anthropic-version"]
    assert result.record.reasoning == "Size within the posture."
    usage = result.record.usage
    assert usage is not None
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (1950, 1800, 230)
    assert usage.cost_usd == pytest.approx((150 * 5.0 + 1800 * 0.50 + 230 * 25.0) / 1e6)


async def test_claude_opus_5_5_uses_the_json_schema_output_format(mock: respx.Router) -> None:
    payload = anthropic_message([text(as_json(ORDER))], model="claude-opus-5-5", cache_write=1800)
    route = mock.post(ANTHROPIC_URL).respond(200, json=payload)
    result = await run_role(call("commander", CommanderOrder, "claude-opus-5-5"), FACTS, claude())
    assert result.output is not None and result.output.action == "buy"
    body = sent(route)
    assert "tool_choice" not in body
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert result.record.usage is not None and result.record.usage.cache_write_tokens == 1800


async def test_malformed_json_is_repaired_once_showing_the_model_its_error(mock: respx.Router) -> None:
    route = mock.post(DEEPSEEK_URL).mock(
        side_effect=[
            httpx.Response(200, json=deepseek_completion('{"direction": "up", "confidence": 2}')),
            httpx.Response(200, json=deepseek_completion(as_json(ANALYSIS))),
        ]
    )
    result = await run_role(call("analyst", AnalystView, "deepseek-chat"), FACTS, deepseek())
    assert result.output == AnalystView.model_validate(ANALYSIS)
    assert result.record.repaired and result.record.status is StageStatus.OK
    repair = sent(route, 1)["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"direction": "up", "confidence": 2}'}
    assert "direction" in repair[-1]["content"] and "AnalystView" in repair[-1]["content"]
    assert result.record.usage is not None and result.record.usage.input_tokens == 2 * 812


async def test_malformed_twice_fails_closed_with_both_reasons(mock: respx.Router) -> None:
    mock.post(DEEPSEEK_URL).respond(200, json=deepseek_completion("I think it goes up."))
    result = await run_role(call("analyst", AnalystView, "deepseek-chat"), FACTS, deepseek())
    assert result.failed
    assert "no JSON object" in (result.record.reason or "") and "repair reply was invalid too" in (
        result.record.reason or ""
    )


async def test_401_is_not_retried_and_says_so_clearly(mock: respx.Router) -> None:
    route = mock.post(ANTHROPIC_URL).respond(401, json=error_body("authentication_error", "invalid x-api-key"))
    request = build_request(call("commander", CommanderOrder, "claude-opus-5"), FACTS)
    with pytest.raises(ProviderRejectedError, match=r"HTTP 401: invalid x-api-key") as caught:
        await claude().complete(request)
    assert caught.value.status == 401 and not caught.value.retryable
    assert route.call_count == 1


async def test_429_is_retryable_and_carries_retry_after(mock: respx.Router) -> None:
    mock.post(DEEPSEEK_URL).respond(
        429, json=openai_error("Rate limit reached", "rate_limit_error"), headers={"retry-after": "2"}
    )
    request = build_request(call("analyst", AnalystView, "deepseek-chat"), FACTS)
    with pytest.raises(ProviderUnavailableError) as caught:
        await deepseek().complete(request)
    assert caught.value.retryable and caught.value.status == 429 and caught.value.retry_after == 2.0
