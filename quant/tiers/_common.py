"""Helpers shared by the tier modules: clock-argument checks, elapsed seconds, at-the-limit comparisons.

Owns nothing a caller sees. Must never read the clock: every moment arrives as an argument.
"""

from __future__ import annotations

import math
import operator
from datetime import datetime

# Money is decimal but held in binary floats: 0.029 on 2.90 is 1 % exactly, yet 100 * 0.029 / 2.90 is
# 0.9999999999999999. A figure equal to its limit to 12 significant digits counts as reaching it (the safe
# side), as in ``quant.circuit_breaker``.
_AT_LIMIT = 1.0 - 1e-12


def require_aware(moment: datetime, name: str) -> None:
    """Raise ValueError unless ``moment`` is a timezone-aware datetime (naive times are ambiguous)."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


def elapsed_s(since: datetime, now: datetime) -> float:
    """Seconds from ``since`` to ``now``; 0.0 when ``now`` is earlier (a clock behind the signal)."""
    return max(0.0, (now - since).total_seconds())


def reaches_pct(amount: float, limit_pct: float, base: float) -> bool:
    """``100 * amount / base >= limit_pct`` for a positive ``base``, to 12 significant digits."""
    return 100.0 * amount >= limit_pct * base * _AT_LIMIT


def check_seconds(name: str, value: float) -> None:
    if not _positive_finite(value):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value!r}")


def check_pct(name: str, value: float) -> None:
    if not _positive_finite(value):
        raise ValueError(f"{name} must be a positive finite percent (1.0 = 1 %), got {value!r}")


def _positive_finite(value: float) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(value) and value > 0.0
    except TypeError:
        return False


def check_count(name: str, value: int) -> None:
    try:
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or count < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
