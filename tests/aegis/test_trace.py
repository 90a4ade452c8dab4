"""`Pipeline.trace` and `aegis trace`: a real chain on the bundled AAPL bars, on the embedded stores and on
PostgreSQL. A signal is deliberated (scripted roles) and ordered; the order fills at the next bar's open; a
bar gapping under the stop exits the position on its stop-loss, which completes a stop-loss streak and forces
the defensive posture. Every one of these steps names what caused it, and any of their ids traces the chain.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aegis import Pipeline, Settings
from aegis.cli import app
from aegis.runtime.feed import MarketFeed
from aegis.runtime.trace import StepKind, Trace, UnknownRecordError, build_trace
from agents.llm.scripted import ScriptedClient
from graphs.deliberation.config import DeliberationConfig
from state.alerts import Alert, AlertLevel
from state.bots import Bot
from state.clock import SimulatedClock
from state.context_loader import STOP_LOSS_STREAK_COUNTER
from state.decisions import Outcome
from state.events import Bar
from state.orders import Fill, FillReason, Order, OrderRequest, OrderStatus, OrderType, Side
from state.store.base import ChainRecords, RecordedEvent
from tests.conftest import SESSION_DAY, SYMBOL, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy
from tests.production import fresh_database

BARS = bundled_bars()
EVENT = "trace-aapl-1"
ORDER, ENTRY, EXIT = f"ord-{EVENT}", f"fill-{EVENT}-entry", f"fill-{EVENT}-stop_loss"


@dataclass(frozen=True)
class Run:
    pipeline: Pipeline
    feed: MarketFeed
    data_dir: Path


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.services)])
async def run(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Run]:
    """A pipeline on the bundled AAPL bars up to SESSION_DAY, VIX 14, roles that buy at market."""
    async with contextlib.AsyncExitStack() as stack:
        postgres = await stack.enter_async_context(fresh_database()) if request.param == "postgres" else None
        yield await stack.enter_async_context(_opened(tmp_path / "data", postgres))


@contextlib.asynccontextmanager
async def _opened(data_dir: Path, postgres: str | None) -> AsyncIterator[Run]:
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    price = BARS[SESSION_DAY].close
    client = ScriptedClient(
        {"analyst": [LONG], "validator": [APPROVE], "commander": [buy(price, order_type="market", limit_price=None)]}
    )
    settings = Settings(
        data_dir=data_dir,
        postgres_url=postgres,
        deliberation=DeliberationConfig.model_validate({"roles": roles}),
    )
    clock = SimulatedClock(BARS[SESSION_DAY - 119].time)
    async with await Pipeline.open(settings, clock=clock, providers={"scripted": client}) as pipeline:
        feed = pipeline.market_feed()
        for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
            await feed.bar(SYMBOL, bar)
        await feed.vix(14.0)
        yield Run(pipeline, feed, data_dir)


def at_price(bar: Bar, price: float) -> Bar:
    return bar.model_copy(update={"open": price, "high": price, "low": price, "close": price})


async def stopped_out(run: Run) -> None:
    """The signal ordered, filled at the next open, and the day after gapping under its stop: a stop-loss
    exit that is the third in a row (two came before it)."""
    decision = await run.pipeline.submit(signal(EVENT, BARS[SESSION_DAY]))
    assert decision.outcome is Outcome.ORDERED, decision.reason
    await run.pipeline.services.store.set_counter(STOP_LOSS_STREAK_COUNTER, 2)
    await run.feed.bar(SYMBOL, at_price(BARS[SESSION_DAY + 1], BARS[SESSION_DAY].close))
    stop = run.pipeline.paper_broker.positions()[SYMBOL].stop_loss_price
    assert stop is not None
    await run.feed.bar(SYMBOL, at_price(BARS[SESSION_DAY + 2], stop * 0.97))
    assert run.pipeline.paper_broker.positions() == {}


def shape(chain: Trace) -> list[tuple[StepKind, str, int, str | None]]:
    return [(s.kind, s.id, s.depth, s.caused_by) for s in chain.steps]


async def test_a_stopped_out_signal_traces_to_its_order_fill_exit_and_the_posture_it_forced(run: Run) -> None:
    await stopped_out(run)
    chain = await run.pipeline.trace(EXIT)
    alert = chain.steps[-1].id
    assert chain.chain_id == EVENT and chain.asked_id == EXIT
    assert shape(chain) == [
        (StepKind.EVENT, EVENT, 0, None),
        (StepKind.ORDER, ORDER, 1, EVENT),
        (StepKind.FILL, ENTRY, 2, ORDER),
        (StepKind.EXIT, EXIT, 3, ENTRY),
        (StepKind.POSTURE_CHANGE, alert, 4, EXIT),
    ]
    assert [s.id for s in chain.steps if s.asked] == [EXIT]
    assert [s.label for s in chain.steps] == [
        "SIGNAL_GENERATED", "order", "entry fill", "stop-loss exit", "posture change"
    ]  # fmt: skip
    times = [s.at for s in chain.steps]
    assert times == sorted(times) and times[2] == BARS[SESSION_DAY + 1].time and times[3] == BARS[SESSION_DAY + 2].time
    decision = chain.steps[0].decision
    assert decision is not None and decision.outcome == "ordered"
    assert decision.verdicts.startswith("analyst long 0.80 · validator approve · commander buy 2% market")
    assert "defensive posture forced" in chain.steps[-1].summary
    assert all(s.decision is None for s in chain.steps[1:])
    for other in (EVENT, ORDER, ENTRY, alert):  # any id of the chain gives the same chain, that step marked
        again = await run.pipeline.trace(other)
        assert shape(again) == shape(chain)
        assert [s.id for s in again.steps if s.asked] == [other]


async def test_every_record_of_the_chain_carries_its_id_and_its_cause(run: Run) -> None:
    await stopped_out(run)
    store = run.pipeline.services.store
    decision = await store.get_decision(EVENT)
    order = await store.get_order_for_event(EVENT)
    fills = {f.fill_id: f for f in await store.fills()}
    [alert] = [a for a in await store.alerts() if a.kind == "stop_loss_streak"]
    assert decision is not None and (decision.correlation_id, decision.causation_id) == (EVENT, None)
    assert order is not None and order.request.correlation_id == EVENT
    assert (fills[ENTRY].correlation_id, fills[ENTRY].causation_id) == (EVENT, ORDER)
    assert (fills[EXIT].correlation_id, fills[EXIT].causation_id) == (EVENT, ENTRY)
    assert (alert.correlation_id, alert.causation_id) == (EVENT, EXIT)


async def test_an_event_caused_by_a_fill_joins_its_chain_under_that_fill(run: Run) -> None:
    await stopped_out(run)
    later = signal("trace-aapl-after", BARS[SESSION_DAY + 2]) | {"correlation_id": EVENT, "causation_id": EXIT}
    await run.pipeline.submit(later)
    chain = await run.pipeline.trace("trace-aapl-after")
    step = chain.step("trace-aapl-after")
    assert chain.chain_id == EVENT and step is not None and step.caused_by == EXIT and step.depth == 4
    assert step.asked and step.decision is not None


async def test_an_unknown_id_says_how_to_find_ids(run: Run) -> None:
    await run.pipeline.submit(signal(EVENT, BARS[SESSION_DAY]))
    with pytest.raises(UnknownRecordError, match=f"no event, order, fill or alert 'nope'.*last decisions: {EVENT}"):
        await run.pipeline.trace("nope")


# ---- the command line ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AEGIS_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("AEGIS_POSTGRES_URL", raising=False)
    monkeypatch.delenv("AEGIS_DEBUG", raising=False)
    return tmp_path / "elsewhere"


def aegis(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="aegis")


@pytest.fixture
async def records(tmp_path: Path) -> Path:
    """An embedded run's records holding the stopped-out chain (the pipeline closed, as after `aegis run`)."""
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    price = BARS[SESSION_DAY].close
    client = ScriptedClient(
        {"analyst": [LONG], "validator": [APPROVE], "commander": [buy(price, order_type="market", limit_price=None)]}
    )
    folder = tmp_path / "elsewhere" / "runs" / "20261204T010000"
    settings = Settings(data_dir=folder, deliberation=DeliberationConfig.model_validate({"roles": roles}))
    clock = SimulatedClock(BARS[SESSION_DAY - 119].time)
    async with await Pipeline.open(settings, clock=clock, providers={"scripted": client}) as pipeline:
        feed = pipeline.market_feed()
        for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
            await feed.bar(SYMBOL, bar)
        await feed.vix(14.0)
        await stopped_out(Run(pipeline, feed, folder))
    return folder


