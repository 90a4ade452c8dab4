"""Correlation chains in the durable store (migration 0007), on SQLite and on PostgreSQL.

Every test runs on both engines through the fixtures of `test_store_contract`: skipped with the reason
without a server, failed when AEGIS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from state.alerts import Alert, AlertLevel
from state.decisions import Outcome
from state.orders import Fill, FillReason, Order, OrderStatus, Side
from state.store.base import SessionEnd
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import T0, Engine, Store, at, decision, fill, order, position

engine = contract.engine
store = contract.store

# Back to schema version 6: what a database written before chains existed looks like.
UNDO_CORRELATION: tuple[str, ...] = (
    *(
        f"DROP INDEX {index}"
        for index in (
            "events_by_chain",
            "decisions_by_chain",
            "orders_by_chain",
            "fills_by_chain",
            "fills_by_event",
            "alerts_by_chain",
        )
    ),
    *(
        f"ALTER TABLE {table} DROP COLUMN {column}"
        for table, column in (
            ("events", "correlation_id"),
            ("decisions", "correlation_id"),
            ("orders", "correlation_id"),
            ("fills", "correlation_id"),
            ("fills", "causation_id"),
            ("positions", "correlation_id"),
            ("alerts", "correlation_id"),
        )
    ),
    "DELETE FROM schema_migrations WHERE version = 7",
)


def signal(event_id: str, *, correlation_id: str | None = None, causation_id: str | None = None) -> dict[str, object]:
    raw: dict[str, object] = {"id": event_id, "type": "SIGNAL_GENERATED", "source": "test"}
    if correlation_id is not None:
        raw |= {"correlation_id": correlation_id, "causation_id": causation_id}
    return raw


def chained_order(event_id: str, chain: str) -> Order:
    held = order(event_id)
    return held.model_copy(update={"request": held.request.model_copy(update={"correlation_id": chain})})


def exit_fill(event_id: str, chain: str | None, reason: FillReason = FillReason.STOP_LOSS) -> Fill:
    entry = fill(f"fill-{event_id}-entry", event_id)
    cause = f"fill-{event_id}-entry" if chain is not None else None
    return entry.model_copy(
        update={
            "fill_id": f"fill-{event_id}-{reason.value}",
            "side": Side.SELL,
            "price": 94.9,
            "reason": reason,
            "time": at(60),
            "correlation_id": chain,
            "causation_id": cause,
        }
    )


def alert(alert_id: str, chain: str | None, cause: str | None) -> Alert:
    return Alert(
        alert_id=alert_id,
        dedup_key=alert_id,
        level=AlertLevel.WARNING,
        kind="stop_loss_streak",
        message="3 stop-loss exits in a row",
        raised_at=at(61),
        correlation_id=chain,
        causation_id=cause,
    )


async def write_chain(store: Store) -> None:
    """sig-1 -> its decision -> ord-sig-1 -> entry -> stop-loss exit -> streak alert; a breaker event it
    caused; and an unrelated event sig-2."""
    await store.record_event("sig-1", "SIGNAL_GENERATED", T0, signal("sig-1"))
    await store.save_decision(decision("sig-1", outcome=Outcome.ORDERED).model_copy(update={"correlation_id": "sig-1"}))
    await store.save_order(chained_order("sig-1", "sig-1"))
    entry = fill("fill-sig-1-entry", "sig-1").model_copy(
        update={"correlation_id": "sig-1", "causation_id": "ord-sig-1"}
    )
    await store.save_fill(entry)
    await store.save_fill(exit_fill("sig-1", "sig-1"))
    await store.save_alert(alert("alert-1", "sig-1", "fill-sig-1-stop_loss"))
    breaker = signal("breaker-1", correlation_id="sig-1", causation_id="fill-sig-1-stop_loss")
    await store.record_event("breaker-1", "CIRCUIT_BREAKER", at(62), breaker)
    await store.finish_session(
        decision("breaker-1", 62, Outcome.APPLIED).model_copy(
            update={"correlation_id": "sig-1", "causation_id": "fill-sig-1-stop_loss"}
        ),
        SessionEnd(),
        at(62),
    )
    await store.record_event("sig-2", "SIGNAL_GENERATED", at(5), signal("sig-2"))
    await store.save_decision(decision("sig-2", 5))


async def test_any_id_of_a_chain_names_its_root(store: Store) -> None:
    await write_chain(store)
    ids = ["sig-1", "ord-sig-1", "fill-sig-1-entry", "fill-sig-1-stop_loss", "alert-1", "breaker-1"]
    assert [await store.chain_of(i) for i in ids] == ["sig-1"] * len(ids)
    assert await store.chain_of("sig-2") == "sig-2"
    assert await store.chain_of("no-such-id") is None


async def test_a_chain_holds_every_record_of_it_and_nothing_else(store: Store) -> None:
    await write_chain(store)
    chain = await store.chain("sig-1")
    assert [e.event_id for e in chain.events] == ["sig-1", "breaker-1"]
    assert chain.events[1].raw["causation_id"] == "fill-sig-1-stop_loss"
    assert [d.event_id for d in chain.decisions] == ["sig-1", "breaker-1"]
    assert chain.decisions[1].causation_id == "fill-sig-1-stop_loss"
    assert [o.order_id for o in chain.orders] == ["ord-sig-1"]
    assert chain.orders[0].request.correlation_id == "sig-1"
    assert [(f.fill_id, f.causation_id) for f in chain.fills] == [
        ("fill-sig-1-entry", "ord-sig-1"),
        ("fill-sig-1-stop_loss", "fill-sig-1-entry"),
    ]
    assert [(a.alert_id, a.causation_id) for a in chain.alerts] == [("alert-1", "fill-sig-1-stop_loss")]
    other = await store.chain("sig-2")
    assert ([e.event_id for e in other.events], other.orders, other.fills, other.alerts) == (["sig-2"], (), (), ())


async def test_a_position_keeps_the_chain_of_the_entry_that_opened_it(store: Store) -> None:
    held = position().model_copy(update={"correlation_id": "sig-1"})
    await store.replace_positions([held])
    assert await store.positions() == [held]
    filled = chained_order("sig-1", "sig-1").model_copy(update={"status": OrderStatus.FILLED})
    await store.save_order(chained_order("sig-1", "sig-1"))
    await store.update_order(filled)
    assert await store.chain_of("ord-sig-1") == "sig-1"
    assert (await store.chain("sig-1")).orders == (filled,)


async def test_records_written_before_chains_existed_trace_as_the_chain_of_their_event(engine: Engine) -> None:
    await engine.migrate()
    for statement in UNDO_CORRELATION:
        await engine.query(statement)
    stamp = T0.isoformat(timespec="microseconds")
    order_json = order("e1").model_dump_json().replace("'", "''")
    decision_json = decision("e1", outcome=Outcome.ORDERED).model_dump_json().replace("'", "''")
    for statement in (
        "INSERT INTO events (event_id, seq, event_type, received_at, raw) "
        f"VALUES ('e1', 1, 'SIGNAL_GENERATED', '{stamp}', '{{\"id\": \"e1\"}}')",
        "INSERT INTO decisions (event_id, seq, event_type, outcome, symbol, decided_at, record) "
        f"VALUES ('e1', 1, 'SIGNAL_GENERATED', 'ordered', 'AAPL', '{stamp}', '{decision_json}')",
        "INSERT INTO orders (order_id, event_id, symbol, side, order_type, quantity, status, created_at, "
        f"updated_at, record) VALUES ('ord-e1', 'e1', 'AAPL', 'buy', 'market', 10, 'pending', '{stamp}', "
        f"'{stamp}', '{order_json}')",
        "INSERT INTO fills (fill_id, seq, order_id, event_id, symbol, side, quantity, price, fee, reason, "
        f"filled_at) VALUES ('fill-e1-entry', 1, 'ord-e1', 'e1', 'AAPL', 'buy', 10.0, 100.05, 0.1, 'entry', '{stamp}')",
        "INSERT INTO fills (fill_id, seq, order_id, event_id, symbol, side, quantity, price, fee, reason, "
        f"filled_at) VALUES ('fill-e1-stop_loss', 2, 'ord-e1', 'e1', 'AAPL', 'sell', 10.0, 94.9, 0.1, 'stop_loss', "
        f"'{stamp}')",
    ):
        await engine.query(statement)
    assert await engine.migrate() == [7]
    async with engine.make() as opened:
        assert await opened.chain_of("fill-e1-stop_loss") == "e1"
        assert await opened.chain_of("ord-e1") == "e1"
        chain = await opened.chain("e1")
        assert [e.event_id for e in chain.events] == ["e1"]
        assert [d.event_id for d in chain.decisions] == ["e1"]
        assert [o.order_id for o in chain.orders] == ["ord-e1"]
        assert [(f.fill_id, f.correlation_id, f.causation_id) for f in chain.fills] == [
            ("fill-e1-entry", None, None),
            ("fill-e1-stop_loss", None, None),
        ]
        assert await opened.fills() == list(chain.fills)
