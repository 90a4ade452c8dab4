"""Record and replay of LLM replies, so every live run can be replayed offline, exactly.

`RecordingClient` wraps any client and writes one cassette per distinct request: the key is the role,
the model, the rendered prompt's hash and the reply schema; the value is the raw reply, the parsed
object, usage, latency and reasoning. `ReplayClient` serves those cassettes; in strict mode a request
with no cassette fails (the stage then fails closed) naming the key it looked for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm.client import LLMClient, LLMReply, LLMRequest, ProviderError
from state.decisions import Usage

PROVIDER = "replay"


class CassetteMissError(ProviderError):
    """No cassette for this request (strict replay)."""


@dataclass(frozen=True, slots=True)
class CassetteKey:
    role: str
    model: str
    prompt_hash: str
    schema_name: str

    @classmethod
    def of(cls, request: LLMRequest) -> CassetteKey:
        return cls(request.role, request.model, request.prompt_hash, request.schema_name)

    @property
    def digest(self) -> str:
        text = json.dumps([self.role, self.model, self.prompt_hash, self.schema_name])
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def __str__(self) -> str:
        return f"{self.role}/{self.model}/{self.prompt_hash}/{self.schema_name}"


class CassetteShelf:
    """A folder of cassettes, one JSON file per key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: CassetteKey) -> Path:
        return self.folder / f"{key.role}-{key.digest}.json"

    async def write(self, key: CassetteKey, reply: LLMReply) -> None:
        record = {
            "key": {"role": key.role, "model": key.model, "prompt_hash": key.prompt_hash, "schema": key.schema_name},
            "reply": {
                "raw": reply.raw,
                "parsed": reply.parsed,
                "provider": reply.provider,
                "model": reply.model,
                "usage": reply.usage.model_dump(),
                "latency_ms": reply.latency_ms,
                "reasoning": reply.reasoning,
            },
        }
        text = json.dumps(record, indent=1, sort_keys=True)
        await asyncio.to_thread(self._write_text, self.path(key), text)

    async def read(self, key: CassetteKey) -> LLMReply | None:
        text = await asyncio.to_thread(self._read_text, self.path(key))
        if text is None:
            return None
        reply: dict[str, Any] = json.loads(text)["reply"]
        return LLMReply(
            raw=reply["raw"],
            parsed=reply["parsed"],
            provider=reply["provider"],
            model=reply["model"],
            usage=Usage.model_validate(reply["usage"]),
            latency_ms=float(reply["latency_ms"]),
            reasoning=reply["reasoning"],
        )

    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json")) if self.folder.is_dir() else 0

    @staticmethod
    def _write_text(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)  # atomic: a crash never leaves half a cassette

    @staticmethod
    def _read_text(path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None


class RecordingClient:
    """Passes requests to `inner` and keeps each reply as a cassette."""

    def __init__(self, inner: LLMClient, shelf: CassetteShelf) -> None:
        self._inner = inner
        self._shelf = shelf

    @property
    def provider(self) -> str:
        return self._inner.provider

    async def complete(self, request: LLMRequest) -> LLMReply:
        reply = await self._inner.complete(request)
        await self._shelf.write(CassetteKey.of(request), reply)
        return reply


class ReplayClient:
    """Serves recorded replies. Strict: a miss fails naming the key; otherwise it asks `fallback`."""

    def __init__(self, shelf: CassetteShelf, *, strict: bool = True, fallback: LLMClient | None = None) -> None:
        if not strict and fallback is None:
            raise ValueError("a non-strict replay needs a fallback client for the misses")
        self._shelf = shelf
        self._strict = strict
        self._fallback = fallback
        self.misses: list[CassetteKey] = []

    @property
    def provider(self) -> str:
        return PROVIDER

    async def complete(self, request: LLMRequest) -> LLMReply:
        key = CassetteKey.of(request)
        reply = await self._shelf.read(key)
        if reply is not None:
            return reply
        self.misses.append(key)
        if self._strict or self._fallback is None:
            raise CassetteMissError(f"no cassette for {key} in {self._shelf.folder}")
        return await self._fallback.complete(request)