def test_aegis_trace_prints_the_chain_as_a_tree_marking_the_asked_step(records: Path, cli_env: Path) -> None:
    result = aegis("trace", ENTRY, "--data-dir", str(records))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"chain {EVENT}: 5 steps (asked: {ENTRY})"
    assert f"SIGNAL_GENERATED  {EVENT}  AAPL long golden_cross strength 0.60" in lines[1]
    assert lines[2].startswith("│  decision: ordered: buy ") and "analyst long 0.80 · validator approve" in lines[2]
    assert lines[3].startswith("└─ ") and f"order  {ORDER}  buy " in lines[3] and ": filled" in lines[3]
    assert lines[4].startswith("   └─ ") and f"entry fill  {ENTRY}" in lines[4] and lines[4].endswith("<== asked")
    assert lines[5].startswith("      └─ ") and f"stop-loss exit  {EXIT}  sell " in lines[5]
    assert lines[6].startswith("         └─ ") and "posture change" in lines[6] and "WARNING: 3 stop-loss" in lines[6]
    assert len(lines) == 7


def test_aegis_trace_defaults_to_the_latest_runs_records(records: Path, cli_env: Path) -> None:
    (cli_env / "runs" / "20261203T010000").mkdir(parents=True)  # an older run folder, without records
    result = aegis("trace", EXIT)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"chain {EVENT}: 5 steps (asked: {EXIT})"


