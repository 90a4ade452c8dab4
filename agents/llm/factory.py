"""Building the provider clients the settings ask for.

`rules` is always there. `deepseek` and `anthropic` are built when their key is in the environment,
each behind a resilient client (retries, failover to the configured backups, circuit breakers); without
a key they are registered as unavailable, so a role routed to them fails closed saying which variable to
set. `replay` serves cassettes when a folder is configured. Recording wraps every live client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agents.llm.cassette import CassetteShelf, RecordingClient, ReplayClient
from agents.llm.catalog import CATALOG, ProviderSpec
from agents.llm.client import LLMClient, LLMReply, LLMRequest, ProviderRejectedError
from agents.llm.config import LLMConfig
from agents.llm.resilience import CircuitBreaker, ResilientClient, Route
from agents.llm.rules import RulesClient


class UnconfiguredClient:
    """Stands in for a provider whose key is missing: every call is refused with the reason."""

    def __init__(self, provider: str, reason: str) -> None:
        self._provider = provider
        self.reason = reason

    @property
    def provider(self) -> str:
        return self._provider

    async def complete(self, request: LLMRequest) -> LLMReply:
        raise ProviderRejectedError(f"{self._provider} is not configured: {self.reason}")


def _sdk_client(spec: ProviderSpec, api_key: str, base_url: str | None) -> LLMClient:
    # The SDKs are imported when a live client is made: about 100 MB that a rules or replayed run never needs.
    from agents.llm.anthropic_client import AnthropicClient
    from agents.llm.openai_compat import OpenAICompatibleClient

    if spec.sdk == "anthropic":
        return AnthropicClient(spec, api_key=api_key, base_url=base_url)
    return OpenAICompatibleClient(spec, api_key=api_key, base_url=base_url)


def live_client(spec: ProviderSpec, config: LLMConfig, env: Mapping[str, str]) -> LLMClient:
    key = env.get(spec.api_key_env, "")
    if not key:
        return UnconfiguredClient(spec.name, f"set {spec.api_key_env}")
    routes = [Route(spec.name, _sdk_client(spec, key, config.base_urls.get(spec.name)))]
    for backup in config.backups.get(spec.name, []):
        backup_key = env.get(backup.api_key_env, "") if backup.api_key_env else key
        if backup_key:
            routes.append(Route(backup.name, _sdk_client(spec, backup_key, backup.base_url), backup.model))
    breakers = {
        route.name: CircuitBreaker(config.breaker_failures, config.breaker_reset_s) for route in routes
    }  # fmt: skip
    return ResilientClient(routes, policy=config.retry, breakers=breakers)


def build_clients(config: LLMConfig, env: Mapping[str, str] | None = None) -> dict[str, LLMClient]:
    env = os.environ if env is None else env
    rules = RulesClient()
    clients: dict[str, LLMClient] = {"rules": rules}
    for name, spec in CATALOG.items():
        client = live_client(spec, config, env)
        if config.record_cassettes is not None and not isinstance(client, UnconfiguredClient):
            client = RecordingClient(client, CassetteShelf(config.record_cassettes))
        clients[name] = client
    if config.replay_cassettes is not None:
        shelf = CassetteShelf(config.replay_cassettes)
        clients["replay"] = ReplayClient(
            shelf, strict=config.replay_strict, fallback=None if config.replay_strict else rules
        )
    return clients
