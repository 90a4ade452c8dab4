"""A provider's health as the risk monitor sees it: every call's outcome, after the client's own retries
and failover, reported to an observer.

The failure tiers (AEGIS v3.1 section 4: a provider failing for 30 s -> REDUCING, 5 min -> safe mode)
need to know whether the providers answer. `ObservedClient` wraps any `LLMClient` and tells the observer
"ok" or "failed" for each `complete` call; it changes nothing about the call itself.

What counts as a failure: a `ProviderError` (the client gave up) and a call cancelled at or past its own
deadline (the stage runner's timeout). A call cancelled earlier (a worker shutting down) is not an outcome.
While a route fails nothing else may call it (no new entries reach the roles), so the monitor sends
`probe_request` to learn it is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agents.llm.client import LLMClient, LLMReply, LLMRequest, ProviderError
from prompts.loader import Message, messages_hash
from state.clock import monotonic_ms

# Called with ("provider:model", the call succeeded): one model failing while another of the same provider
# answers still leaves its role unserved. Synchronous and cheap: the monitor acts on its own time.
ProviderObserver = Callable[[str, bool], None]
_DEADLINE_SLACK_S = 0.01  # timers of the loop and of the monotonic clock differ by a hair


class ObservedClient:
    def __init__(self, inner: LLMClient, observer: ProviderObserver) -> None:
        self._inner = inner
        self._observer = observer

    @property
    def provider(self) -> str:
        return self._inner.provider

    @property
    def inner(self) -> LLMClient:
        return self._inner

    async def complete(self, request: LLMRequest) -> LLMReply:
        started, route = monotonic_ms(), f"{self.provider}:{request.model}"
        try:
            reply = await self._inner.complete(request)
        except ProviderError:
            self._observer(route, False)
            raise
        except asyncio.CancelledError:
            if (monotonic_ms() - started) / 1000.0 >= request.timeout_s - _DEADLINE_SLACK_S:
                self._observer(route, False)
            raise
        self._observer(route, True)
        return reply


_PROBE_MESSAGES = (
    Message("system", 'You are a health check. Reply with the JSON object {"ok": true} and nothing else.'),
    Message("user", "health check"),
)


def probe_request(model: str, timeout_s: float = 10.0) -> LLMRequest:
    """The smallest request that shows a route answers: a few tokens, no facts, no event text."""
    return LLMRequest(
        role="health_check",
        model=model,
        messages=_PROBE_MESSAGES,
        prompt_id="health_check",
        prompt_hash=messages_hash(_PROBE_MESSAGES),
        schema_name="HealthCheck",
        json_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
        timeout_s=timeout_s,
        max_output_tokens=16,
    )
