"""Trading states: what may reach the broker, for the account and per symbol (ACTIVE / REDUCING / HALTED).

This module owns the states, their record and the one rule that turns them into "may this order pass".
Writing a state (audited, with who and why) is `tools.ops.trading`'s job; reading it is the context loader's
and the execute step's. No I/O here.

Decisions that must not be silently changed:
- The effective state of a symbol is the stricter of the account's and the symbol's own.
- REDUCING lets through only orders that reduce exposure (sells of a held position) and cancels; HALTED
  lets through cancels only. Nothing else decides this: the execute step asks `refusal`.
- A state that `needs_reset` (set by a loss limit or a data-integrity breach) is lifted only by an
  authorised reset; a restart, a recovered feed or an automatic tier never lifts it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ACCOUNT_SCOPE = "account"


class TradingState(StrEnum):
    ACTIVE = "active"  # orders of every kind pass (the guard still decides their size)
    REDUCING = "reducing"  # only orders that reduce exposure, and cancels
    HALTED = "halted"  # cancels only

    @property
    def severity(self) -> int:
        return list(TradingState).index(self)


class TradingStatus(BaseModel):
    """The state of one scope (the account, or a symbol) and why it is so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str = Field(min_length=1)  # "account" or a symbol
    state: TradingState
    reason: str
    actor: str  # who set it: an operator's name, or the tier that set it automatically
    since: AwareDatetime
    needs_reset: bool = False  # lifted only by an authorised reset
    until: AwareDatetime | None = None  # set: lifted by itself then (a market anomaly's cooldown)


def initial_status(at: datetime) -> TradingStatus:
    return TradingStatus(scope=ACCOUNT_SCOPE, state=TradingState.ACTIVE, reason="start", actor="system", since=at)


class TradingStates(BaseModel):
    """The account's state and every symbol's own state (symbols not listed are ACTIVE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: TradingStatus
    symbols: dict[str, TradingStatus] = Field(default_factory=dict)

    @classmethod
    def of(cls, statuses: list[TradingStatus], at: datetime) -> TradingStates:
        account = next((s for s in statuses if s.scope == ACCOUNT_SCOPE), None) or initial_status(at)
        return cls(account=account, symbols={s.scope: s for s in statuses if s.scope != ACCOUNT_SCOPE})

    def next_end(self, after: datetime) -> datetime | None:
        """The earliest end (`until`) later than `after` of a state that ends by itself (None: none does)."""
        ends = [s.until for s in (self.account, *self.symbols.values()) if s.until is not None and s.until > after]
        return min(ends, default=None)

    def effective(self, symbol: str | None) -> TradingStatus:
        """The stricter of the account's state and `symbol`'s (the account's on a tie)."""
        own = self.symbols.get(symbol) if symbol is not None else None
        if own is not None and own.state.severity > self.account.state.severity:
            return own
        return self.account

    def refusal(self, symbol: str, *, reduces: bool) -> str | None:
        """Why an order for `symbol` may not pass now (None: it may). `reduces`: it only reduces exposure."""
        status = self.effective(symbol)
        if status.state is TradingState.HALTED:
            return f"trading is halted ({status.scope}: {status.reason}, by {status.actor})"
        if status.state is TradingState.REDUCING and not reduces:
            return f"trading is reducing ({status.scope}: {status.reason}, by {status.actor}): only reductions pass"
        return None
