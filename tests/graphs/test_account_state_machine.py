"""The account's limits as a state machine: whatever the commander says, whatever the operator and the market
do, in any order, the committed book (filled positions plus pending orders) stays within the limits.

Hypothesis drives the real pipeline (scripted roles, the paper broker, the embedded stores) on six bundled
symbols from a drawn start day, under a drawn table of limits, from a starting book bought the day before:
signals with arbitrary commander replies, one at a time or in waves, VIX moves across the three postures,
day rollovers (the next real bar of every symbol through `MarketFeed`, so orders fill or expire and stops
and targets trigger), cancels, halts, reductions and resumes. After every step the invariant reads the book
back from the store and checks it, and checks each decision of the step against the book just before it:
a buy only while ACTIVE, with fewer symbols held or pending than its posture allows (or of one of them),
before the day's loss limit, within the entry size, the price band and the posture's brackets; nothing at
all while HALTED, only sells while REDUCING; a reply that breaks the schema a recorded HOLD. The test then
prints how often each rule, outcome, fill and limit happened, and fails if one never did.

How a limit is measured when prices move. The guard sizes an order at the prices of its instant; a price
move afterwards can carry a holding past a limit without anything being ordered, and that is no breach.
Prices only move at a rollover, and a step that places orders moves none, so:
- after a step that ordered, the limits hold exactly at the current prices (those the orders were sized at);
- between buys, the committed quantity of a symbol (held plus pending buys) can only fall (fills turn pending
  into held one for one; sells, expiries, cancels and exits take away). So after *every* step each symbol's
  committed quantity, valued at the prices and the equity of the step of its last buy, is within the
  concentration limit; the whole book, valued at the prices and the equity of the step of the last buy, within
  the gross limit; and the number of symbols held or pending within the open positions of the last buy's
  posture. No price-move tolerance is needed; only a relative 1e-9 for float rounding.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aegis import Pipeline, Settings
from aegis.runtime.feed import MarketFeed
from graphs.deliberation.config import DeliberationConfig
from quant.posture import DEFAULT_POSTURES, Posture, PostureParams, posture_from_vix
from quant.risk_guard import RiskLimits
from state.clock import SimulatedClock
from state.context_loader import DAY_START_EQUITY_KEY
from state.decisions import DecisionRecord, Outcome, StageStatus
from state.events import Bar
from state.orders import FillReason, Side
from state.store.base import AccountBook
from state.trading import TradingState
from tests.conftest import ScriptedPerEvent
from tests.conftest import signal as signal_event
from tests.graphs.test_deliberation import APPROVE, LONG
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import load_bundled_daily

SYMBOLS = ("AAPL", "MSFT", "JPM", "XOM", "KO", "JNJ")
HISTORY = 120  # bars in the hot store before the first step (the indicators' window)
STEPS = 20
# More for a longer hunt; fewer may miss the rarer events the test asserts happened.
EXAMPLES = int(os.environ.get("AEGIS_STATE_MACHINE_EXAMPLES", "500"))
# SQLite commits with synchronous=FULL; on a RAM disk (where there is one) the fsyncs cost nothing.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None
REL = 1e-9  # float rounding: the guard and this test add the same numbers in different orders

_PANEL = load_bundled_daily(SYMBOLS)
DAYS: list[dict[str, Bar]] = []
for _row in range(len(_PANEL.dates)):
    _bars = {s: panel_bar(_PANEL, _row, c) for c, s in enumerate(_PANEL.symbols)}
    DAYS.append({s: b for s, b in _bars.items() if b is not None})
assert all(len(day) == len(SYMBOLS) for day in DAYS), "the bundled symbols share one calendar"
FIRST_START, LAST_START = HISTORY, len(DAYS) - 1 - STEPS  # a day before the start; a rollover at every step


@dataclass(frozen=True)
class Limits:
    """A posture table and risk limits a sequence runs under."""

    postures: Mapping[Posture, PostureParams]
    risk: RiskLimits


# A third of the sequences run with the defaults, the others with larger entries and limits that bind within
# a sequence's few orders: at the defaults one symbol needs eight orders to reach its concentration limit,
# the gross limit cannot bind before the concentration and positions limits do (5 x 20 %), nor can the
# cash, and a 3 % daily loss is rare in 2012-2017 (these are 0.2 and 0.3 %).
def _entries_times(factor: float) -> dict[Posture, PostureParams]:
    return {p: replace(params, entry_size_pct=params.entry_size_pct * factor) for p, params in DEFAULT_POSTURES.items()}


LIMITS = {
    "default": Limits(DEFAULT_POSTURES, RiskLimits()),
    # entries of 20, 16, 12 %: a second one reaches a symbol's limit, three the gross limit
    "gross binds": Limits(
        _entries_times(8),
        RiskLimits(daily_loss_limit_pct=0.2, max_concentration_pct=30.0, max_gross_exposure_pct=60.0),
    ),
    # entries of 40, 32, 24 %: a second one reaches a symbol's limit, three spend the cash
    "cash binds": Limits(
        _entries_times(16),
        RiskLimits(daily_loss_limit_pct=0.3, max_concentration_pct=45.0, max_gross_exposure_pct=150.0),
    ),
}

# What a blocked decision's reason says, by limit (the summary shows which limits bound).
BLOCKED_BY = {
    "daily loss": "daily loss",
    "concentration limit": "concentration",
    "gross exposure": "gross exposure",
    "no cash": "cash",
    "symbols held or pending": "open positions",
    "below one unit": "below one unit",
    "is more than": "price band",
    "nothing to sell": "nothing to sell",
    "a pending sell already": "already being sold",
    "size_pct must be": "size not positive",
    "execute: trading is": "trading state at execute",
    "execute: the book changed": "book changed at execute",
}
LIMIT_RULES = ("limits.concentration", "limits.gross_exposure", "limits.cash")

COUNTS: Counter[str] = Counter()
RULES = ("signal", "wave", "vix", "rollover", "cancel_all", "halt", "reduce", "resume")


def _count(rule_name: str) -> None:
    COUNTS[f"rule: {rule_name}"] += 1
    COUNTS["steps"] += 1


# ---- what the commander says -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A commander reply; a valid one's limit price is `limit_factor` times the symbol's price at the step."""

    content: dict[str, Any] | str
    valid: bool
    limit_factor: float | None = None

    def rendered(self, price: float, direction: str) -> dict[str, Any] | str:
        if not isinstance(self.content, dict) or not self.valid:
            return self.content
        limit = None if self.limit_factor is None else self.limit_factor * price
        action = self.content["action"]
        if action == "follow":  # what the signal says: buy on a long one, sell on a short one
            action = "buy" if direction == "long" else "sell"
        return {**self.content, "action": action, "limit_price": limit}


