"""Retries, failover, circuit breakers and timeouts, through the real SDK clients on mocked HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from agents.analyst import AnalystView
from agents.llm.catalog import DEEPSEEK
from agents.llm.client import CircuitOpenError, ProviderRejectedError, ProviderUnavailableError
from agents.llm.openai_compat import OpenAICompatibleClient
from agents.llm.resilience import CircuitBreaker, ResilientClient, RetryPolicy, Route
from agents.stage import build_request, run_role
from tests.agents.llm.payloads import ANALYSIS, as_json, deepseek_completion, openai_error
from tests.agents.llm.test_provider_clients import DEEPSEEK_URL, FACTS, call

BACKUP_URL = "https://deepseek-backup.internal.test/v1/chat/completions"


class FakeTime:
    """A monotonic clock and a sleep that only advance it (no test waits for real)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def resilient(time: FakeTime, *, backup: bool = False, **policy: Any) -> ResilientClient:
    routes = [Route("deepseek", OpenAICompatibleClient(DEEPSEEK, api_key="k"))]
    if backup:
        client = OpenAICompatibleClient(DEEPSEEK, api_key="k2", base_url="https://deepseek-backup.internal.test/v1")
        routes.append(Route("deepseek-backup", client))
    return ResilientClient(routes, policy=RetryPolicy(**policy), sleep=time.sleep, now=time)


@pytest.fixture
def mock() -> Any:
    with respx.mock(using="httpcore2", assert_all_mocked=True, assert_all_called=False) as router:
        yield router


async def test_429_then_success_waits_as_long_as_retry_after_says(mock: respx.Router) -> None:
    time = FakeTime()
    route = mock.post(DEEPSEEK_URL).mock(
        side_effect=[
            httpx.Response(429, json=openai_error("Rate limit", "rate_limit_error"), headers={"retry-after": "1.5"}),
            httpx.Response(200, json=deepseek_completion(as_json(ANALYSIS))),
        ]
    )
    result = await run_role(call("analyst", AnalystView, "deepseek-chat"), FACTS, resilient(time))
    assert result.output == AnalystView.model_validate(ANALYSIS)
    assert route.call_count == 2
    assert time.sleeps and time.sleeps[0] >= 1.5
    outcomes = [(a["route"], a["outcome"], a["status"]) for a in result.record.attempts]
    assert outcomes == [("deepseek", "ProviderUnavailableError", 429), ("deepseek", "ok", None)]


async def test_500s_fail_over_to_the_backup_endpoint(mock: respx.Router) -> None:
    time = FakeTime()
    primary = mock.post(DEEPSEEK_URL).respond(500, json=openai_error("internal error", "server_error"))
    backup = mock.post(BACKUP_URL).respond(200, json=deepseek_completion(as_json(ANALYSIS)))
    result = await run_role(call("analyst", AnalystView, "deepseek-chat"), FACTS, resilient(time, backup=True))
    assert result.output is not None
    assert primary.call_count == 3 and backup.call_count == 1  # three tries on the primary, then failover
    assert [a["route"] for a in result.record.attempts] == ["deepseek"] * 3 + ["deepseek-backup"]
    assert len(time.sleeps) == 2  # backoff between the primary's tries only


async def test_401_is_neither_retried_nor_failed_over(mock: respx.Router) -> None:
    time = FakeTime()
    primary = mock.post(DEEPSEEK_URL).respond(401, json=openai_error("Authentication Fails", "authentication_error"))
    backup = mock.post(BACKUP_URL).respond(200, json=deepseek_completion(as_json(ANALYSIS)))
    client = resilient(time, backup=True)
    with pytest.raises(ProviderRejectedError, match="401") as caught:
        await client.complete(build_request(call("analyst", AnalystView, "deepseek-chat"), FACTS))
    assert primary.call_count == 1 and backup.call_count == 0 and time.sleeps == []
    assert [a.outcome for a in caught.value.attempts] == ["ProviderRejectedError"]


async def test_a_slow_provider_fails_the_stage_closed_at_its_budget(mock: respx.Router) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=deepseek_completion(as_json(ANALYSIS)))

    mock.post(DEEPSEEK_URL).mock(side_effect=slow)
    client = ResilientClient([Route("deepseek", OpenAICompatibleClient(DEEPSEEK, api_key="k"))])
    result = await run_role(call("analyst", AnalystView, "deepseek-chat", fail_s=0.2), FACTS, client)
    assert result.failed
    assert "timed out" in (result.record.reason or "").lower()


async def test_the_circuit_opens_after_five_consecutive_failures_and_half_opens_after_a_minute(
    mock: respx.Router,
) -> None:
    time = FakeTime()
    route = mock.post(DEEPSEEK_URL).respond(503, json=openai_error("overloaded", "server_error"))
    breakers: dict[str, CircuitBreaker] = {}
    client = ResilientClient(
        [Route("deepseek", OpenAICompatibleClient(DEEPSEEK, api_key="k"))],
        policy=RetryPolicy(max_attempts=3),
        breakers=breakers,
        sleep=time.sleep,
        now=time,
    )
    request = build_request(call("analyst", AnalystView, "deepseek-chat", fail_s=600), FACTS)
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):  # 3 then 2 failed calls: the breaker opens on the fifth
            await client.complete(request)
    assert route.call_count == 5
    assert breakers["deepseek"].state == "open"
    with pytest.raises(CircuitOpenError):
        await client.complete(request)
    assert route.call_count == 5  # no call while open
    time.now += 60.001  # just past the reset time (whole seconds lose precision at this magnitude)
    assert breakers["deepseek"].state == "half_open"
    route.respond(200, json=deepseek_completion(as_json(ANALYSIS)))
    reply = await client.complete(request)
    assert reply.parsed == ANALYSIS
    assert breakers["deepseek"].state == "closed"


def test_a_failed_half_open_trial_opens_the_circuit_again() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(failures_to_open=5, reset_after_s=60, now=time)
    for _ in range(5):
        breaker.record_failure()
    time.now += 61
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_failure()
    assert breaker.state == "open"
