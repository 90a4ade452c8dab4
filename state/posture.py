"""The posture control's record: the last automatic evaluation and the operator's override, as sessions read
them from the hot store (`tools.ops.posture` writes them; `state.context_loader` reads them).

No I/O here. Decisions that must not be silently changed:
- An override in force wins over the evaluation, in either direction (the operator's call); one whose
  `until` has passed is not in force, even before the scheduler lifts it.
- Sessions never take the evaluation looser than the VIX they read themselves (`session_posture`), and the
  session's own fail-safe rules (failed sessions, stop-loss exits in a row) are applied on top by the loader.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from quant.posture import Posture, stricter


class PostureSource(StrEnum):
    EVALUATED = "evaluated"  # the automatic evaluation (VIX, volatility, trend)
    OVERRIDE = "override"  # an operator's (or a rule's) override
    VIX = "vix"  # neither yet: the VIX the sessions read


class PostureEvaluated(BaseModel):
    """The last automatic evaluation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    posture: Posture
    reason: str
    vix: float | None = None
    at: AwareDatetime


class PostureOverride(BaseModel):
    """An override of the evaluated posture: who, why, since when, until when (None: until cleared)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    posture: Posture
    reason: str = Field(min_length=1)
    actor: str = Field(min_length=1)
    since: AwareDatetime
    until: AwareDatetime | None = None

    def in_force(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def describe(self) -> str:
        ends = f"until {self.until.isoformat()}" if self.until is not None else "until cleared"
        return f"override {self.posture} by {self.actor} {ends}: {self.reason}"


class CurrentPosture(BaseModel):
    """The control's posture at a moment, and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    posture: Posture
    source: PostureSource
    reason: str
    vix: float | None = None
    actor: str | None = None
    until: AwareDatetime | None = None


class PostureBook(BaseModel):
    """What the control holds: mirrored whole to the hot store under `state.context_loader.POSTURE_KEY`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluated: PostureEvaluated | None = None
    override: PostureOverride | None = None

    def current(self, now: datetime) -> CurrentPosture | None:
        """The override in force, else the evaluation; None before either exists."""
        override = self.override
        if override is not None and override.in_force(now):
            return CurrentPosture(
                posture=override.posture,
                source=PostureSource.OVERRIDE,
                reason=override.describe(),
                actor=override.actor,
                until=override.until,
            )
        if self.evaluated is not None:
            evaluated = self.evaluated
            return CurrentPosture(
                posture=evaluated.posture,
                source=PostureSource.EVALUATED,
                reason=f"evaluated at {evaluated.at.isoformat()}: {evaluated.reason}",
                vix=evaluated.vix,
            )
        return None


def session_posture(current: CurrentPosture, vix_posture: Posture, vix_reason: str) -> tuple[Posture, str]:
    """A session's posture from the control's: an override as it stands; an evaluation made stricter by a
    VIX that rose since (the evaluation may be up to one period old: it never loosens past today's VIX)."""
    if current.source is PostureSource.OVERRIDE:
        return current.posture, current.reason
    posture = stricter(current.posture, vix_posture)
    if posture is not current.posture:
        return posture, f"{current.reason}; {vix_reason} now: {posture}"
    return posture, current.reason
