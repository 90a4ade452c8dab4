"""Sena, Lubit and RUNE through the real SDKs (openai for DeepSeek, anthropic for Claude) against mocked HTTP.

Each role is asked through its own function (`sena.plan`, `lubit.judge`, `rune.opine`) with the facts the
workflow passes and the operator's request quoted as untrusted text. The tests read the request exactly as the
SDK sent it (model, messages, where the request text sits, the schema the provider is given), the parsed and
validated output, usage and cost, the repair and fail-closed paths, and that the API key is in no record.
respx intercepts httpcore2 with `assert_all_mocked`: nothing here can reach the network.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
import respx

from agents import lubit, rune, sena
from agents.llm.anthropic_client import AnthropicClient
from agents.llm.anthropic_schema import output_format_schema
from agents.llm.catalog import ANTHROPIC, DEEPSEEK, REASONING_ROOM
from agents.llm.client import DEFAULT_MAX_OUTPUT_TOKENS, LLMClient
from agents.llm.config import LLMConfig
from agents.llm.factory import live_client
from agents.llm.openai_compat import OpenAICompatibleClient
from agents.llm.resilience import RetryPolicy
from agents.lubit import LubitVerdict
from agents.rune import RuneOpinion
from agents.sena import Plan
from agents.stage import RoleResult, StageBudget, json_schema_of
from prompts.escaping import escape_content
from prompts.loader import ExternalText, load_prompt
from state.decisions import StageRecord, StageStatus
from tests.agents.llm.payloads import (
    LUBIT,
    OPINION,
    PLAN,
    anthropic_message,
    as_json,
    deepseek_completion,
    openai_error,
    text,
    thinking,
    tool_use,
)
from tests.agents.workflow_facts import lubit_facts, request_block, rune_facts, sena_facts
from tools.registry.catalog import spec

DEEPSEEK_URL = "https://api.deepseek.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
SECRET = "sk-test-workflow-key-never-in-a-record"
BUDGET = StageBudget(1.0, 2.0, 5.0)
REQUEST = "Please stop the value bot until Monday & keep its brackets."  # "&" is escaped in the block
Ask = Callable[..., Awaitable[RoleResult[Any]]]


def deepseek() -> OpenAICompatibleClient:
    return OpenAICompatibleClient(DEEPSEEK, api_key=SECRET)


def claude() -> AnthropicClient:
    return AnthropicClient(ANTHROPIC, api_key=SECRET)


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)  # type: ignore[no-any-return]


def opening(block: ExternalText) -> str:
    return f'<external_text source="operator_request" ref="{block.ref}" trust="untrusted">'


def assert_request_only_in_its_block(body: dict[str, Any], request: str = REQUEST) -> None:
    """The request's text is in the sent body once: inside the one operator_request block of the user turn."""
    raw = json.dumps(body, ensure_ascii=False)
    assert raw.count(json.dumps(escape_content(request), ensure_ascii=False)[1:-1]) == 1
    assert escape_content(request) == request or request not in raw, "never unescaped"
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    block = request_block(request)
    start = user.index(opening(block)) + len(opening(block))
    assert user.count("<external_text ") == 1 and user.count("</external_text>") == 1
    assert user[start : user.index("</external_text>")] == f"\n{escape_content(request)}\n"


def assert_no_key_anywhere(*records: StageRecord) -> None:
    for record in records:
        assert SECRET not in record.model_dump_json()


def schema_in_system_text(system: str, schema_name: str) -> dict[str, Any]:
    """The JSON schema the client appended to the system text for JSON mode or a prompted reply."""
    marker = f"({schema_name}), and nothing else:\n"
    assert marker in system
    return json.loads(system[system.index(marker) + len(marker) :])  # type: ignore[no-any-return]


@pytest.fixture
def mock() -> Any:
    with respx.mock(using="httpcore2", assert_all_mocked=True, assert_all_called=False) as router:
        yield router


# ---- each role on its default provider ---------------------------------------------------------------


