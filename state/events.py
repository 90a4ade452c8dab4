"""The event envelope and the payload of each of the eleven event types (DESIGN.md section 3).

Everything that enters the system is one of these. `parse_event` is the only way in: it validates the
envelope and the payload of its type, refuses NaN/inf numbers, negative volumes, timestamps from the
future and bars that do not belong to their event's time, and converts nothing (a number sent as a
string or a time sent as a number is refused: the JSON types are checked strictly). It raises
`EventRejectedError` naming every offending field. Callers record the rejection (the dead-letter
record); nothing is dropped silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from state.bots import DEFAULT_BOT_ID, BotId

SCHEMA_VERSION: Literal[1] = 1
CLOCK_SKEW = timedelta(seconds=5)
# A bar inside an event (a signal's, a tick's) closes at or before the event, and not long before: a daily
# bar over a long weekend is 4 days old; a bar of 2010 inside an event of 2017 is a mistake.
BAR_LAG_LIMIT = timedelta(days=4)


class EventType(StrEnum):
    MARKET_TICK = "MARKET_TICK"
    SIGNAL_GENERATED = "SIGNAL_GENERATED"
    NEWS = "NEWS"
    ECONOMIC_RELEASE = "ECONOMIC_RELEASE"
    ANOMALY_DETECTED = "ANOMALY_DETECTED"
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"
    REBALANCING_DUE = "REBALANCING_DUE"
    ORDER_FILLED = "ORDER_FILLED"
    BOT_STATUS = "BOT_STATUS"
    SYSTEM_HEALTH = "SYSTEM_HEALTH"
    OPERATOR_REQUEST = "OPERATOR_REQUEST"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Strict(BaseModel):
    """Frozen, no unknown fields, no NaN or infinity anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Volume = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_/:]*$")]


class Bar(Strict):
    """One OHLCV bar. `time` is the bar's close time."""

    time: AwareDatetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Volume

    @model_validator(mode="after")
    def _range_is_consistent(self) -> Bar:
        if self.high < max(self.open, self.close, self.low):
            raise ValueError("high must be >= open, close and low")
        if self.low > min(self.open, self.close):
            raise ValueError("low must be <= open and close")
        return self


# ---- payloads, one per event type -------------------------------------------------------------


class MarketTickPayload(Strict):
    bar: Bar


class SignalPayload(Strict):
    signal: Annotated[str, Field(min_length=1, max_length=64)]
    direction: Literal["long", "short"]
    strength: Annotated[float, Field(ge=0, le=1)]
    bar: Bar


class NewsPayload(Strict):
    headline: Annotated[str, Field(min_length=1, max_length=500)]
    body: Annotated[str, Field(max_length=20_000)] = ""
    url: str | None = None


class EconomicReleasePayload(Strict):
    indicator: Annotated[str, Field(min_length=1)]
    actual: float
    forecast: float | None = None
    previous: float | None = None


class AnomalyPayload(Strict):
    rule: Annotated[str, Field(min_length=1)]
    severity: Severity
    evidence: dict[str, float | str] = Field(default_factory=dict)


class CircuitBreakerPayload(Strict):
    scope: Literal["bots", "all"]
    bot_ids: tuple[str, ...] = ()
    daily_loss_pct: Annotated[float, Field(ge=0)]
    reason: str = ""


class RebalancingDuePayload(Strict):
    portfolio_id: Annotated[str, Field(min_length=1)]
    reason: str = "scheduled"


class OrderFilledPayload(Strict):
    order_id: Annotated[str, Field(min_length=1)]
    side: Literal["buy", "sell"]
    quantity: Annotated[float, Field(gt=0)]
    price: Price
    fee: Annotated[float, Field(ge=0)] = 0.0
    # None or entry/exit: the order's own fill; stop_loss / take_profit: its position's bracket exit
    reason: Literal["entry", "exit", "stop_loss", "take_profit"] | None = None


class BotStatusPayload(Strict):
    bot_id: Annotated[str, Field(min_length=1)]
    status: Literal["running", "stopped", "error", "heartbeat"]
    error_rate: Annotated[float, Field(ge=0, le=1)] | None = None


class SystemHealthPayload(Strict):
    component: Annotated[str, Field(min_length=1)]
    status: Literal["ok", "degraded", "down"]
    detail: str = ""


class OperatorRequestPayload(Strict):
    """An operator's request in their words. `role` is what the front door (the CLI, the REST API's key)
    established for the operator, never what the text claims; the least privilege when absent."""

    operator: Annotated[str, Field(min_length=1, max_length=128)]
    request: Annotated[str, Field(min_length=1, max_length=10_000)]
    role: Literal["read", "trade", "admin"] = "read"


