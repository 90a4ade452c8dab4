"""The risk-limit control's records: one change of one limit, and the operator's overrides in force, as the
durable store keeps them and sessions read them from the hot store (`tools.ops.limits` writes them;
`state.context_loader` reads them).

The settings hold each limit's value (`quant.risk_guard.RiskLimits`); an operator may override some of them
(the control says which). A change is never rewritten: the durable store keeps every one, numbered per limit,
and the override of a limit is its latest change that set a value (a change back to the setting ends it).

No I/O here. Decisions that must not be silently changed:
- Overrides apply on top of the settings passed in, never on top of another override: a setting changed in
  the config shows through a limit nobody overrode, and a reset always lands on the setting of that moment.
- Applying overrides goes through `RiskLimits` itself, so a value it refuses can never reach a session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from quant.risk_guard import RiskLimits
from state.access import Access


class LimitChange(BaseModel):
    """One change of one risk limit: the override set (or its end), the values in force before and after,
    the setting at that moment, and who, with which role, why and when. Percent like `RiskLimits`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, description="The `RiskLimits` field changed")
    version: int = Field(ge=1, description="This limit's n-th change; written only as the next one")
    value: float | None = Field(description="The override set; None: back to the setting")
    before: float = Field(description="The value in force before the change")
    after: float = Field(description="The value in force after the change")
    setting: float = Field(description="The settings' value when the change was made")
    actor: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    role: Access = Field(description="The role the change was made with")
    at: AwareDatetime

    @property
    def is_reset(self) -> bool:
        return self.value is None

    @property
    def moved(self) -> bool:
        """Whether the value in force changed (a change asked for the value already in force did not)."""
        return self.before != self.after

    def describe(self) -> str:
        what = f"back to the setting {self.setting:g}" if self.value is None else f"{self.value:g}"
        who = f"by {self.actor} ({self.role}) at {self.at.isoformat()}"
        return f"{self.name} {self.before:g} -> {what} {who}: {self.reason}"


class LimitOverrides(BaseModel):
    """The overrides in force: each overridden limit's latest change (the hot copy sessions read)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overrides: dict[str, LimitChange] = Field(default_factory=dict)

    @classmethod
    def of(cls, changes: Iterable[LimitChange]) -> LimitOverrides:
        """The overrides left by `changes` (in the order they were made): per limit, the last change, kept
        when it set a value."""
        latest: dict[str, LimitChange] = {}
        for change in changes:
            latest[change.name] = change
        return cls(overrides={name: c for name, c in sorted(latest.items()) if c.value is not None})

    def applied(self, settings: RiskLimits) -> RiskLimits:
        """`settings` with the overrides in force. `ValueError` when an override names no limit of
        `RiskLimits` or holds a value it refuses (a hand-edited record)."""
        fields = {f.name for f in dataclasses.fields(RiskLimits)}
        unknown = sorted(set(self.overrides) - fields)
        if unknown:
            raise ValueError(f"the risk-limit overrides name no limit {', '.join(unknown)}")
        ended = sorted(name for name, change in self.overrides.items() if change.value is None)
        if ended:
            raise ValueError(f"the risk-limit overrides hold no value for {', '.join(ended)}")
        values: dict[str, Any] = {name: change.value for name, change in self.overrides.items()}
        return dataclasses.replace(settings, **values)