def test_aegis_trace_json_is_the_typed_chain(records: Path, cli_env: Path) -> None:
    result = aegis("trace", ORDER, "--data-dir", str(records), "--json")
    assert result.exit_code == 0, result.output
    chain = Trace.model_validate(json.loads(result.stdout))
    assert [(s.kind, s.id) for s in chain.steps][:4] == [
        (StepKind.EVENT, EVENT), (StepKind.ORDER, ORDER), (StepKind.FILL, ENTRY), (StepKind.EXIT, EXIT)
    ]  # fmt: skip
    assert chain.asked_id == ORDER and [s.id for s in chain.steps if s.asked] == [ORDER]


def test_an_unknown_id_is_one_line_naming_the_last_decisions(records: Path, cli_env: Path) -> None:
    result = aegis("trace", "no-such-id", "--data-dir", str(records))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert "no event, order, fill or alert 'no-such-id'" in line and f"the last decisions: {EVENT}" in line


def test_no_records_anywhere_is_one_line_saying_where_it_looked(cli_env: Path) -> None:
    result = aegis("trace", EVENT)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "no records in" in line and "aegis run prints it" in line
    assert not cli_env.exists()  # looking created nothing


# ---- a breaker trip joins the chain of the exit that tripped it ----------------------------------------


async def test_a_stop_loss_that_trips_the_breaker_causes_its_circuit_breaker_event(tmp_path: Path) -> None:
    """A bot holding 6 % of equity in AAPL with a stop 5 % under its entry; AAPL gaps 25 % down: the stop
    fills at the open, the bot's sleeve is down past the 10 % limit, and the breaker's event is caused by
    that exit."""
    bars = bundled_bars()
    clock = SimulatedClock(bars[SESSION_DAY - 119].time)
    async with await Pipeline.open(Settings(data_dir=tmp_path / "data"), clock=clock) as pipeline:
        feed = pipeline.market_feed()
        for bar in bars[SESSION_DAY - 119 : SESSION_DAY + 1]:
            await feed.bar(SYMBOL, bar)
        bot = Bot(bot_id="tech", strategy="test", universe=(SYMBOL,), allocation=0.10, since=clock.now())
        await pipeline.bots.register([bot], actor="test", reason="one bot with a tenth of the account")
        price = bars[SESSION_DAY].close
        entry = OrderRequest(
            event_id="tech-entry", symbol=SYMBOL, side=Side.BUY, quantity=int(6_000 / price),
            order_type=OrderType.MARKET, stop_loss_price=price * 0.95, created_at=clock.now(), bot_id="tech",
            correlation_id="tech-entry",
        )  # fmt: skip
        await pipeline.paper_broker.submit(entry)
        await feed.bar(SYMBOL, at_price(bars[SESSION_DAY + 1], price))
        await feed.bar(SYMBOL, at_price(bars[SESSION_DAY + 2], price * 0.75))
        [breaker] = [d for d in await pipeline.services.store.decisions() if d.event_type == "CIRCUIT_BREAKER"]
        assert breaker.outcome is Outcome.APPLIED, breaker.reason
        chain = await pipeline.trace(breaker.event_id)
    exit_id = "fill-tech-entry-stop_loss"
    assert (breaker.correlation_id, breaker.causation_id) == ("tech-entry", exit_id)
    assert chain.chain_id == "tech-entry"
    step = chain.step(breaker.event_id)
    assert step is not None and step.asked and step.caused_by == exit_id and step.decision is not None
    [alert] = [s for s in chain.steps if s.label == "alert circuit_breaker"]
    assert alert.caused_by == breaker.event_id and alert.depth == step.depth + 1
    assert [s.id for s in chain.steps[:3]] == ["ord-tech-entry", "fill-tech-entry-entry", exit_id]


