"""LLM settings: budgets, retries, circuit breakers, backup endpoints, record and replay.

Keys never live here: each provider's key is read from its environment variable (the catalog names it,
e.g. DEEPSEEK_API_KEY, ANTHROPIC_API_KEY), and never written to a record or a log.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agents.llm.ledger import LLMBudgets
from agents.llm.resilience import RetryPolicy


class BackupRoute(BaseModel):
    """Where to go when a provider's primary endpoint keeps failing: another endpoint and/or model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    base_url: str | None = Field(None, description="Another endpoint of the same API (None: the primary's)")
    model: str | None = Field(None, description="Another model id to ask there (None: the role's model)")
    api_key_env: str | None = Field(None, description="Environment variable of this endpoint's key")


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    budgets: LLMBudgets = Field(default_factory=LLMBudgets)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker_failures: int = Field(5, ge=1, description="Consecutive failures that open a route's circuit")
    breaker_reset_s: float = Field(60.0, gt=0, description="Seconds before an open circuit lets a trial call through")
    base_urls: dict[str, str] = Field(
        default_factory=dict, description="Primary endpoint per provider, if not the catalog's"
    )
    backups: dict[str, list[BackupRoute]] = Field(default_factory=dict, description="Failover routes per provider")
    record_cassettes: Path | None = Field(None, description="Keep every live reply as a cassette in this folder")
    replay_cassettes: Path | None = Field(None, description="Folder the `replay` provider serves cassettes from")
    replay_strict: bool = Field(True, description="A replay miss fails the stage (else it asks the rules baseline)")