_LIMIT_FACTORS = (
    st.none(),  # a limit without a price: the guard prices it at the market
    st.floats(0.9, 1.1),  # within the 10 % band (above the market is clipped to it)
    st.sampled_from([0.9, 1.0, 1.1]),  # the band's edges
    st.floats(0.5, 0.899),  # below the band
    st.floats(1.101, 2.0),  # above the band
)
limit_factors = st.sampled_from([0, 0, 1, 1, 1, 2, 3, 4]).flatmap(lambda n: _LIMIT_FACTORS[n])
sizes = st.one_of(st.floats(0.0, 100.0), st.sampled_from([0.0, 0.5, 2.5, 20.0, 100.0]))
valid_replies = st.builds(
    lambda body, factor: Reply(body, True, factor),
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(["follow", "buy", "buy", "sell", "hold"]),
            "size_pct": sizes,
            "order_type": st.sampled_from(["market", "limit"]),
            "stop_loss_pct": st.one_of(st.none(), st.floats(0.0001, 50.0)),
            "take_profit_pct": st.one_of(st.none(), st.floats(0.0001, 100.0)),
            "rationale": st.just("push the limits"),
        }
    ),
    limit_factors,
)
invalid_replies = st.builds(
    lambda content: Reply(content, False),
    st.one_of(
        st.sampled_from(["not json at all", "{}", "buy 100 % now"]),
        st.fixed_dictionaries(
            {
                "action": st.sampled_from(["buy", "BUY", "short"]),
                "size_pct": st.one_of(st.floats(-50, -0.001), st.floats(100.001, 1e6), st.just("two")),
                "order_type": st.sampled_from(["market", "stop"]),
                "rationale": st.just("broken"),
            }
        ),
    ),
)
PLAIN_BUY = Reply({"action": "buy", "size_pct": 100.0, "order_type": "market", "rationale": "enter"}, True)
# About one reply in ten breaks the schema (it fails closed, and three in a row make the posture defensive).
replies = st.integers(0, 9).flatmap(lambda n: invalid_replies if n == 0 else valid_replies)
# Two symbols come up twice as often: orders pile up on one symbol, its concentration limit binds.
symbols = st.sampled_from(SYMBOLS[:2] + SYMBOLS)
# "auto": short when the symbol is held (the signal to close it), else long (the pre-screen stops a long
# signal on a held symbol and a short one on a symbol not held, so these mostly reach the commander).
directions = st.sampled_from(["auto", "auto", "auto", "auto", "long", "short"])
VIX_RANGES = {
    Posture.OFFENSIVE: st.floats(9.0, 14.99),
    Posture.GUERRILLA: st.floats(15.0, 25.0),
    Posture.DEFENSIVE: st.floats(25.01, 60.0),
}
vix_levels = st.sampled_from(list(Posture)).flatmap(lambda p: VIX_RANGES[p].map(lambda v: (p, v)))


