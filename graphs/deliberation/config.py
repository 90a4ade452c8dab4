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
from quant.market_integrity import IntegrityLimits
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


def roles_over(defaults: Mapping[str, RoleConfig], value: Any) -> Any:
    """Role settings over `defaults`: a partial setting (e.g. only the analyst's provider) changes only what it
    names (a `roles` field's before-validator)."""
    if not isinstance(value, Mapping):
        return value
    merged: dict[str, Any] = {role: config.model_dump() for role, config in defaults.items()}
    for role, given in value.items():
        given = given.model_dump() if isinstance(given, RoleConfig) else given
        merged[role] = {**merged.get(role, {}), **given} if isinstance(given, Mapping) else given
    return merged


def _default_roles() -> dict[str, RoleConfig]:
    return {
        "analyst": RoleConfig(provider="rules", model="deepseek-chat", target_s=2.0, warn_s=3.0, fail_s=5.0),
        "validator": RoleConfig(provider="rules", model="deepseek-reasoner", target_s=1.5, warn_s=2.5, fail_s=4.0),
        "commander": RoleConfig(provider="rules", model="claude-opus-5-5", target_s=1.0, warn_s=2.5, fail_s=5.0),
    }


class IntegrityConfig(BaseModel):
    """RUNE's market-integrity check, run on the guarded order just before `execute` (`quant.market_integrity`):
    an order that would complete a wash trade, a layering stack or a spoofing pattern with the account's recent
    orders is blocked. Orders that only reduce exposure are never blocked by it.

    What the defaults mean:
    - Daily bars (the bundled data, paper trading): a session happens at a bar's time, so orders of different
      days are 86 400 s apart and the 300 s wash window pairs only the orders decided at one close, or an order
      still pending (a paper limit lives one bar). Spoofing counts cancels made within 60 s of placing: with
      daily bars only an operator's or the kill switch's cancels are that quick (the broker's expiries and its
      next-bar cleanup are not), so the pattern watches manual cancels. Layering counts the orders resting at
      once: at most one bar's worth.
    - Intraday (minute bars, ticks): a buy and a sell crossing within 5 minutes are a wash; three orders resting
      more than 1 % off the market on one side are a stack; three quick cancels away from the market in the
      last hour, then an order on the other side, are spoofing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    wash_window_s: float = Field(
        300.0,
        gt=0,
        description="A buy and a sell of one symbol in the market this close in time (seconds) whose "
        "prices cross are a wash trade, whatever the bots",
    )
    layering_min_orders: int = Field(
        3,
        ge=2,
        description="The order that would be the N-th open order on one side of a symbol resting away "
        "from the market is layering",
    )
    away_pct: float = Field(
        1.0,
        gt=0,
        description="An order resting more than this percent from the reference price, on its own "
        "side of the market, is away from the market",
    )
    spoofing_min_orders: int = Field(
        3,
        ge=2,
        description="This many quick cancels away from the market, then an order on the other side of "
        "the symbol, are spoofing",
    )
    cancel_within_s: float = Field(
        60.0,
        gt=0,
        description="An order cancelled within this many seconds of being placed counts as a quick "
        "cancel (one never meant to trade)",
    )
    lookback_s: float = Field(3_600.0, gt=0, description="How far back (seconds) quick cancels count towards spoofing")

    @model_validator(mode="after")
    def _finite(self) -> IntegrityConfig:
        self.limits  # noqa: B018 - validates: finite windows and percent
        return self

    @property
    def limits(self) -> IntegrityLimits:
        return IntegrityLimits(
            wash_window_s=self.wash_window_s,
            layering_min_orders=self.layering_min_orders,
            away_pct=self.away_pct,
            spoofing_min_orders=self.spoofing_min_orders,
            cancel_within_s=self.cancel_within_s,
            lookback_s=self.lookback_s,
        )


class DeliberationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    validation_mode: ValidationMode = "parallel"
    roles: dict[str, RoleConfig] = Field(default_factory=_default_roles)
    min_confidence: float = Field(0.65, ge=0, le=1)
    max_market_age_s: float = Field(30.0, gt=0)
    max_event_age_s: float = Field(
        300.0, gt=0, description="An event older than this on the session's clock is stale: screened out"
    )
    max_vix_age_days: float = Field(
        5.0,
        gt=0,
        description="A VIX observed longer ago than this (days, on the session's clock) is stale: the session is "
        "defensive with no new entries (exits pass) and an alert goes out; 5 covers a weekend with a holiday",
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
    integrity: IntegrityConfig = Field(
        default_factory=IntegrityConfig, description="RUNE's market-integrity check before execute"
    )

    @field_validator("roles", mode="before")
    @classmethod
    def _over_the_defaults(cls, value: Any) -> Any:
        return roles_over(_default_roles(), value)

    @model_validator(mode="after")
    def _complete(self) -> DeliberationConfig:
        missing = {"analyst", "validator", "commander"} - set(self.roles)
        if missing:
            raise ValueError(f"roles missing: {sorted(missing)}")
        if set(self.postures) != set(Posture):
            raise ValueError("postures must define offensive, guerrilla and defensive")
        return self
