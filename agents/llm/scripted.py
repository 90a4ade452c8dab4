"""The `scripted` client: replies fixed in advance, for tests and benchmarks.

Each role gets a queue of `Scripted` replies: raw text (parsed like a real model's text), an optional
delay (to exercise stage budgets) and an optional error to raise (to exercise failure paths). The last
reply of a queue repeats. Every request is kept in `requests` so tests can inspect what a role was asked
(unless `keep_requests` is off: a long benchmark would hold every prompt).

`latency`, if given, is asked for each request's wait in seconds (added to the reply's own delay): a model
that takes as long as a real one, e.g. drawn per event and role from a seeded distribution.

A repair request (the stage runner's second try after an invalid reply) never takes a reply from the
role's queue, which belongs to the next events: it gets the next reply of the role's `repairs` queue if
one is scripted, else the reply it is repairing again (a broken model stays broken, and fails closed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.llm.client import LLMReply, LLMRequest, ProviderRejectedError
from agents.llm.json_reply import find_json_object
from state.clock import monotonic_ms
from state.decisions import Usage

PROVIDER = "scripted"


@dataclass(frozen=True, slots=True)
class Scripted:
    content: str | Mapping[str, Any] = ""
    delay_s: float = 0.0
    error: Exception | None = None
    usage: Usage = field(default_factory=Usage)

    @property
    def raw(self) -> str:
        return self.content if isinstance(self.content, str) else json.dumps(self.content, sort_keys=True)


Script = Mapping[str, Sequence[Scripted | Mapping[str, Any] | str]]


def _queues(script: Script) -> dict[str, list[Scripted]]:
    return {
        role: [r if isinstance(r, Scripted) else Scripted(content=r) for r in replies]
        for role, replies in script.items()
    }


def is_repair(request: LLMRequest) -> bool:
    """A repair request repeats the conversation with the rejected reply and an instruction after it."""
    return len(request.messages) >= 2 and request.messages[-2].role == "assistant"


class ScriptedClient:
    def __init__(
        self,
        script: Script,
        repairs: Script | None = None,
        *,
        latency: Callable[[LLMRequest], float] | None = None,
        keep_requests: bool = True,
    ) -> None:
        self._queues = _queues(script)
        self._repairs = _queues(repairs or {})
        self._latency = latency
        self._keep_requests = keep_requests
        self.requests: list[LLMRequest] = []

    @property
    def provider(self) -> str:
        return PROVIDER

    async def complete(self, request: LLMRequest) -> LLMReply:
        if self._keep_requests:
            self.requests.append(request)
        reply = self._repair_reply(request) if is_repair(request) else self._next_reply(request.role)
        started = monotonic_ms()
        delay_s = reply.delay_s + (self._latency(request) if self._latency is not None else 0.0)
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if reply.error is not None:
            raise reply.error
        return LLMReply(
            raw=reply.raw,
            parsed=find_json_object(reply.raw),
            provider=PROVIDER,
            model=request.model,
            usage=reply.usage,
            latency_ms=monotonic_ms() - started,
        )

    def _next_reply(self, role: str) -> Scripted:
        queue = self._queues.get(role)
        if not queue:
            raise ProviderRejectedError(f"no scripted reply for role {role!r}")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def _repair_reply(self, request: LLMRequest) -> Scripted:
        queue = self._repairs.get(request.role)
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return Scripted(content=request.messages[-2].content)  # the rejected reply, as the model gave it

    def calls(self, role: str) -> int:
        return sum(1 for r in self.requests if r.role == role)