# ---- the book as read back from the store -----------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """The stored account valued the way the guard values it: a pending buy at the higher of its limit and
    the mark, its cash reserved at its limit (else the mark) plus the fee buffer. Computed here, not with
    `state.exposure`, so that a mistake there cannot hide itself."""

    cash: float
    marks: Mapping[str, float]
    held: Mapping[str, float]  # symbol -> filled quantity
    pending: Mapping[str, float]  # symbol -> quantity pending buys add
    pending_value: Mapping[str, float]
    selling: Mapping[str, float]  # symbol -> quantity pending sells take away
    reserved: float
    open_buys: frozenset[str]  # order ids
    open_orders: frozenset[str]

    @classmethod
    def of(cls, account: AccountBook, starting_cash: float, fee_buffer_pct: float) -> Book:
        marks = dict(account.marks)
        held: dict[str, float] = {}
        for position in account.positions:
            assert position.quantity > 0 and position.symbol in marks, position
            held[position.symbol] = held.get(position.symbol, 0.0) + position.quantity
        pending: dict[str, float] = {}
        value: dict[str, float] = {}
        selling: dict[str, float] = {}
        reserved = 0.0
        for order in account.open_orders:
            request = order.request
            if request.side is Side.SELL:
                selling[request.symbol] = selling.get(request.symbol, 0.0) + request.quantity
                continue
            mark = marks[request.symbol]
            limit = request.limit_price
            pending[request.symbol] = pending.get(request.symbol, 0.0) + request.quantity
            price = mark if limit is None else max(mark, limit)
            value[request.symbol] = value.get(request.symbol, 0.0) + request.quantity * price
            reserved += request.quantity * (mark if limit is None else limit) * (1 + fee_buffer_pct / 100)
        return cls(
            cash=starting_cash if account.cash is None else account.cash,
            marks=marks,
            held=held,
            pending=pending,
            pending_value=value,
            selling=selling,
            reserved=reserved,
            open_buys=frozenset(o.order_id for o in account.open_orders if o.request.side is Side.BUY),
            open_orders=frozenset(o.order_id for o in account.open_orders),
        )

    @property
    def equity(self) -> float:
        return self.cash + sum(q * self.marks[s] for s, q in self.held.items())

    def committed_quantity(self, symbol: str) -> float:
        return self.held.get(symbol, 0.0) + self.pending.get(symbol, 0.0)

    def committed_value(self, symbol: str) -> float:
        return self.held.get(symbol, 0.0) * self.marks[symbol] + self.pending_value.get(symbol, 0.0)

    @property
    def committed_symbols(self) -> set[str]:
        return set(self.held) | set(self.pending)

    @property
    def gross(self) -> float:
        return sum(self.committed_value(s) for s in self.committed_symbols)


@dataclass
class Step:
    """What a step that deliberated did, for the invariant to check against the book after it."""

    before: Book
    day_start_equity: float
    state: TradingState
    replies: dict[str, Reply]
    decisions: list[DecisionRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Basis:
    """The prices and equity of the step of a buy: the exposure it left is measured at them."""

    marks: Mapping[str, float]
    equity: float


# ---- the machine ------------------------------------------------------------------------------------


class AccountMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory(dir=SCRATCH)
        self.commander = ScriptedPerEvent(LONG, APPROVE)
        self.pipeline: Pipeline | None = None
        self.serial = 0
        self.state = TradingState.ACTIVE
        self.halts = self.reductions = 0  # at most once a sequence each: mostly the account trades
        self.step: Step | None = None
        self.book: Book | None = None  # as the invariant last read it
        self.symbol_basis: dict[str, Basis] = {}  # symbol -> basis of its last buy
        self.gross_basis: Basis | None = None  # basis of the last step that bought
        self.last_buy_max_positions: int | None = None
        self.buys_before_reducing: frozenset[str] = frozenset()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @property
    def p(self) -> Pipeline:
        assert self.pipeline is not None
        return self.pipeline

    # ---- set-up and tear-down ------------------------------------------------------------------

    @initialize(
        start=st.integers(FIRST_START, LAST_START),
        vix=vix_levels,
        limits=st.sampled_from(list(LIMITS)),
        held=st.lists(symbols, unique=True, max_size=4),
    )
    def open_account(self, start: int, vix: tuple[Posture, float], limits: str, held: list[str]) -> None:
        """An account on day `start`, holding what a wave of plain buys of `held` the day before filled."""
        COUNTS["sequences"] += 1
        COUNTS[f"limits: {limits}"] += 1
        COUNTS[f"starting positions: {len(held)}"] += 1
        roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
        table = LIMITS[limits]
        deliberation = {"roles": roles, "postures": table.postures, "risk_limits": table.risk}
        config = Settings(
            data_dir=Path(self.folder.name),
            deliberation=DeliberationConfig.model_validate(deliberation),
            checkpoints=False,
        )
        self.day = start - 1
        clock = SimulatedClock(DAYS[self.day - HISTORY + 1][SYMBOLS[0]].time)
        self.pipeline = self.run(Pipeline.open(config, clock=clock, providers={"scripted": self.commander}))
        self.feed = MarketFeed(self.p.services.hot, self.p.paper_broker, clock)
        for day in DAYS[self.day - HISTORY + 1 : self.day]:
            for symbol in SYMBOLS:
                self.run(self.p.services.hot.push_bar(symbol, day[symbol]))
        self.run(self._feed_day(self.day))
        self.run(self.feed.vix(vix[1]))
        self.committed_exposure_within_the_limits()
        if held:
            self.wave([(symbol, "long", PLAIN_BUY) for symbol in held], concurrency=len(held), counted=False)
            self.committed_exposure_within_the_limits()
        self.rollover(counted=False)

    async def _feed_day(self, day: int) -> None:
        for symbol in SYMBOLS:
            await self.feed.bar(symbol, DAYS[day][symbol])

    def teardown(self) -> None:
        if self.pipeline is not None:
            store = self.p.services.store
            fills = self.run(store.fills())
            COUNTS.update(f"fill: {f.reason}" for f in fills)
            COUNTS.update(f"order {e['action'].removeprefix('order_')}" for e in self.run(store.audit_log(10_000))
                          if e["action"] in ("order_expired", "order_cancelled"))  # fmt: skip
            self.run(self.p.close())
        self.loop.close()
        self.folder.cleanup()

    # ---- the rules ----------------------------------------------------------------------------

    def _book(self) -> Book:
        limits = self.p.services.config.risk_limits
        account = self.run(self.p.services.store.account_book())
        return Book.of(account, self.p.services.starting_cash, limits.fee_buffer_pct)

    def _begin(self) -> Step:
        day_start = self.run(self.p.services.hot.get_value(DAY_START_EQUITY_KEY))
        assert isinstance(day_start, float | int)
        # The book the invariant read after the last step: nothing has happened since.
        assert self.book is not None
        self.step = Step(before=self.book, day_start_equity=float(day_start), state=self.state, replies={})
        return self.step

    def _event(self, step: Step, symbol: str, direction: str, reply: Reply) -> dict[str, Any]:
        self.serial += 1
        event_id = f"e{self.serial}"
        bar = DAYS[self.day][symbol]
        if direction == "auto":
            direction = "short" if step.before.held.get(symbol, 0.0) > 0 else "long"
        self.commander.script(event_id, reply.rendered(bar.close, direction))
        step.replies[event_id] = reply
        return signal_event(event_id, bar, direction, symbol)

    @rule(symbol=symbols, direction=directions, reply=replies)
    def signal(self, symbol: str, direction: str, reply: Reply) -> None:
        _count("signal")
        step = self._begin()
        step.decisions.append(self.run(self.p.submit(self._event(step, symbol, direction, reply))))

    @rule(
        signals=st.lists(st.tuples(symbols, directions, replies), min_size=2, max_size=4), concurrency=st.integers(1, 4)
    )
    def wave(self, signals: list[tuple[str, str, Reply]], concurrency: int, counted: bool = True) -> None:
        if counted:
            _count("wave")
        step = self._begin()
        events = [self._event(step, *s) for s in signals]
        step.decisions = self.run(self.p.submit_wave(events, concurrency=concurrency))

    @rule(level=vix_levels)
    def vix(self, level: tuple[Posture, float]) -> None:
        _count("vix")
        posture, vix = level
        assert posture_from_vix(vix) is posture
        COUNTS[f"vix: {posture}"] += 1
        self.run(self.feed.vix(vix))

    @precondition(lambda self: self.day < len(DAYS) - 1)
    @rule()
    def rollover(self, counted: bool = True) -> None:
        if counted:
            _count("rollover")
        self.day += 1
        self.run(self._feed_day(self.day))

    @precondition(lambda self: self.pipeline is not None and bool(self.p.paper_broker.open_orders()))
    @rule()
    def cancel_all(self) -> None:
        _count("cancel_all")
        self.run(self.p.paper_broker.cancel_all("operator cancels", self.p.services.clock.now()))

    @precondition(lambda self: self.state is TradingState.ACTIVE and self.halts < 1)
    @rule()
    def halt(self) -> None:
        _count("halt")
        self.halts += 1
        self.run(self.p.halt(reason="drill", actor="tester"))
        self.state = TradingState.HALTED

    @precondition(lambda self: self.state is TradingState.ACTIVE and self.reductions < 1)
    @rule()
    def reduce(self) -> None:
        _count("reduce")
        self.reductions += 1
        self.run(self.p.trading.reduce(reason="drill", actor="tester"))
        assert self.book is not None
        self.buys_before_reducing = self.book.open_buys
        self.state = TradingState.REDUCING

    @precondition(lambda self: self.state is not TradingState.ACTIVE)
    @rule()
    def resume(self) -> None:
        _count("resume")
        self.run(self.p.resume(reason="drill over", actor="tester"))
        self.state = TradingState.ACTIVE

    # ---- the invariant --------------------------------------------------------------------------

    @invariant()
    def committed_exposure_within_the_limits(self) -> None:
        if self.pipeline is None:
            return
        COUNTS["invariant checks"] += 1
        book = self.book = self._book()
        step, self.step = self.step, None
        if step is not None:
            self._check_step(step, book)
        limits = self.p.services.config.risk_limits
        broker = self.p.paper_broker
        # The broker's memory and the store agree.
        assert broker.cash() == book.cash
        assert {s: p.quantity for s, p in broker.positions().items()} == dict(book.held)
        assert {o.order_id for o in broker.open_orders()} == set(book.open_orders)
        # Cash: never negative, never promised twice.
        assert book.cash >= 0
        assert book.cash - book.reserved >= -REL * book.equity, (book.cash, book.reserved)
        # Concentration, at the prices and equity of each symbol's last buy.
        for symbol in book.committed_symbols:
            basis = self.symbol_basis.get(symbol)
            assert basis is not None, f"{symbol} is committed but no decision ever bought it"
            value = book.committed_quantity(symbol) * basis.marks[symbol]
            assert value <= limits.max_concentration_pct / 100 * basis.equity * (1 + REL), (symbol, value, basis)
        # Gross exposure and open positions, as of the last buy.
        if self.gross_basis is not None:
            marks, equity = self.gross_basis.marks, self.gross_basis.equity
            gross = sum(book.committed_quantity(s) * marks[s] for s in book.committed_symbols)
            assert gross <= limits.max_gross_exposure_pct / 100 * equity * (1 + REL), (gross, equity)
        if self.last_buy_max_positions is not None:
            assert len(book.committed_symbols) <= self.last_buy_max_positions, book.committed_symbols
        else:
            assert not book.committed_symbols
        # The trading state.
        if self.state is TradingState.HALTED:
            assert not book.open_orders, "an order is open while the account is halted"
        if self.state is TradingState.REDUCING:
            assert book.open_buys <= self.buys_before_reducing, "a buy was placed while reducing"

    def _check_step(self, step: Step, after: Book) -> None:
        """Each decision of the step against the book just before it; then the step's buys at the prices
        they were sized at (nothing moved them during the step)."""
        config = self.p.services.config
        limits = config.risk_limits
        committed = step.before.committed_symbols
        bought: set[str] = set()
        placed: set[str] = set()
        for decision in step.decisions:
            COUNTS[f"decision: {decision.outcome}"] += 1
            COUNTS.update(f"guard clip: {c.rule}" for c in decision.guard_changes if c.rule in LIMIT_RULES)
            if decision.outcome is Outcome.BLOCKED:
                kind = next((k for phrase, k in BLOCKED_BY.items() if phrase in decision.reason), "other")
                COUNTS[f"blocked: {kind}"] += 1
            assert decision.outcome not in (Outcome.REJECTED, Outcome.EXECUTION_FAILED), decision.reason
            reply = step.replies[decision.event_id]
            commander = next((s for s in decision.stages if s.stage == "commander"), None)
            if commander is not None:
                COUNTS[f"posture: {decision.posture}"] += 1
                if reply.valid:
                    assert commander.status is not StageStatus.FAILED, commander.reason
                else:
                    assert decision.outcome is Outcome.HOLD, decision.reason
                    assert commander.status is StageStatus.FAILED and decision.failed_stages == ["commander"]
            if decision.outcome is not Outcome.ORDERED:
                assert decision.order is None
                continue
            order = decision.order
            assert order is not None and reply.valid
            placed.add(order.order_id)
            request = order.request
            assert step.state is not TradingState.HALTED, "ordered while halted"
            if request.side is Side.SELL:  # long only: never more sold than held
                assert after.selling[request.symbol] <= after.held.get(request.symbol, 0.0), "a short sale"
                continue
            assert step.state is TradingState.ACTIVE, f"a buy while {step.state}"
            assert decision.posture is not None
            posture = config.postures[Posture(decision.posture)]
            assert request.symbol in committed or len(committed) < posture.max_open_positions, (
                f"a buy of a new symbol with {len(committed)} held or pending under {decision.posture}"
            )
            committed = committed | {request.symbol}
            assert len(committed) <= posture.max_open_positions
            loss_pct = (step.day_start_equity - step.before.equity) / step.day_start_equity * 100
            assert loss_pct < limits.daily_loss_limit_pct, f"a buy after a daily loss of {loss_pct:.2f} %"
            self.last_buy_max_positions = posture.max_open_positions
            bought.add(request.symbol)
            # The order itself: whole units within the entry size, a limit not above the market, brackets
            # no wider than the posture's.
            price = step.before.marks[request.symbol]
            reference = request.limit_price if request.limit_price is not None else price
            assert request.quantity >= 1 and request.quantity.is_integer()
            assert price * (1 - limits.price_band_pct / 100) * (1 - REL) <= reference <= price
            assert request.quantity * reference <= posture.entry_size_pct / 100 * step.before.equity * (1 + REL)
            assert request.stop_loss_price is not None and request.take_profit_price is not None
            assert 0 < (1 - request.stop_loss_price / reference) * 100 <= posture.stop_loss_pct * (1 + REL)
            assert 0 < (request.take_profit_price / reference - 1) * 100 <= posture.take_profit_pct * (1 + REL)
        # Every order the step placed has its ORDERED decision, and nothing else changed in the book.
        assert after.open_orders - step.before.open_orders == placed
        assert after.open_orders >= step.before.open_orders
        assert after.committed_symbols == committed
        assert after.marks == step.before.marks and after.cash == step.before.cash
        basis = Basis(dict(after.marks), after.equity)
        for symbol in bought:
            value = after.committed_value(symbol)
            assert value <= limits.max_concentration_pct / 100 * after.equity * (1 + REL), (symbol, value)
            self.symbol_basis[symbol] = basis
        if bought:
            assert after.gross <= limits.max_gross_exposure_pct / 100 * after.equity * (1 + REL), after.gross
            self.gross_basis = basis


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`durability` has no effect when no checkpointer is present")
def test_the_committed_book_stays_within_the_limits_whatever_happens() -> None:
    COUNTS.clear()
    run_state_machine_as_test(
        AccountMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
    print("\naccount state machine:")
    for name, count in sorted(COUNTS.items()):
        print(f"  {name:<36} {count}")
    assert COUNTS["sequences"] >= EXAMPLES
    missed = [r for r in RULES if COUNTS[f"rule: {r}"] == 0]
    assert not missed, f"rules never run: {missed}"
    # What every run must have exercised. Hypothesis draws sequences in clusters (and enables a random subset
    # of the rules per sequence), so rarer counts swing widely from run to run: in the runs of 500 measured, sell
    # exits ranged 8-121, daily-loss blocks 7-110 and each clip rule 6-129. Those are printed above; only
    # what no run came near zero on is asserted, the clips as one.
    for seen in (
        *(f"posture: {p}" for p in Posture),
        *(f"decision: {o}" for o in (Outcome.ORDERED, Outcome.BLOCKED, Outcome.HOLD, Outcome.SCREENED_OUT)),
        *(f"fill: {r}" for r in (FillReason.ENTRY, FillReason.STOP_LOSS, FillReason.TAKE_PROFIT)),
        "order expired",
        "blocked: open positions",
    ):
        assert COUNTS[seen] > 0, f"never happened: {seen}"
    assert sum(COUNTS[f"guard clip: {r}"] for r in LIMIT_RULES) > 0, "no account limit ever clipped an order"
