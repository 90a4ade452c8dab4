"""Orders, fills and positions: what the broker accepts and reports, and what the store keeps.

An order's `event_id` is its idempotency key: one event never yields more than one entry order.
Every order, fill and position belongs to a bot (`state.bots`); records written before bots existed
belong to the default bot.
Prices are in the instrument's currency; quantities in shares/units.

Correlation: an order belongs to the chain of the event it was decided for (`OrderRequest.correlation_id`,
its own event id when none is given) and is caused by that event's decision; an entry or exit fill is caused
by its order; a bracket's stop-loss or take-profit exit is caused by the entry fill that opened the position
(the position keeps the chain's id for it). Every field is optional: records written before them still read,
and their chain is their event id.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from state.bots import DEFAULT_BOT_ID, BotId


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class OrderStatus(StrEnum):
    PENDING = "pending"
    FILLED = "filled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class FillReason(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class OrderRequest(_Record):
    """A guarded order ready for the broker. Stop and target are absolute prices."""

    event_id: Annotated[str, Field(min_length=1)]
    symbol: Annotated[str, Field(min_length=1)]
    side: Side
    quantity: Annotated[float, Field(gt=0)]
    order_type: OrderType
    limit_price: Annotated[float, Field(gt=0)] | None = None
    stop_loss_price: Annotated[float, Field(gt=0)] | None = None
    take_profit_price: Annotated[float, Field(gt=0)] | None = None
    created_at: AwareDatetime
    bot_id: BotId = DEFAULT_BOT_ID  # the bot whose sleeve the order commits
    correlation_id: str | None = None  # the chain of the event it was decided for (None: `event_id` roots it)

    @property
    def chain_id(self) -> str:
        return self.correlation_id if self.correlation_id is not None else self.event_id


class Order(_Record):
    """An order as the broker holds it."""

    order_id: str
    request: OrderRequest
    status: OrderStatus
    updated_at: AwareDatetime

    @property
    def event_id(self) -> str:
        return self.request.event_id


class Fill(_Record):
    fill_id: str
    order_id: str
    event_id: str
    symbol: str
    side: Side
    quantity: Annotated[float, Field(gt=0)]
    price: Annotated[float, Field(gt=0)]
    fee: Annotated[float, Field(ge=0)]
    reason: FillReason
    time: AwareDatetime
    bot_id: BotId = DEFAULT_BOT_ID
    correlation_id: str | None = None  # the chain (None: written before chains, `event_id` roots it)
    causation_id: str | None = None  # the order an entry/exit fills; the entry fill a bracket exit closes

    @property
    def chain_id(self) -> str:
        return self.correlation_id if self.correlation_id is not None else self.event_id


class Position(_Record):
    symbol: str
    quantity: float
    avg_price: Annotated[float, Field(gt=0)]
    stop_loss_price: float | None = None
    take_profit_price: float | None = None
    opened_at: datetime
    opened_by_event: str
    bot_id: BotId = DEFAULT_BOT_ID  # one bot holds a symbol at a time
    correlation_id: str | None = None  # the chain of the entry that opened it (None: `opened_by_event` roots it)

    @property
    def chain_id(self) -> str:
        return self.correlation_id if self.correlation_id is not None else self.opened_by_event

    @property
    def cost(self) -> float:
        return self.quantity * self.avg_price
