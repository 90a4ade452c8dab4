"""The words of Sena's command grammar: the names a request may use and what each one resolves to.

A request names things (a bot, a symbol, a strategy, an eval set, a day, a time until which something holds);
`Vocabulary` resolves each name against the facts the workflow passed, case-insensitively, to the spelling
the facts use. A name the facts do not know is refused with a one-line message that lists the known ones:
the grammar never guesses a bot or a symbol. Times are computed from `facts.today` / `facts.now`, never from
the wall clock, so a plan is a pure function of the request and the facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any


class GrammarError(ValueError):
    """A request the grammar cannot plan; the message says exactly what was not understood."""


class UnknownNameError(GrammarError):
    """The request names a bot, symbol, strategy or eval set the facts do not list."""


# The outcomes of a decision as an operator says them (`tools.registry.catalog.Outcome`).
OUTCOME_WORDS: dict[str, str] = {
    "rejected": "rejected",
    "screened out": "screened_out",
    "screened-out": "screened_out",
    "hold": "hold",
    "held": "hold",
    "vetoed": "vetoed",
    "blocked": "blocked",
    "ordered": "ordered",
    "bought": "ordered",
    "sold": "ordered",
    "execution failed": "execution_failed",
    "failed": "execution_failed",
    "applied": "applied",
    "skipped": "skipped",
    "awaiting approval": "awaiting_approval",
    "pending": "awaiting_approval",
    "answered": "answered",
}
PROFILE_WORDS: dict[str, str] = {"conservative": "conservative", "moderate": "moderate", "aggressive": "aggressive"}
POSTURE_WORDS: dict[str, str] = {
    "offensive": "offensive",
    "guerrilla": "guerrilla",
    "guerilla": "guerrilla",
    "defensive": "defensive",
}
# The risk limits an operator may change (`tools.registry.catalog.LimitName`).
LIMIT_WORDS: dict[str, str] = {
    "daily loss": "daily_loss_limit_pct",
    "daily-loss": "daily_loss_limit_pct",
    "concentration": "max_concentration_pct",
    "gross exposure": "max_gross_exposure_pct",
    "gross-exposure": "max_gross_exposure_pct",
    "exposure": "max_gross_exposure_pct",
    "price band": "price_band_pct",
    "price-band": "price_band_pct",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DURATION_UNITS = {"minute": 60.0, "hour": 3600.0, "day": 86_400.0, "week": 604_800.0}

DAY_PATTERN = r"\d{4}-\d{2}-\d{2}"
_DAY = re.compile(DAY_PATTERN, re.ASCII)
_TIME = re.compile(r"(?P<day>\d{4}-\d{2}-\d{2})(?:[ t](?P<hour>\d{1,2}):(?P<minute>\d{2}))?(?: ?(?:utc|z))?", re.ASCII)
_WEEKDAY = re.compile(r"(?:next )?(?P<weekday>" + "|".join(WEEKDAYS) + ")", re.ASCII)
_DURATION = re.compile(r"(?P<count>\d{1,4}) (?P<unit>minute|hour|day|week)s?", re.ASCII)
_MAX_LISTED = 10


def _listing(names: Sequence[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _strings(values: Any) -> list[str]:
    return [value for value in values if isinstance(value, str)] if isinstance(values, list) else []


def _bot_ids(bots: Any) -> list[str]:
    if not isinstance(bots, list):
        return []
    return [bot["bot_id"] for bot in bots if isinstance(bot, Mapping) and isinstance(bot.get("bot_id"), str)]


def _lookup(word: str, known: Iterable[str]) -> str | None:
    wanted = word.strip().casefold()
    return next((name for name in known if name.casefold() == wanted), None)


def _parse_now(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _parse_today(value: Any, now: datetime | None) -> date | None:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    return now.astimezone(UTC).date() if now is not None else None


def parse_day(word: str) -> date:
    """A `YYYY-MM-DD` day; `GrammarError` when it is no calendar day."""
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise GrammarError(f"{word!r} is not a day (YYYY-MM-DD)") from None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The names the facts know, and the date the request is read on."""

    bots: tuple[str, ...]
    symbols: tuple[str, ...]
    strategies: tuple[str, ...]
    eval_sets: tuple[str, ...]
    tools: frozenset[str]
    today: date | None
    now: datetime | None

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> Vocabulary:
        """Read the workflow's facts; malformed entries are left out (they can name nothing)."""
        tools = facts.get("tools")
        tool_names = (
            frozenset(t["name"] for t in tools if isinstance(t, Mapping) and isinstance(t.get("name"), str))
            if isinstance(tools, list)
            else frozenset()
        )
        now = _parse_now(facts.get("now"))
        return cls(
            bots=tuple(_bot_ids(facts.get("bots"))),
            symbols=tuple(_strings(facts.get("symbols"))),
            strategies=tuple(_strings(facts.get("strategies"))),
            eval_sets=tuple(_strings(facts.get("eval_sets"))),
            tools=tool_names,
            today=_parse_today(facts.get("today"), now),
            now=now,
        )

    def bot(self, word: str) -> str:
        found = _lookup(word, self.bots)
        if found is None:
            raise UnknownNameError(f"unknown bot {word!r} (bots: {_listing(self.bots)})")
        return found

    def symbol(self, word: str) -> str:
        found = _lookup(word, self.symbols)
        if found is None:
            raise UnknownNameError(f"no market data for symbol {word!r} (symbols: {_listing(self.symbols)})")
        return found

    def strategy(self, word: str) -> str:
        found = _lookup(word, self.strategies)
        if found is None:
            raise UnknownNameError(f"unknown strategy {word!r} (strategies: {_listing(self.strategies)})")
        return found

    def eval_set(self, word: str) -> str:
        found = _lookup(word, self.eval_sets)
        if found is None:
            raise UnknownNameError(f"unknown eval set {word!r} (eval sets: {_listing(self.eval_sets)})")
        return found

    def bot_or_symbol(self, word: str, *, bot_first: bool) -> tuple[str, str]:
        """("bot_id", id) or ("symbol", symbol): what a word names, trying the likelier kind first."""
        kinds = (("bot_id", self.bots), ("symbol", self.symbols))
        for kind, known in kinds if bot_first else kinds[::-1]:
            found = _lookup(word, known)
            if found is not None:
                return kind, found
        raise UnknownNameError(
            f"{word!r} is neither a bot (bots: {_listing(self.bots)}) "
            f"nor a symbol with market data (symbols: {_listing(self.symbols)})"
        )

    def day(self, word: str) -> date:
        """A day as said in a query: `YYYY-MM-DD`, `today` or `yesterday`."""
        lowered = word.casefold()
        if lowered in ("today", "yesterday"):
            return self._today() - timedelta(days=1 if lowered == "yesterday" else 0)
        return parse_day(word)

    def until(self, phrase: str) -> datetime:
        """The UTC time a `until WHEN` / `for DURATION` phrase names; it must lie after `now`.

        A weekday is its next occurrence after today at 00:00 UTC, a day is its 00:00 UTC (or the time given),
        `tomorrow` is the next day at 00:00 UTC, a duration counts from `facts.now`.
        """
        phrase = phrase.strip()
        head, _, rest = phrase.casefold().partition(" ")
        if head == "for":
            at = self._after_duration(rest)
        elif head in ("until", "till", "through"):
            at = self._at(rest)
        else:
            raise GrammarError(f"{phrase!r} is not a time (until WEEKDAY | DAY | tomorrow, or for N hours)")
        earliest = self.now if self.now is not None else _midnight(self._today())
        if at <= earliest:
            raise GrammarError(f"{phrase!r} is not in the future ({at.isoformat()} <= {earliest.isoformat()})")
        return at

    def _today(self) -> date:
        if self.today is None:
            raise GrammarError("the facts give no date (facts.today), so a relative day cannot be computed")
        return self.today

    def _at(self, words: str) -> datetime:
        if words == "tomorrow":
            return _midnight(self._today() + timedelta(days=1))
        weekday = _WEEKDAY.fullmatch(words)
        if weekday is not None:
            today = self._today()
            ahead = (WEEKDAYS.index(weekday["weekday"]) - today.weekday() - 1) % 7 + 1
            return _midnight(today + timedelta(days=ahead))
        moment = _TIME.fullmatch(words)
        if moment is None:
            raise GrammarError(f"{words!r} is not a time (a weekday, tomorrow, YYYY-MM-DD [HH:MM])")
        day = parse_day(moment["day"])
        if moment["hour"] is None:
            return _midnight(day)
        hour, minute = int(moment["hour"]), int(moment["minute"])
        if hour > 23 or minute > 59:
            raise GrammarError(f"{words!r} is not a time of day (HH:MM, UTC)")
        return datetime.combine(day, time(hour, minute), tzinfo=UTC)

    def _after_duration(self, words: str) -> datetime:
        duration = _DURATION.fullmatch(words)
        if duration is None:
            raise GrammarError(f"{words!r} is not a duration (N minutes | hours | days | weeks)")
        if self.now is None:
            raise GrammarError("the facts give no time (facts.now), so a duration cannot be computed")
        seconds = int(duration["count"]) * _DURATION_UNITS[duration["unit"]]
        return (self.now + timedelta(seconds=seconds)).astimezone(UTC)


def is_day(word: str) -> bool:
    return _DAY.fullmatch(word) is not None
