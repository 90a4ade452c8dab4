"""Bots: the strategies that trade sleeves of the account, their allocation and whether they may trade.

This module owns the bot record, the registry a session reads (`BotBook`), and the one rule that turns a
bot's record into "may this signal be deliberated". Writing a bot (registered, stopped, resumed,
re-allocated, audited with who and why) is `tools.ops.bots`'s job; reading it is the context loader's.
No I/O here.

Decisions that must not be silently changed:
- Every signal, order, fill and position belongs to one bot. An event without a `bot_id` belongs to the
  default bot (`DEFAULT_BOT_ID`).
- An empty registry (nobody ever registered a bot) is one implicit default bot that runs with the whole
  account (allocation 1.0), so a system without bots trades as it always did. Once any bot is registered
  only registered bots trade: a signal of a bot the registry does not hold is settled without deliberation.
- A bot's allocation is a fraction of the account's equity: the budget for its committed exposure (filled
  plus pending). Allocations of the registered bots sum to at most 1.
- A stopped bot's signals are recorded and settled without any LLM call; its positions keep their brackets.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

DEFAULT_BOT_ID = "default"
BotId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
_ALLOCATION_SLACK = 1e-9  # allocations are sums of floats: 0.3 + 0.3 + 0.4 may exceed 1 by rounding


class BotState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class Bot(BaseModel):
    """One bot: what it trades, its share of the account, and its state with who set it, when and why."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    bot_id: BotId
    strategy: Annotated[str, Field(min_length=1, max_length=64)]  # e.g. "screen", "growth", "value"
    universe: tuple[str, ...] = ()  # the symbols it trades; empty = any
    allocation: Annotated[float, Field(ge=0.0, le=1.0)]  # fraction of the account's equity
    state: BotState = BotState.RUNNING
    reason: str = "registered"
    actor: str = "system"
    since: AwareDatetime
    stopped_until: AwareDatetime | None = None  # set: resumed automatically from then (the breaker's option)

    @field_validator("universe")
    @classmethod
    def _distinct(cls, universe: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(universe)) != len(universe):
            raise ValueError(f"the universe repeats a symbol: {list(universe)}")
        return universe

    @property
    def running(self) -> bool:
        return self.state is BotState.RUNNING

    def describe(self) -> str:
        until = f" until {self.stopped_until.isoformat()}" if self.stopped_until is not None else ""
        return (
            f"{self.bot_id} {self.state.upper()}{until} since {self.since.isoformat()} ({self.reason}, by {self.actor})"
        )


def implicit_default(at: datetime) -> Bot:
    """The bot of a system that registered none: the default bot with the whole account."""
    return Bot(bot_id=DEFAULT_BOT_ID, strategy="any", allocation=1.0, reason="no bots registered", since=at)


class BotBook(BaseModel):
    """The registered bots as a session sees them (the hot mirror of the durable records)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bots: tuple[Bot, ...] = ()
    unreadable: str | None = None  # set: the mirror did not parse, and no bot may trade (fail closed)

    @field_validator("bots")
    @classmethod
    def _consistent(cls, bots: tuple[Bot, ...]) -> tuple[Bot, ...]:
        ids = [bot.bot_id for bot in bots]
        if len(set(ids)) != len(ids):
            raise ValueError(f"bot ids repeat: {ids}")
        check_allocations({bot.bot_id: bot.allocation for bot in bots})
        return bots

    def get(self, bot_id: str, at: datetime) -> Bot | None:
        """The bot, the implicit default bot when nothing is registered, or None for an unknown bot."""
        if not self.bots:
            return implicit_default(at) if bot_id == DEFAULT_BOT_ID else None
        return next((bot for bot in self.bots if bot.bot_id == bot_id), None)

    def refusal(self, bot_id: str, at: datetime) -> str | None:
        """Why a signal of `bot_id` may not be deliberated now (None: it may)."""
        if self.unreadable is not None:
            return f"the bots' records cannot be read ({self.unreadable}): no bot trades until they can"
        bot = self.get(bot_id, at)
        if bot is None:
            known = ", ".join(b.bot_id for b in self.bots)
            return f"bot {bot_id!r} is not registered (bots: {known}): the signal is recorded, not deliberated"
        if not bot.running:
            return f"bot {bot.describe()}: the signal is recorded, not deliberated"
        return None


def check_allocations(allocations: dict[str, float]) -> None:
    """Raise `ValueError` unless every allocation is a finite fraction in [0, 1] and they sum to at most 1."""
    for bot_id, share in allocations.items():
        if not (math.isfinite(share) and 0.0 <= share <= 1.0):
            raise ValueError(f"bot {bot_id}: allocation {share} is not a fraction between 0 and 1")
    total = sum(allocations.values())
    if total > 1.0 + _ALLOCATION_SLACK:
        shares = ", ".join(f"{k} {v:.1%}" for k, v in allocations.items())
        raise ValueError(f"allocations sum to {total:.2%} of equity, more than 100 % ({shares})")


class BotDay(BaseModel):
    """A bot's mark at the start of a trading day (`bot_days`): P&L to date, sleeve and allocation."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    bot_id: BotId
    day: date
    pnl: float  # since the bot began, account currency: realised + unrealised, fees included
    sleeve: float  # allocation x the account's equity at the day's start
    allocation: float
