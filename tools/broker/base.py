"""The broker seam: the `Broker` protocol and the `BrokerError` hierarchy.

This module owns what the execute step may ask of a broker (the embedded paper broker or an adapter to a
real one) and the errors a broker may raise. It holds no fill rules and no I/O.

Decisions that must not be silently changed:
- `submit` is idempotent per `request.event_id` (DESIGN invariant 3): a second submit for the same event
  returns the first order, never a second one, also across a restart of the broker.
- A broker refuses to act on a book it has not loaded (`BrokerNotReadyError`): trading on an empty book
  after a restart would overwrite the real one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from state.orders import Order, OrderRequest, Position

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerNotReadyError",
    "BrokerUnavailableError",
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

    def cash(self) -> float: ...

    def positions(self) -> dict[str, Position]: ...

    def marks(self) -> dict[str, float]:
        """symbol -> last price seen."""
        ...

    def equity(self) -> float:
        """Cash plus every position at its mark."""
        ...