# ---- records written before chains ------------------------------------------------------------------


def test_records_without_causes_hang_where_their_ids_say_and_nothing_is_left_out() -> None:
    """Pre-chain records name no cause: an order hangs under its event, a fill under its order, a bracket
    exit under the entry it closes; a cause missing from the records hangs the step under the root."""
    bars = bundled_bars()
    when = bars[SESSION_DAY].time
    request = OrderRequest(event_id="old-1", symbol=SYMBOL, side=Side.BUY, quantity=3, order_type=OrderType.MARKET,
                           stop_loss_price=90.0, created_at=when)  # fmt: skip
    placed = Order(order_id="ord-old-1", request=request, status=OrderStatus.FILLED, updated_at=when)

    def booked(reason: FillReason, day: int) -> Fill:
        side = Side.BUY if reason is FillReason.ENTRY else Side.SELL
        return Fill(fill_id=f"fill-old-1-{reason.value}", order_id="ord-old-1", event_id="old-1", symbol=SYMBOL,
                    side=side, quantity=3, price=100.0, fee=0.1, reason=reason, time=bars[day].time)  # fmt: skip

    stray = Alert(alert_id="alert-x", dedup_key="x", level=AlertLevel.INFO, kind="note", message="m",
                  raised_at=bars[SESSION_DAY + 3].time, correlation_id="old-1", causation_id="gone")  # fmt: skip
    records = ChainRecords(
        chain_id="old-1",
        events=(RecordedEvent("old-1", "SIGNAL_GENERATED", when, signal("old-1", bars[SESSION_DAY])),),
        orders=(placed,),
        fills=(booked(FillReason.STOP_LOSS, SESSION_DAY + 2), booked(FillReason.ENTRY, SESSION_DAY + 1)),
        alerts=(stray,),
    )
    chain = build_trace(records, "alert-x")
    assert shape(chain) == [
        (StepKind.EVENT, "old-1", 0, None),
        (StepKind.ORDER, "ord-old-1", 1, "old-1"),
        (StepKind.FILL, "fill-old-1-entry", 2, "ord-old-1"),
        (StepKind.EXIT, "fill-old-1-stop_loss", 3, "fill-old-1-entry"),
        (StepKind.ALERT, "alert-x", 1, "gone"),
    ]
    assert chain.steps[0].decision is None and chain.steps[-1].asked
