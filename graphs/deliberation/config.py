"""The deliberation's business settings: role providers, models and stage budgets, thresholds, limits.

Defaults are the values of the source documents (DESIGN.md sections 1 and 6). `aegis.Settings` carries
one of these; the per-run knobs of `context.RunKnobs` may override parts of it for one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.stage import StageBudget
from graphs.deliberation.approval_policy import ApprovalPolicy
from quant.posture import DEFAULT_POSTURES, Posture, PostureParams, VixThresholds
from quant.risk_guard import RiskLimits

ValidationMode = Literal["parallel", "sequential"]


class RoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(
        description="Provider name in the registry: rules, scripted (later deepseek, anthropic, replay)"
    )
    model: str = Field(description="Model id sent to the provider")
    target_s: float = Field(gt=0, description="Stage time to aim for, seconds")
    warn_s: float = Field(gt=0, description="Past this the stage is recorded as slow, seconds")
    fail_s: float = Field(gt=0, description="Past this the stage fails closed, seconds")

    @model_validator(mode="after")
    def _ordered(self) -> RoleConfig:
        self.budget  # noqa: B018 - validates target <= warn <= fail
        return self

    @property
    def budget(self) -> StageBudget:
        return StageBudget(self.target_s, self.warn_s, self.fail_s)


def _default_roles() -> dict[str, RoleConfig]:
    return {
        "analyst": RoleConfig(provider="rules", model="deepseek-chat", target_s=2.0, warn_s=3.0, fail_s=5.0),
        "validator": RoleConfig(provider="rules", model="deepseek-reasoner", target_s=1.5, warn_s=2.5, fail_s=4.0),
        "commander": RoleConfig(provider="rules", model="claude-opus-5-5", target_s=1.0, warn_s=2.5, fail_s=5.0),
    }


class DeliberationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    validation_mode: ValidationMode = "parallel"
    roles: dict[str, RoleConfig] = Field(default_factory=_default_roles)
    min_confidence: float = Field(0.65, ge=0, le=1)
    max_market_age_s: float = Field(30.0, gt=0)
    max_event_age_s: float = Field(
        300.0, gt=0, description="An event older than this on the session's clock is stale: screened out"
    )
    failed_sessions_to_defensive: int = Field(3, ge=1)
    stop_losses_to_defensive: int = Field(
        3, ge=1, description="Stop-loss exits in a row that force the defensive posture"
    )
    postures: dict[Posture, PostureParams] = Field(default_factory=lambda: dict(DEFAULT_POSTURES))
    vix_thresholds: VixThresholds = Field(default_factory=VixThresholds)
    risk_limits: RiskLimits = Field(default_factory=RiskLimits)
    approvals: ApprovalPolicy = Field(
        default_factory=ApprovalPolicy, description="Which guarded orders wait for a person before execute"
    )

    @field_validator("roles", mode="before")
    @classmethod
    def _over_the_defaults(cls, value: Any) -> Any:
        """A partial role setting (e.g. only the analyst's provider) changes only what it names."""
        if not isinstance(value, Mapping):
            return value
        merged: dict[str, Any] = {role: config.model_dump() for role, config in _default_roles().items()}
        for role, given in value.items():
            given = given.model_dump() if isinstance(given, RoleConfig) else given
            merged[role] = {**merged.get(role, {}), **given} if isinstance(given, Mapping) else given
        return merged

    @model_validator(mode="after")
    def _complete(self) -> DeliberationConfig:
        missing = {"analyst", "validator", "commander"} - set(self.roles)
        if missing:
            raise ValueError(f"roles missing: {sorted(missing)}")
        if set(self.postures) != set(Posture):
            raise ValueError("postures must define offensive, guerrilla and defensive")
        return self