# ---- the envelope ----------------------------------------------------------------------------


class EventEnvelope(Strict):
    """Fields every event carries. `id` is the idempotency key from the bus to the broker.

    `correlation_id` names the chain the event belongs to (its root event's id) and `causation_id` the record
    that directly caused it (an event, an order, a fill); both are optional, so events and tapes written
    before them stay valid: an event with no correlation id starts its own chain (`chain_id` is its id).
    """

    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]
    correlation_id: str | None = None
    causation_id: Annotated[str, Field(min_length=1, max_length=160)] | None = None
    source: Annotated[str, Field(min_length=1, max_length=64)]
    priority: Priority = Priority.NORMAL
    symbols: tuple[Symbol, ...] = ()
    event_time: AwareDatetime
    received_time: AwareDatetime | None = None
    schema_version: Literal[1] = SCHEMA_VERSION
    bot_id: BotId | None = None  # the bot whose signal this is; None: the default bot

    @property
    def chain_id(self) -> str:
        """The chain the event belongs to: its correlation id, else its own id (a root starts its chain)."""
        return self.correlation_id if self.correlation_id is not None else self.id

    @property
    def bot(self) -> str:
        """The bot the event belongs to (the default bot when it names none)."""
        return self.bot_id if self.bot_id is not None else DEFAULT_BOT_ID

    @field_validator("event_time")
    @classmethod
    def _not_from_the_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now")
        if isinstance(now, datetime) and value > now + CLOCK_SKEW:
            raise ValueError(f"event_time {value.isoformat()} is in the future (now {now.isoformat()})")
        return value

    @property
    def symbol(self) -> str | None:
        """The primary symbol, if the event concerns one."""
        return self.symbols[0] if self.symbols else None


class Cause(Strict):
    """What a record was caused by: the chain it belongs to (the root event's id) and its direct cause's id
    (an event, an order, a fill). Orders, fills, events and alerts a cause produces carry both."""

    correlation_id: Annotated[str, Field(min_length=1)]
    causation_id: Annotated[str, Field(min_length=1)]

    @classmethod
    def of_event(cls, event: EventEnvelope) -> Cause:
        """What `event` causes belongs to its chain and names it as the cause."""
        return cls(correlation_id=event.chain_id, causation_id=event.id)


class _NeedsSymbol(EventEnvelope):
    """Market events concern at least one symbol; the first is the primary one."""

    symbols: Annotated[tuple[Symbol, ...], Field(min_length=1)]


def _check_bar_time(event_time: datetime, bar: Bar) -> None:
    if bar.time > event_time + CLOCK_SKEW:
        raise ValueError(f"payload.bar.time {bar.time.isoformat()} is after the event ({event_time.isoformat()})")
    if event_time - bar.time > BAR_LAG_LIMIT:
        raise ValueError(
            f"payload.bar.time {bar.time.isoformat()} is more than {BAR_LAG_LIMIT.days} days before the event"
            f" ({event_time.isoformat()})"
        )


class MarketTickEvent(_NeedsSymbol):
    type: Literal[EventType.MARKET_TICK]
    payload: MarketTickPayload

    @model_validator(mode="after")
    def _bar_matches_the_event(self) -> MarketTickEvent:
        _check_bar_time(self.event_time, self.payload.bar)
        return self


class SignalEvent(_NeedsSymbol):
    type: Literal[EventType.SIGNAL_GENERATED]
    payload: SignalPayload

    @model_validator(mode="after")
    def _bar_matches_the_event(self) -> SignalEvent:
        _check_bar_time(self.event_time, self.payload.bar)
        return self


class NewsEvent(EventEnvelope):
    type: Literal[EventType.NEWS]
    payload: NewsPayload


class EconomicReleaseEvent(EventEnvelope):
    type: Literal[EventType.ECONOMIC_RELEASE]
    payload: EconomicReleasePayload


class AnomalyEvent(EventEnvelope):
    type: Literal[EventType.ANOMALY_DETECTED]
    payload: AnomalyPayload


class CircuitBreakerEvent(EventEnvelope):
    type: Literal[EventType.CIRCUIT_BREAKER]
    payload: CircuitBreakerPayload


class RebalancingDueEvent(EventEnvelope):
    type: Literal[EventType.REBALANCING_DUE]
    payload: RebalancingDuePayload


class OrderFilledEvent(_NeedsSymbol):
    type: Literal[EventType.ORDER_FILLED]
    payload: OrderFilledPayload


class BotStatusEvent(EventEnvelope):
    type: Literal[EventType.BOT_STATUS]
    payload: BotStatusPayload


