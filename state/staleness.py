"""How old an input that sets risk is, against its maximum age: the rule of "stale inputs fail closed".

An input that sets risk (the VIX behind the posture; a symbol's last bar and the broker's reference price have
their own limits: `deliberation.max_market_age_s` in the pre-screen, `risk_limits.max_reference_age_s` in the
risk guard, which let only existing positions be managed past them) carries the time it was observed. The
session records each stale one in its decision (`symbol_staleness` for a symbol's), and the risk monitor
alerts once per episode. Past its maximum age the session treats it as stale: it
records a `StaleInput` (which input, as of when, how old, the limit), takes the most defensive posture and
lets no new entry through (exits and reductions still pass); the risk monitor alerts once per staleness
episode (`StaleInput.dedup_key`: the input and the time it was observed, so a fresh reading ends the episode).

Decisions that must not be silently changed:
- The age is measured on the session's clock, never the wall clock, so a replay ages its inputs as it goes.
- At the limit is still fresh; strictly past it is stale.
- An observation time that does not parse is stale (age unknown: fail closed); no observation time at all
  (a writer that predates it, e.g. a drill setting the VIX directly) is "age unknown" and not flagged.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SECONDS_PER_DAY = 86_400.0


class StaleInput(BaseModel):
    """One input past its maximum age at a session's start. Ages and limits in `unit`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str  # "vix"; "market:<symbol>" (its last bar); "price:<symbol>" (the broker's reference price)
    as_of: datetime | None  # when it was observed (None: the time did not parse)
    age: float  # how old, in `unit` (inf when unknown)
    limit: float  # the maximum age, in `unit`
    unit: Literal["days", "s"]

    @property
    def dedup_key(self) -> str:
        """One alert per input per staleness episode: a new observation starts a new episode."""
        return f"stale_input:{self.input}:{self.as_of.isoformat() if self.as_of else 'unreadable'}"

    def describe(self) -> str:
        when = None if self.as_of is None else (self.as_of.date() if self.unit == "days" else self.as_of)
        seen = f"last observed {when.isoformat()}" if when is not None else "observation time unreadable"
        age = f"{self.age:.1f} {self.unit} old" if math.isfinite(self.age) else "age unknown"
        return f"{self.input} stale: {seen}, {age} (limit {self.limit:g} {self.unit})"


def vix_staleness(as_of: Any, now: datetime, max_age_days: float) -> StaleInput | None:
    """The VIX as a stale input, or None when fresh (or its observation time was never recorded).

    `as_of`: the hot copy of the VIX's observation time (an ISO datetime string, `VIX_AS_OF_KEY`)."""
    if as_of is None:
        return None
    try:
        seen = datetime.fromisoformat(as_of) if isinstance(as_of, str) else None
    except ValueError:
        seen = None
    if seen is None or seen.tzinfo is None:
        return StaleInput(input="vix", as_of=None, age=math.inf, limit=max_age_days, unit="days")
    age = max(0.0, (now - seen).total_seconds() / SECONDS_PER_DAY)
    if age <= max_age_days:
        return None
    return StaleInput(input="vix", as_of=seen, age=age, limit=max_age_days, unit="days")


def symbol_staleness(input_: str, as_of: datetime, age_s: float, max_age_s: float) -> StaleInput | None:
    """A symbol's input observed at `as_of`, `age_s` old on the session's clock, as a stale input past
    `max_age_s` (`input_`: "market:<symbol>" or "price:<symbol>"), else None."""
    if age_s <= max_age_s:
        return None
    return StaleInput(input=input_, as_of=as_of, age=age_s, limit=max_age_s, unit="s")