async def test_sena_on_deepseek_chat_plans_in_json_mode(mock: respx.Router) -> None:
    route = mock.post(DEEPSEEK_URL).respond(200, json=deepseek_completion(as_json(PLAN), cached=512))
    result = await sena.plan(sena_facts(), [request_block(REQUEST)], client=deepseek(), model="deepseek-chat",
                             budget=BUDGET)  # fmt: skip
    assert result.output == Plan.model_validate(PLAN)
    for step in result.output.steps:
        spec(step.tool).parse(step.args)  # every step's arguments validate against its tool
    body = sent(route)
    assert body["model"] == "deepseek-chat" and body["response_format"] == {"type": "json_object"}
    assert body["max_tokens"] == sena.PLAN_OUTPUT_TOKENS, "room for a plan at its schema's limits"
    system, user = body["messages"]
    assert system["role"] == "system" and system["content"].startswith(load_prompt("sena").system)
    given = schema_in_system_text(system["content"], "Plan")
    assert given == json_schema_of(Plan)  # the full schema, the steps' free-form args included
    assert given["$defs"]["PlanStep"]["properties"]["args"]["additionalProperties"] is True
    assert REQUEST not in system["content"] and "bot.stop" in user["content"]  # the registry is among the facts
    assert_request_only_in_its_block(body)
    record = result.record
    assert (record.status, record.provider, record.model, record.prompt_id) == (
        StageStatus.OK, "deepseek", "deepseek-chat", "sena@v2"
    )  # fmt: skip
    assert record.usage is not None
    assert (record.usage.input_tokens, record.usage.cached_input_tokens, record.usage.output_tokens) == (812, 512, 95)
    assert record.usage.cost_usd == pytest.approx((300 * 0.27 + 512 * 0.07 + 95 * 1.10) / 1e6)
    assert route.calls[-1].request.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(body)
    assert_no_key_anywhere(record)


async def test_lubit_on_deepseek_reasoner_keeps_its_reasoning_and_reads_the_json_from_its_text(
    mock: respx.Router,
) -> None:
    reply = "The checks approve and s1 is what was asked.\n```json\n" + as_json(LUBIT) + "\n```\nDone."
    payload = deepseek_completion(reply, model="deepseek-reasoner", reasoning="s1 stops value; role trade suffices.")
    route = mock.post(DEEPSEEK_URL).respond(200, json=payload)
    plan = Plan.model_validate(PLAN)
    result = await lubit.judge(lubit_facts(plan), [request_block(REQUEST)], client=deepseek(),
                               model="deepseek-reasoner", budget=BUDGET)  # fmt: skip
    assert result.output == LubitVerdict.model_validate(LUBIT)
    body = sent(route)
    assert body["model"] == "deepseek-reasoner"
    assert body["max_tokens"] == DEFAULT_MAX_OUTPUT_TOKENS + REASONING_ROOM, "its reasoning counts in max_tokens"
    assert "response_format" not in body and "tool_choice" not in body and "tools" not in body
    given = schema_in_system_text(body["messages"][0]["content"], "LubitVerdict")
    assert given == json_schema_of(LubitVerdict) and "additionalProperties" in given["properties"]["priorities"]
    assert_request_only_in_its_block(body)
    record = result.record
    assert record.reasoning == "s1 stops value; role trade suffices."
    assert record.raw_reply == reply and record.prompt_id == "lubit@v2"
    assert record.usage is not None and record.usage.reasoning_tokens == 410
    assert record.usage.cost_usd == pytest.approx((812 * 0.55 + 505 * 2.19) / 1e6)
    assert_no_key_anywhere(record)