class SystemHealthEvent(EventEnvelope):
    type: Literal[EventType.SYSTEM_HEALTH]
    payload: SystemHealthPayload


class OperatorRequestEvent(EventEnvelope):
    type: Literal[EventType.OPERATOR_REQUEST]
    payload: OperatorRequestPayload


Event = Annotated[
    MarketTickEvent
    | SignalEvent
    | NewsEvent
    | EconomicReleaseEvent
    | AnomalyEvent
    | CircuitBreakerEvent
    | RebalancingDueEvent
    | OrderFilledEvent
    | BotStatusEvent
    | SystemHealthEvent
    | OperatorRequestEvent,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[type[EventEnvelope], ...] = (
    MarketTickEvent,
    SignalEvent,
    NewsEvent,
    EconomicReleaseEvent,
    AnomalyEvent,
    CircuitBreakerEvent,
    RebalancingDueEvent,
    OrderFilledEvent,
    BotStatusEvent,
    SystemHealthEvent,
    OperatorRequestEvent,
)

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class FieldError(Strict):
    field: str
    message: str


class EventRejectedError(ValueError):
    """An event failed validation. `errors` names each offending field."""

    def __init__(self, event_id: str | None, errors: list[FieldError]) -> None:
        self.event_id = event_id
        self.errors = errors
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"event {event_id or '<no id>'} rejected: {detail}")


def _field_path(loc: tuple[int | str, ...]) -> str:
    # pydantic puts the union tag (e.g. "MARKET_TICK") into the location; drop it for the reader.
    parts = [str(p) for p in loc if str(p) not in EventType.__members__]
    return ".".join(parts) or "<event>"


def _non_finite_paths(value: Any, path: str = "") -> list[str]:
    """Where a raw event holds a NaN or infinite number (a number sent as a string is refused anyway)."""
    found: list[str] = []
    if isinstance(value, float) and not math.isfinite(value):
        found.append(path or "<event>")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(_non_finite_paths(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(_non_finite_paths(item, f"{path}.{index}"))
    return found


def parse_event(
    raw: Mapping[str, Any] | EventEnvelope, *, now: datetime | None = None, text: bytes | None = None
) -> Event:
    """Validate a raw event (a mapping, e.g. decoded JSON) into its typed model.

    `now` enables the "not from the future" check; pass the injected clock's time. `text`: the JSON `raw` was
    decoded from (a tape's line), validated as it is when it holds no non-finite token (NaN, Infinity),
    which saves encoding `raw` again: the same JSON, so the same event or the same errors.
    Raises `EventRejectedError` listing every offending field.
    """
    if isinstance(raw, EventEnvelope):
        raw = raw.model_dump(mode="json")
    if not isinstance(raw, Mapping):
        raise EventRejectedError(None, [FieldError(field="<event>", message="an event must be a JSON object")])
    event_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    kind = raw.get("type")
    if kind not in EventType.__members__:
        known = ", ".join(EventType)
        raise EventRejectedError(
            event_id, [FieldError(field="type", message=f"unknown event type {kind!r}; known: {known}")]
        )
    if text is not None and b"NaN" not in text and b"Infinity" not in text:
        try:
            return _EVENT_ADAPTER.validate_json(text, strict=True, context={"now": now})
        except ValidationError as exc:
            errors = [FieldError(field=_field_path(e["loc"]), message=e["msg"]) for e in exc.errors()]
            raise EventRejectedError(event_id, errors) from None
    non_finite = _non_finite_paths(raw)
    if non_finite:
        errors = [FieldError(field=p, message="must be a finite number (NaN/inf refused)") for p in non_finite]
        raise EventRejectedError(event_id, errors)
    try:
        encoded = json.dumps(dict(raw), default=_json_value)
    except (TypeError, ValueError) as exc:
        raise EventRejectedError(event_id, [FieldError(field="<event>", message=f"not JSON data: {exc}")]) from None
    try:  # strict: a number sent as a string, or a time sent as a number, is refused, never converted
        return _EVENT_ADAPTER.validate_json(encoded, strict=True, context={"now": now})
    except ValidationError as exc:
        errors = [FieldError(field=_field_path(e["loc"]), message=e["msg"]) for e in exc.errors()]
        raise EventRejectedError(event_id, errors) from None


def _json_value(value: Any) -> Any:
    """Python values a caller of the Python API may pass for JSON ones: times (kept aware or naive, so a
    naive one is refused by the model) and enums."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


def event_to_json(event: EventEnvelope) -> dict[str, Any]:
    """The JSON form of an event, as it travels on a bus or sits in a record."""
    return event.model_dump(mode="json")
