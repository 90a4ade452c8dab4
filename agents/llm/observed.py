"""A provider's health as the risk monitor sees it: every call's outcome, after the client's own retries
and failover, reported to an observer.

The failure tiers (AEGIS v3.1 section 4: a provider failing for 30 s -> REDUCING, 5 min -> safe mode)
need to know whether the providers answer. `ObservedClient` wraps any `LLMClient` and tells the observer
"ok" or "failed" for each `complete` call; it changes nothing about the call itself. The same outcome, with
the asking role and the latency (`ProviderCall`), goes to the call listeners (the metrics).

What counts as a failure: a `ProviderError` (the client gave up) and a call cancelled at or past its own
deadline (the stage runner's timeout). A call cancelled earlier (a worker shutting down) is not an outcome.
While a route fails nothing else may call it (no new entries reach the roles), so the monitor sends
`probe_request` to learn it is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agents.llm.client import LLMClient, LLMReply, LLMRequest, ProviderError
from prompts.loader import Message, messages_hash
from state.clock import monotonic_ms

# Called with ("provider:model", the call succeeded): one model failing while another of the same provider
# answers still leaves its role unserved. Synchronous and cheap: the monitor acts on its own time.
ProviderObserver = Callable[[str, bool], None]
_DEADLINE_SLACK_S = 0.01  # timers of the loop and of the monotonic clock differ by a hair


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One `complete` call's outcome, as the observer hears it, with who asked and how long it took."""

    provider: str
    model: str
    role: str  # the request's role: "analyst", ..., "health_check" for a probe
    ok: bool
    latency_ms: float


CallListener = Callable[[ProviderCall], None]


class ObservedClient:
    def __init__(
        self, inner: LLMClient, observer: ProviderObserver | None, listeners: Sequence[CallListener] = ()
    ) -> None:
        """`listeners` is read at each call: a list the owner appends to later is heard from then on."""
        self._inner = inner
        self._observer = observer
        self._listeners = listeners

    @property
    def provider(self) -> str:
        return self._inner.provider

    @property
    def inner(self) -> LLMClient:
        return self._inner

    async def complete(self, request: LLMRequest) -> LLMReply:
        started = monotonic_ms()
        try:
            reply = await self._inner.complete(request)
        except ProviderError:
            self._tell(request, False, started)
            raise
        except asyncio.CancelledError:
            if (monotonic_ms() - started) / 1000.0 >= request.timeout_s - _DEADLINE_SLACK_S:
                self._tell(request, False, started)
            raise
        self._tell(request, True, started, reply.model)
        return reply

    def _tell(self, request: LLMRequest, ok: bool, started: float, answered_by: str | None = None) -> None:
        """`answered_by`: the model the reply names (the `rules` baseline names itself, not the model it stands
        in for), so the metrics never present a baseline as an LLM."""
        if self._observer is not None:
            self._observer(f"{self.provider}:{request.model}", ok)
        if self._listeners:
            model = answered_by or request.model
            call = ProviderCall(self.provider, model, request.role, ok, monotonic_ms() - started)
            for listener in self._listeners:
                listener(call)


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