@pytest.mark.parametrize("model", ["claude-opus-5-5", "claude-opus-5"])
async def test_rune_opinion_on_claude(mock: respx.Router, model: str) -> None:
    blocks = [thinking("Every step cites its audit record.")]
    blocks.append(text(as_json(OPINION)) if model == "claude-opus-5-5" else tool_use("RuneOpinion", OPINION))
    route = mock.post(ANTHROPIC_URL).respond(200, json=anthropic_message(blocks, model=model, cache_write=1400))
    plan = Plan.model_validate(PLAN)
    result = await rune.opine(rune_facts(plan), [request_block(REQUEST)], client=claude(), model=model,
                              budget=BUDGET)  # fmt: skip
    assert result.output == RuneOpinion.model_validate(OPINION)
    body = sent(route)
    assert body["model"] == model and body["max_tokens"] == DEFAULT_MAX_OUTPUT_TOKENS + REASONING_ROOM
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["system"][0]["text"] == load_prompt("rune").system, "the schema is given as a schema, not as text"
    assert [m["role"] for m in body["messages"]] == ["user"]
    if model == "claude-opus-5-5":  # the JSON-schema output format, in the subset it accepts
        assert "tools" not in body and "tool_choice" not in body
        schema = body["output_config"]["format"]["schema"]
        assert schema == output_format_schema(json_schema_of(RuneOpinion))
        assert '"minLength"' not in json.dumps(schema) and schema["additionalProperties"] is False
    else:  # a forced tool, whose input schema is the full schema
        assert body["tool_choice"] == {"type": "tool", "name": "RuneOpinion"}
        assert body["tools"][0]["input_schema"] == json_schema_of(RuneOpinion)
        assert "output_config" not in body
    assert_request_only_in_its_block(body)
    record = result.record
    assert (record.provider, record.model, record.prompt_id) == ("anthropic", model, "rune@v2")
    assert record.reasoning == "Every step cites its audit record."
    usage = record.usage
    assert usage is not None and (usage.input_tokens, usage.cache_write_tokens) == (1550, 1400)
    prices = ANTHROPIC.model(model).prices
    assert prices.cache_write is not None
    assert usage.cost_usd == pytest.approx((150 * prices.input + 1400 * prices.cache_write + 230 * prices.output) / 1e6)
    assert route.calls[-1].request.headers["authorization"] == f"Bearer {SECRET}"
    assert_no_key_anywhere(record)


# ---- a dict field on Claude: the output format cannot hold it ----------------------------------------


async def test_a_plan_on_claude_opus_5_5_is_asked_for_in_the_prompt_not_closed_empty(mock: respx.Router) -> None:
    route = mock.post(ANTHROPIC_URL).respond(
        200, json=anthropic_message([text(as_json(PLAN))], model="claude-opus-5-5")
    )
    result = await sena.plan(sena_facts(), [request_block(REQUEST)], client=claude(), model="claude-opus-5-5",
                             budget=BUDGET)  # fmt: skip
    assert result.output == Plan.model_validate(PLAN)
    assert result.output.steps[0].args["bot_id"] == "value", "the arguments survive"
    body = sent(route)
    assert "output_config" not in body and "tools" not in body
    assert schema_in_system_text(body["system"][0]["text"], "Plan") == json_schema_of(Plan)


async def test_lubit_on_claude_opus_5_gets_its_priorities_through_the_forced_tool(mock: respx.Router) -> None:
    route = mock.post(ANTHROPIC_URL).respond(200, json=anthropic_message([tool_use("LubitVerdict", LUBIT)]))
    result = await lubit.judge(lubit_facts(Plan.model_validate(PLAN)), [request_block(REQUEST)], client=claude(),
                               model="claude-opus-5", budget=BUDGET)  # fmt: skip
    assert result.output is not None and result.output.priorities == {"s1": 1}
    priorities = sent(route)["tools"][0]["input_schema"]["properties"]["priorities"]
    assert priorities["additionalProperties"] == {"maximum": 99, "minimum": 1, "type": "integer"}


# ---- repair once, then fail closed -------------------------------------------------------------------

ROLES: dict[str, tuple[Ask, str, dict[str, Any], str]] = {
    # role -> (its function, its model, an invalid reply, what the repair instruction names)
    "sena": (sena.plan, "deepseek-chat", {**PLAN, "steps": [{**PLAN["steps"][0], "depends_on": ["s0"]}]},
             "unknown steps"),
    "lubit": (lubit.judge, "deepseek-reasoner", {**LUBIT, "reasons": []}, "reasons"),
    "rune": (rune.opine, "claude-opus-5-5", {"concerns": ["x"]}, "summary"),
}  # fmt: skip
VALID: dict[str, dict[str, Any]] = {"sena": PLAN, "lubit": LUBIT, "rune": OPINION}


def facts_of(role: str) -> dict[str, Any]:
    plan = Plan.model_validate(PLAN)
    if role == "sena":
        return sena_facts()
    return lubit_facts(plan) if role == "lubit" else rune_facts(plan)


