"""The operator workflow's settings: its roles' providers, models and budgets, its loops and retries.

Sena and Lubit default to DeepSeek's models and RUNE's optional opinion to Claude's, each served by the
embedded `rules` provider until a provider is set (`AEGIS_WORKFLOW__ROLES__SENA__PROVIDER=deepseek`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphs.deliberation.config import RoleConfig, roles_over


def _default_roles() -> dict[str, RoleConfig]:
    return {
        "sena": RoleConfig(provider="rules", model="deepseek-chat", target_s=3.0, warn_s=6.0, fail_s=20.0),
        "lubit": RoleConfig(provider="rules", model="deepseek-reasoner", target_s=3.0, warn_s=8.0, fail_s=30.0),
        "rune": RoleConfig(provider="rules", model="claude-opus-5-5", target_s=3.0, warn_s=8.0, fail_s=30.0),
    }


class WorkflowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: dict[str, RoleConfig] = Field(default_factory=_default_roles)
    max_revisions: int = Field(2, ge=0, le=5, description="Times Lubit may send a plan back to Sena")
    step_attempts: int = Field(3, ge=1, le=10, description="Tries of a step that fails transiently")
    retry_backoff_s: float = Field(0.2, ge=0, description="Wait before a step's second try (doubled each time)")
    approval_timeout_s: float = Field(
        86_400.0, gt=0, description="A plan waiting for approval longer than this expires (rejected, recorded)"
    )
    rune_opinion: bool = Field(False, description="Also ask RUNE's role (an LLM) for an opinion of each run")

    @field_validator("roles", mode="before")
    @classmethod
    def _over_the_defaults(cls, value: Any) -> Any:
        return roles_over(_default_roles(), value)
