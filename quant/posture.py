"""Market posture from the VIX, and each posture's trading parameters (DESIGN.md section 6).

offensive (VIX < 15), guerrilla (15 <= VIX <= 25), defensive (VIX > 25). The numbers are the defaults of
the source documents; the settings may replace the whole table. Percentages are in percent of capital
(2.5 means 2.5 %). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Posture(StrEnum):
    OFFENSIVE = "offensive"
    GUERRILLA = "guerrilla"
    DEFENSIVE = "defensive"

    @property
    def caution(self) -> int:
        """Higher is more cautious; used to pick the stricter of two postures."""
        return _CAUTION[self]


_CAUTION = {Posture.OFFENSIVE: 0, Posture.GUERRILLA: 1, Posture.DEFENSIVE: 2}


@dataclass(frozen=True, slots=True)
class PostureParams:
    """What a posture allows. All `_pct` fields are percent (2.5 = 2.5 %), stop and target as distances."""

    entry_size_pct: float
    stop_loss_pct: float
    take_profit_pct: float
    max_open_positions: int
    limit_order_share_pct: float

    def __post_init__(self) -> None:
        for name in ("entry_size_pct", "stop_loss_pct", "take_profit_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite percent, got {value}")
        if self.max_open_positions < 0:
            raise ValueError("max_open_positions must be >= 0")
        if not 0 <= self.limit_order_share_pct <= 100:
            raise ValueError("limit_order_share_pct must be within 0..100")


DEFAULT_POSTURES: dict[Posture, PostureParams] = {
    Posture.OFFENSIVE: PostureParams(2.5, 1.5, 3.0, 5, 70.0),
    Posture.GUERRILLA: PostureParams(2.0, 1.2, 2.4, 3, 90.0),
    Posture.DEFENSIVE: PostureParams(1.5, 0.8, 1.8, 2, 100.0),
}


@dataclass(frozen=True, slots=True)
class VixThresholds:
    """VIX below `offensive_below` is offensive; above `defensive_above` is defensive."""

    offensive_below: float = 15.0
    defensive_above: float = 25.0


def posture_from_vix(vix: float | None, thresholds: VixThresholds = VixThresholds()) -> Posture:
    """Classify a VIX level. An unknown or non-finite VIX is treated as defensive (fail closed)."""
    if vix is None or not math.isfinite(vix):
        return Posture.DEFENSIVE
    if vix < thresholds.offensive_below:
        return Posture.OFFENSIVE
    if vix > thresholds.defensive_above:
        return Posture.DEFENSIVE
    return Posture.GUERRILLA


def stricter(a: Posture, b: Posture) -> Posture:
    """The more cautious of two postures."""
    return a if a.caution >= b.caution else b
