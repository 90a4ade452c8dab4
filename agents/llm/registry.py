"""Providers by name: the graph asks for "rules" or "scripted" (later "deepseek", "anthropic", "replay")
and gets a client, instead of branching on provider names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from agents.llm.client import LLMClient
from agents.llm.observed import CallListener, ObservedClient, ProviderObserver, probe_request


class UnknownProviderError(KeyError):
    pass


@runtime_checkable
class _WithBreakers(Protocol):
    def breaker_states(self) -> dict[str, str]: ...


class ProviderRegistry:
    def __init__(self, clients: Mapping[str, LLMClient], observer: ProviderObserver | None = None) -> None:
        """`observer`, when given, hears every call's outcome (the risk monitor's provider tier); the call
        listeners (`listen_calls`) hear them too, with the role and the latency."""
        self._listeners: list[CallListener] = []
        self._clients: dict[str, LLMClient] = {
            name: ObservedClient(client, observer, self._listeners) for name, client in clients.items()
        }

    def listen_calls(self, listener: CallListener) -> None:
        """Call `listener` with every provider call's outcome from now on (the metrics). Synchronous and cheap."""
        self._listeners.append(listener)

    def get(self, name: str) -> LLMClient:
        try:
            return self._clients[name]
        except KeyError:
            known = ", ".join(sorted(self._clients)) or "none"
            raise UnknownProviderError(f"provider {name!r} is not configured (configured: {known})") from None

    async def probe(self, route: str) -> bool:
        """Ask a route ("provider:model") the health check; the observer hears the outcome as for any call."""
        provider, _, model = route.partition(":")
        try:
            await self.get(provider).complete(probe_request(model))
        except Exception:  # any failure is the answer: the route does not serve yet
            return False
        return True

    def breaker_states(self) -> dict[str, dict[str, str]]:
        """Per provider with circuit breakers (a resilient client): each route's circuit state."""
        states: dict[str, dict[str, str]] = {}
        for name, client in self._clients.items():
            inner = client.inner if isinstance(client, ObservedClient) else client
            if isinstance(inner, _WithBreakers):
                states[name] = inner.breaker_states()
        return states

    def names(self) -> list[str]:
        return sorted(self._clients)