def reply(role: str, model: str, payload: dict[str, Any] | str) -> httpx.Response:
    content = payload if isinstance(payload, str) else as_json(payload)
    if role == "rune":
        return httpx.Response(200, json=anthropic_message([text(content)], model=model))
    return httpx.Response(200, json=deepseek_completion(content, model=model))


def client_for(role: str) -> LLMClient:
    return claude() if role == "rune" else deepseek()


def url_for(role: str) -> str:
    return ANTHROPIC_URL if role == "rune" else DEEPSEEK_URL


async def ask(role: str, client: LLMClient, external: Sequence[ExternalText] | None = None) -> RoleResult[Any]:
    function, model, _, _ = ROLES[role]
    quoted = [request_block(REQUEST)] if external is None else external
    return await function(facts_of(role), quoted, client=client, model=model, budget=BUDGET)


@pytest.mark.parametrize("role", ROLES)
async def test_an_invalid_reply_is_repaired_once_showing_the_model_its_error(mock: respx.Router, role: str) -> None:
    _, model, invalid, named = ROLES[role]
    route = mock.post(url_for(role)).mock(side_effect=[reply(role, model, invalid), reply(role, model, VALID[role])])
    result = await ask(role, client_for(role))
    assert result.output is not None and result.output.model_dump(mode="json") == json.loads(as_json(VALID[role]))
    assert result.record.repaired and result.record.status is StageStatus.OK
    repair = sent(route, 1)["messages"]
    assert repair[-2] == {"role": "assistant", "content": as_json(invalid)}
    assert named in repair[-1]["content"] and "validates against" in repair[-1]["content"]
    assert result.record.usage is not None
    assert result.record.usage.input_tokens == 2 * (150 if role == "rune" else 812), "both calls are counted"
    assert_no_key_anywhere(result.record)


@pytest.mark.parametrize("role", ROLES)
async def test_invalid_twice_fails_closed_to_the_roles_safe_output(mock: respx.Router, role: str) -> None:
    _, model, invalid, _ = ROLES[role]
    route = mock.post(url_for(role)).mock(side_effect=[reply(role, model, "Sure! Here is my answer."),
                                                       reply(role, model, invalid)])  # fmt: skip
    result = await ask(role, client_for(role))
    assert route.call_count == 2, "one repair, no more"
    assert result.failed and result.record.status is StageStatus.FAILED
    reason = result.record.reason or ""
    assert "no JSON object" in reason and "repair reply was invalid too" in reason
    assert_fails_closed(role, result)
    assert_no_key_anywhere(result.record)


def assert_fails_closed(role: str, result: RoleResult[Any]) -> None:
    """What the workflow makes of a failed role: Sena's plan runs nothing, Lubit rejects, RUNE adds nothing."""
    assert result.output is None
    if role == "sena":
        applied = result.output or sena.FAIL_CLOSED
        assert applied == sena.FAIL_CLOSED and applied.steps == []
    elif role == "lubit":
        checks_approve = LubitVerdict(verdict="approve", reasons=["the deterministic checks pass"])
        assert lubit.stricter(checks_approve, result.output or lubit.FAIL_CLOSED).verdict == "reject"
    else:
        assert result.record.reason, "a failed opinion is recorded, and changes no check"


@pytest.mark.parametrize("role", ROLES)
async def test_a_5xx_fails_closed_after_the_resilient_clients_retries(mock: respx.Router, role: str) -> None:
    error = (
        httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        if role == "rune"
        else httpx.Response(503, json=openai_error("Service Unavailable", "server_error"))
    )
    route = mock.post(url_for(role)).mock(return_value=error)
    provider = ANTHROPIC if role == "rune" else DEEPSEEK
    config = LLMConfig(retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.0, max_backoff_s=0.0, jitter_s=0.0))
    client = live_client(provider, config, {provider.api_key_env: SECRET})  # the production path: retries, breaker
    result = await ask(role, client)
    assert route.call_count == 3
    assert result.failed and "ProviderUnavailableError" in (result.record.reason or "")
    assert ("HTTP 529" if role == "rune" else "HTTP 503") in (result.record.reason or "")
    assert_fails_closed(role, result)
    assert_no_key_anywhere(result.record)
