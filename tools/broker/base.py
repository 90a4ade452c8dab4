"""The broker seam: the `Broker` protocol and the `BrokerError` hierarchy.

This module owns what the execute step may ask of a broker (the embedded paper broker or an adapter to a
real one) and the errors a broker may raise. It holds no fill rules and no I/O.

Decisions that must not be silently changed:
- `submit` is idempotent per `request.event_id` (DESIGN invariant 3): a second submit for the same event
  returns the first order, never a second one, also across a restart of the broker.
- A broker refuses to act on a book it has not loaded (`BrokerNotReadyError`): trading on an empty book
  after a restart would overwrite the real one.
- A fill the venue reports (`book_report`) is booked only when it matches the book exactly (the open order
  or the bracketed position it fills, whole); anything else is a `FillReportError` saying what differs, and
  the book is left as it was: a person reconciles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from state.orders import Fill, FillReason, Order, OrderRequest, Position, Side

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerNotReadyError",
    "BrokerUnavailableError",
    "FillReport",
    "FillReportError",
    "InvalidOrderError",
]


class BrokerError(Exception):
    """Base of every error raised by a broker."""


class BrokerUnavailableError(BrokerError):
    """The broker (or its connection) cannot take orders right now; retrying may help."""


class BrokerNotReadyError(BrokerError):
    """The broker was used before `load()` restored its book."""


class InvalidOrderError(BrokerError):
    """The request can never be executed as given (e.g. a limit order without a limit price)."""


class FillReportError(BrokerError):
    """A reported fill that does not match the book: not booked (the message says what differs)."""


@dataclass(frozen=True, slots=True)
class FillReport:
    """A fill as the execution venue reports it (the payload of an ORDER_FILLED event). `reason` None: the
    order's own fill (entry or exit); `stop_loss` / `take_profit`: its position's bracket."""

    order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    at: datetime
    reason: FillReason | None = None


class Broker(Protocol):
    """What the execute step and the context loader use; prices in the instrument's currency."""

    async def load(self) -> None:
        """Restore cash, positions and open orders (from the durable store or the venue)."""
        ...

    async def submit(self, request: OrderRequest) -> Order:
        """Accept an order; idempotent per `request.event_id`."""
        ...

    async def cancel_all(self, reason: str, at: datetime, symbol: str | None = None) -> list[Order]:
        """Cancel every pending order (of `symbol`, if given); returns the orders cancelled."""
        ...

    async def book_report(self, report: FillReport) -> tuple[Fill, bool]:
        """Book a fill the venue reports: the fill and whether it is new (False: the book held it already).
        Raises `FillReportError` when it does not match the book."""
        ...

    def cash(self) -> float: ...

    def positions(self) -> dict[str, Position]: ...

    def marks(self) -> dict[str, float]:
        """symbol -> last price seen."""
        ...

    def equity(self) -> float:
        """Cash plus every position at its mark."""
        ...
