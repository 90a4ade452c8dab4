"""Providers by name: the graph asks for "rules" or "scripted" (later "deepseek", "anthropic", "replay")
and gets a client, instead of branching on provider names."""

from __future__ import annotations

from collections.abc import Mapping

from agents.llm.client import LLMClient


class UnknownProviderError(KeyError):
    pass


class ProviderRegistry:
    def __init__(self, clients: Mapping[str, LLMClient]) -> None:
        self._clients = dict(clients)

    def get(self, name: str) -> LLMClient:
        try:
            return self._clients[name]
        except KeyError:
            known = ", ".join(sorted(self._clients)) or "none"
            raise UnknownProviderError(f"provider {name!r} is not configured (configured: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._clients)
