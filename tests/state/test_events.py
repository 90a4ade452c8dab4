"""Event validation: good events of every type pass; bad input is refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from state.events import EVENT_TYPES, EventRejectedError, EventType, parse_event

NOW = datetime(2017, 3, 1, 21, 0, tzinfo=UTC)
BAR = {
    "time": "2017-03-01T21:00:00+00:00",
    "open": 10.0,
    "high": 11.0,
    "low": 9.5,
    "close": 10.5,
    "volume": 1000.0,
}

PAYLOADS: dict[EventType, dict[str, Any]] = {
    EventType.MARKET_TICK: {"bar": BAR},
    EventType.SIGNAL_GENERATED: {"signal": "golden_cross", "direction": "long", "strength": 0.7, "bar": BAR},
    EventType.NEWS: {"headline": "Company beats estimates", "body": "..."},
    EventType.ECONOMIC_RELEASE: {"indicator": "CPI", "actual": 2.1, "forecast": 2.0},
    EventType.ANOMALY_DETECTED: {"rule": "volume_spike", "severity": "HIGH", "evidence": {"ratio": 11.2}},
    EventType.CIRCUIT_BREAKER: {"scope": "bots", "bot_ids": ["b1"], "daily_loss_pct": 10.5},
    EventType.REBALANCING_DUE: {"portfolio_id": "main"},
    EventType.ORDER_FILLED: {"order_id": "o1", "side": "buy", "quantity": 3, "price": 10.1},
    EventType.BOT_STATUS: {"bot_id": "b1", "status": "error", "error_rate": 0.4},
    EventType.SYSTEM_HEALTH: {"component": "redis", "status": "degraded"},
    EventType.OPERATOR_REQUEST: {"operator": "ops", "request": "rebalance the portfolio"},
}


def event(kind: EventType, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": f"evt-{kind.lower()}",
        "type": kind.value,
        "source": "test",
        "symbols": ["AAPL"],
        "event_time": NOW.isoformat(),
        "payload": PAYLOADS[kind],
    }
    raw.update(overrides)
    return raw


def rejected_fields(raw: dict[str, Any], now: datetime = NOW) -> list[str]:
    with pytest.raises(EventRejectedError) as caught:
        parse_event(raw, now=now)
    return [e.field for e in caught.value.errors]


def test_every_one_of_the_eleven_types_has_a_model() -> None:
    assert len(EventType) == 11
    assert {t.model_fields["type"].annotation.__args__[0] for t in EVENT_TYPES} == set(EventType)  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", list(EventType))
def test_a_good_event_of_each_type_validates(kind: EventType) -> None:
    parsed = parse_event(event(kind), now=NOW)
    assert parsed.type == kind
    assert parsed.id == f"evt-{kind.lower()}"
    assert parsed.symbol == "AAPL"


def test_unknown_type_is_rejected_naming_the_type_field() -> None:
    with pytest.raises(EventRejectedError) as caught:
        parse_event(event(EventType.NEWS, type="EARTHQUAKE"), now=NOW)
    assert caught.value.errors[0].field == "type"
    assert "EARTHQUAKE" in caught.value.errors[0].message
    assert caught.value.event_id == "evt-news"


def test_missing_envelope_field_is_named() -> None:
    raw = event(EventType.NEWS)
    del raw["source"]
    assert rejected_fields(raw) == ["source"]


def test_missing_payload_field_is_named_with_its_path() -> None:
    raw = event(EventType.SIGNAL_GENERATED, payload={"signal": "x", "direction": "long", "bar": BAR})
    assert rejected_fields(raw) == ["payload.strength"]


@pytest.mark.parametrize("bad", [float("nan"), "NaN", float("inf")])
def test_nan_or_infinite_price_is_rejected(bad: Any) -> None:
    raw = event(EventType.MARKET_TICK, payload={"bar": {**BAR, "close": bad}})
    assert rejected_fields(raw) == ["payload.bar.close"]


def test_negative_volume_is_rejected() -> None:
    raw = event(EventType.MARKET_TICK, payload={"bar": {**BAR, "volume": -5}})
    assert rejected_fields(raw) == ["payload.bar.volume"]


def test_inconsistent_bar_range_is_rejected() -> None:
    raw = event(EventType.MARKET_TICK, payload={"bar": {**BAR, "high": 9.0}})
    assert rejected_fields(raw) == ["payload.bar"]


def test_timestamp_from_the_future_is_rejected() -> None:
    future = (NOW + timedelta(minutes=1)).isoformat()
    assert rejected_fields(event(EventType.NEWS, event_time=future)) == ["event_time"]


def test_small_clock_skew_is_tolerated() -> None:
    slightly_ahead = (NOW + timedelta(seconds=2)).isoformat()
    assert parse_event(event(EventType.NEWS, event_time=slightly_ahead), now=NOW).id == "evt-news"


def test_naive_timestamp_is_rejected() -> None:
    assert rejected_fields(event(EventType.NEWS, event_time="2017-03-01T21:00:00")) == ["event_time"]


def test_market_events_need_a_symbol() -> None:
    assert rejected_fields(event(EventType.MARKET_TICK, symbols=[])) == ["symbols"]


def test_unknown_fields_are_refused() -> None:
    assert rejected_fields(event(EventType.NEWS, colour="blue")) == ["colour"]


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(EventRejectedError):
        parse_event(["not", "an", "event"], now=NOW)  # type: ignore[arg-type]


def test_several_problems_are_all_reported() -> None:
    raw = event(EventType.MARKET_TICK, source="", payload={"bar": {**BAR, "volume": -1}})
    assert set(rejected_fields(raw)) == {"source", "payload.bar.volume"}


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        (EventType.MARKET_TICK, ("payload", "bar", "close"), "10.5"),
        (EventType.SIGNAL_GENERATED, ("payload", "strength"), "0.7"),
        (EventType.ORDER_FILLED, ("payload", "quantity"), "3"),
        (EventType.ECONOMIC_RELEASE, ("payload", "actual"), True),
        (EventType.NEWS, ("event_time",), 1488402000),
        (EventType.MARKET_TICK, ("payload", "bar", "time"), 1488402000.0),
    ],
)
def test_numbers_sent_as_strings_and_times_sent_as_numbers_are_refused_not_converted(
    kind: EventType, path: tuple[str, ...], value: Any
) -> None:
    raw = event(kind)
    target = raw
    for key in path[:-1]:
        target[key] = dict(target[key])
        target = target[key]
    target[path[-1]] = value
    assert ".".join(path) in rejected_fields(raw)


def test_whole_numbers_stay_numbers_and_python_times_are_accepted() -> None:
    tick = parse_event(event(EventType.MARKET_TICK, payload={"bar": {**BAR, "volume": 1000}}), now=NOW)
    assert tick.payload.bar.volume == 1000.0  # type: ignore[union-attr]
    assert parse_event(event(EventType.NEWS, event_time=NOW), now=NOW).event_time == NOW


def test_a_text_that_reads_nan_is_still_text() -> None:
    news = event(EventType.NEWS, payload={"headline": "NaN", "body": "Infinity"})
    assert parse_event(news, now=NOW).payload.headline == "NaN"  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", [EventType.MARKET_TICK, EventType.SIGNAL_GENERATED])
@pytest.mark.parametrize(
    ("bar_time", "accepted"),
    [
        ("2017-03-01T21:00:00+00:00", True),  # the event's own bar
        ("2017-02-25T21:00:00+00:00", True),  # 4 days: a long weekend
        ("2017-02-25T20:59:59+00:00", False),  # older than that: not this event's bar
        ("2010-03-01T21:00:00+00:00", False),
        ("2017-03-01T21:00:06+00:00", False),  # after the event
    ],
)
def test_a_bar_must_belong_to_its_events_time(kind: EventType, bar_time: str, accepted: bool) -> None:
    payload = {**PAYLOADS[kind], "bar": {**BAR, "time": bar_time}}
    raw = event(kind, payload=payload)
    if accepted:
        assert parse_event(raw, now=NOW).id == raw["id"]
    else:
        assert rejected_fields(raw) == ["<event>"]
