"""The `scripted` client: replies fixed in advance, for tests and benchmarks.

Each role gets a queue of `Scripted` replies: raw text (parsed like a real model's text), an optional
delay (to exercise stage budgets) and an optional error to raise (to exercise failure paths). The last
reply of a queue repeats. Every request is kept in `requests` so tests can inspect what a role was asked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
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


class ScriptedClient:
    def __init__(self, script: Mapping[str, Sequence[Scripted | Mapping[str, Any] | str]]) -> None:
        self._queues: dict[str, list[Scripted]] = {
            role: [r if isinstance(r, Scripted) else Scripted(content=r) for r in replies]
            for role, replies in script.items()
        }
        self.requests: list[LLMRequest] = []

    @property
    def provider(self) -> str:
        return PROVIDER

    async def complete(self, request: LLMRequest) -> LLMReply:
        self.requests.append(request)
        queue = self._queues.get(request.role)
        if not queue:
            raise ProviderRejectedError(f"no scripted reply for role {request.role!r}")
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        started = monotonic_ms()
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)
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

    def calls(self, role: str) -> int:
        return sum(1 for r in self.requests if r.role == role)
