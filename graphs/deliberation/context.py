"""Per-run knobs (LangGraph runtime context): what a person debugging a run wants to turn.

They appear in LangGraph Studio's configuration panel. Every knob left empty falls back to the settings.
Live clients never go here; they belong to the graph's services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from graphs.deliberation.config import DeliberationConfig, RoleConfig


def _knob(description: str) -> Any:
    return field(default=None, metadata={"description": description})


@dataclass(kw_only=True, frozen=True)
class RunKnobs:
    validation_mode: Literal["parallel", "sequential"] | None = _knob(
        "parallel: analyst and validator run at once; sequential: the validator sees the analyst's view"
    )
    analyst_provider: str | None = _knob("provider for the analyst (rules, scripted, ...)")
    validator_provider: str | None = _knob("provider for the validator")
    commander_provider: str | None = _knob("provider for the commander")
    analyst_model: str | None = _knob("model id for the analyst")
    validator_model: str | None = _knob("model id for the validator")
    commander_model: str | None = _knob("model id for the commander")
    analyst_fail_s: float | None = _knob("analyst fail threshold, seconds (fails closed to hold)")
    validator_fail_s: float | None = _knob("validator fail threshold, seconds (fails closed to veto)")
    commander_fail_s: float | None = _knob("commander fail threshold, seconds (fails closed to hold)")
    posture_override: Literal["offensive", "guerrilla", "defensive"] | None = _knob(
        "force a posture for this run; it can only make the session more cautious"
    )

    def apply(self, config: DeliberationConfig) -> DeliberationConfig:
        roles = dict(config.roles)
        for role in ("analyst", "validator", "commander"):
            base = roles[role]
            changes: dict[str, object] = {}
            for attr, key in (("provider", "provider"), ("model", "model"), ("fail_s", "fail_s")):
                value = getattr(self, f"{role}_{attr}")
                if value is not None:
                    changes[key] = value
            if "fail_s" in changes:
                fail = float(changes["fail_s"])  # type: ignore[arg-type]
                changes["warn_s"] = min(base.warn_s, fail)
                changes["target_s"] = min(base.target_s, fail)
            if changes:
                roles[role] = RoleConfig.model_validate({**base.model_dump(), **changes})
        mode = self.validation_mode or config.validation_mode
        return config.model_copy(update={"roles": roles, "validation_mode": mode})
