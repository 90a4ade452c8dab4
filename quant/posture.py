"""Market posture from the VIX, and each posture's trading parameters (DESIGN.md section 6).

offensive (VIX < 15), guerrilla (15 <= VIX <= 25), defensive (VIX > 25). The numbers are the defaults of
the source documents; the settings may replace the whole table. Percentages are in percent of capital
(2.5 means 2.5 %). Pure: no I/O, no clock.

The evaluation (`evaluate_posture`) adds what AEGIS v3.1 section 3 lists beside the VIX: the market's
volatility (low for offensive, medium for guerrilla, high for defensive) and its trend (a falling market is
defensive). Decision that must not be silently changed: the evaluation is never looser than the VIX
posture. The other inputs can only tighten it; one that is missing or not finite is left out, so the VIX
alone gives the answer it always gave; an unknown VIX is defensive.
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


POSTURE_ALIASES = {"neutral": Posture.GUERRILLA}  # the guerrilla posture is the neutral one between the others


def posture_named(name: str) -> Posture:
    """A posture by its name (case-insensitive; "neutral" is guerrilla); `ValueError` naming the choices."""
    key = name.strip().lower()
    if key in POSTURE_ALIASES:
        return POSTURE_ALIASES[key]
    try:
        return Posture(key)
    except ValueError:
        choices = ", ".join([*(p.value for p in Posture), *POSTURE_ALIASES])
        raise ValueError(f"unknown posture {name!r}: one of {choices}") from None


def stricter(a: Posture, b: Posture) -> Posture:
    """The more cautious of two postures."""
    return a if a.caution >= b.caution else b


@dataclass(frozen=True, slots=True)
class RegimeThresholds:
    """When the market's realised volatility and trend tighten the VIX posture (AEGIS v3.1 section 3).

    Volatility is annualised, in percent (20.0 = 20 % a year), on the VIX's scale: below `calm_volatility_pct`
    it allows any posture, from there up to `stressed_volatility_pct` at most guerrilla, above it defensive.
    The trend is the fast moving average against the slow one, in percent: at or below
    `-falling_market_pct` the market is falling (defensive)."""

    vix: VixThresholds = VixThresholds()
    calm_volatility_pct: float = 15.0
    stressed_volatility_pct: float = 25.0
    falling_market_pct: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.calm_volatility_pct <= self.stressed_volatility_pct:
            raise ValueError("volatility thresholds must satisfy 0 < calm <= stressed")
        if not (math.isfinite(self.falling_market_pct) and self.falling_market_pct > 0):
            raise ValueError("falling_market_pct must be a positive finite percent")


@dataclass(frozen=True, slots=True)
class MarketRegime:
    """The evaluation's inputs. None (or NaN): not known, left out of the evaluation."""

    vix: float | None
    trend_pct: float | None = None  # fast vs slow moving average of the market, percent (+ rising, - falling)
    volatility_pct: float | None = None  # the market's realised volatility, annualised percent


@dataclass(frozen=True, slots=True)
class PostureEvaluation:
    posture: Posture
    vix_posture: Posture  # what the VIX alone says (the evaluation is never looser)
    reason: str  # every input and what it said, e.g. "VIX 14.20: offensive; volatility 18.0 %: at most guerrilla"


def _known(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def evaluate_posture(regime: MarketRegime, thresholds: RegimeThresholds = RegimeThresholds()) -> PostureEvaluation:
    """The posture the market calls for: the stricter of the VIX posture and what volatility and trend allow."""
    vix = _known(regime.vix)
    vix_posture = posture_from_vix(vix, thresholds.vix)
    posture = vix_posture
    parts = [f"VIX {vix:.2f}: {vix_posture}" if vix is not None else "VIX unknown: defensive"]
    volatility = _known(regime.volatility_pct)
    if volatility is None:
        parts.append("volatility unknown: left out")
    else:
        if volatility > thresholds.stressed_volatility_pct:
            cap, said = Posture.DEFENSIVE, "high: defensive"
        elif volatility >= thresholds.calm_volatility_pct:
            cap, said = Posture.GUERRILLA, "medium: at most guerrilla"
        else:
            cap, said = Posture.OFFENSIVE, "low"
        posture = stricter(posture, cap)
        parts.append(f"volatility {volatility:.1f} %: {said}")
    trend = _known(regime.trend_pct)
    if trend is None:
        parts.append("trend unknown: left out")
    elif trend <= -thresholds.falling_market_pct:
        posture = stricter(posture, Posture.DEFENSIVE)
        parts.append(f"trend {trend:+.2f} %: falling market: defensive")
    else:
        parts.append(f"trend {trend:+.2f} %")
    return PostureEvaluation(posture, vix_posture, "; ".join(parts))
