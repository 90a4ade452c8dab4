"""The bots' daily-loss check: each bot's P&L from its own fills and positions at real bundled prices, its
day-start mark, and the breaker's verdict per bot or for all of them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from quant.circuit_breaker import BreakerScope
from state.bots import Bot, BotDay, BotState
from state.orders import Fill, FillReason, Position, Side
from tools.feeds.bundled import load_bundled_daily
from tools.ops.breaker import BotLedger, BreakerConfig, check_bots, day_marks

SYMBOLS = ("AAPL", "JPM", "XOM", "KO", "MSFT")
DAY = 400  # a bundled trading day (2014-04-09); the fills happen on the days before it
T0 = datetime(2014, 4, 1, 20, 0, tzinfo=UTC)
EQUITY = 100_000.0


@functools.cache
def closes() -> np.ndarray:
    return load_bundled_daily(list(SYMBOLS)).close


def close(symbol: str, day: int = DAY) -> float:
    return float(closes()[day, SYMBOLS.index(symbol)])


def traded(fill_id: str, bot_id: str, symbol: str, side: Side, quantity: float, day: int, fee: float = 1.0) -> Fill:
    """A fill of `quantity` at the symbol's real close on bundled day `day`."""
    return Fill(fill_id=fill_id, order_id=f"ord-{fill_id}", event_id=f"ev-{fill_id}", symbol=symbol, side=side,
                quantity=quantity, price=close(symbol, day), fee=fee,
                reason=FillReason.ENTRY if side is Side.BUY else FillReason.EXIT,
                time=T0 + timedelta(days=day - DAY), bot_id=bot_id)  # fmt: skip


def held(bot_id: str, symbol: str, quantity: float, avg_price: float) -> Position:
    return Position(symbol=symbol, quantity=quantity, avg_price=avg_price, opened_at=T0,
                    opened_by_event=f"open-{symbol}", bot_id=bot_id)  # fmt: skip


def bot(bot_id: str, allocation: float, state: BotState = BotState.RUNNING) -> Bot:
    return Bot(bot_id=bot_id, strategy="test", allocation=allocation, state=state, since=T0)


# ---- the ledger -------------------------------------------------------------------------------------


def test_a_bot_s_cash_flows_are_its_sells_less_its_buys_less_all_fees() -> None:
    ledger = BotLedger()
    ledger.add([
        traded("f1", "tech", "AAPL", Side.BUY, 40, DAY - 5, fee=1.25),
        traded("f2", "banks", "JPM", Side.BUY, 100, DAY - 5, fee=2.0),
        traded("f3", "tech", "AAPL", Side.SELL, 15, DAY - 2, fee=0.75),
    ])  # fmt: skip
    tech = -40 * close("AAPL", DAY - 5) - 1.25 + 15 * close("AAPL", DAY - 2) - 0.75
    assert ledger.flows == {
        "tech": pytest.approx(tech, rel=1e-12),
        "banks": pytest.approx(-100 * close("JPM", DAY - 5) - 2.0),
    }


def test_a_fill_seen_again_is_counted_once() -> None:
    first = traded("f1", "tech", "AAPL", Side.BUY, 40, DAY - 5)
    ledger = BotLedger()
    ledger.add([first, first])
    ledger.add([first, traded("f2", "tech", "AAPL", Side.SELL, 10, DAY - 1)])
    assert ledger.flows["tech"] == pytest.approx(-40 * close("AAPL", DAY - 5) - 1.0 + 10 * close("AAPL", DAY - 1) - 1.0)
    assert ledger.seen == {"f1", "f2"}


def test_a_bot_s_pnl_is_its_flows_plus_its_own_positions_at_their_marks() -> None:
    ledger = BotLedger()
    ledger.add([
        traded("f1", "tech", "AAPL", Side.BUY, 40, DAY - 5),
        traded("f2", "tech", "MSFT", Side.BUY, 30, DAY - 5),
        traded("f3", "banks", "JPM", Side.BUY, 100, DAY - 5),
    ])  # fmt: skip
    positions = [
        held("tech", "AAPL", 40, close("AAPL", DAY - 5)),
        held("tech", "MSFT", 30, close("MSFT", DAY - 5)),
        held("banks", "JPM", 100, close("JPM", DAY - 5)),
    ]
    marks = {"AAPL": close("AAPL"), "JPM": close("JPM")}  # no mark for MSFT: valued at its average price
    tech = 40 * (close("AAPL") - close("AAPL", DAY - 5)) - 2.0
    assert ledger.pnl("tech", positions, marks) == pytest.approx(tech, abs=1e-9)
    assert ledger.pnl("banks", positions, marks) == pytest.approx(100 * (close("JPM") - close("JPM", DAY - 5)) - 1.0)
    assert ledger.pnl("nobody", positions, marks) == 0.0


def test_day_marks_hold_each_bot_s_pnl_and_its_allocation_of_equity() -> None:
    ledger = BotLedger()
    ledger.add([traded("f1", "tech", "AAPL", Side.BUY, 40, DAY - 5)])
    positions = [held("tech", "AAPL", 40, close("AAPL", DAY - 5))]
    marks = {"AAPL": close("AAPL")}
    bots = [bot("tech", 0.3), bot("banks", 0.25)]
    found = day_marks(date(2014, 4, 9), bots, ledger, positions, marks, 104_250.5)
    assert found == [
        BotDay(bot_id="tech", day=date(2014, 4, 9), pnl=ledger.pnl("tech", positions, marks),
               sleeve=0.3 * 104_250.5, allocation=0.3),
        BotDay(bot_id="banks", day=date(2014, 4, 9), pnl=0.0, sleeve=0.25 * 104_250.5, allocation=0.25),
    ]  # fmt: skip


# ---- the verdict ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    """A day of bots, each holding one stock bought three days before; the day starts at the previous close."""

    bots: list[Bot]
    ledger: BotLedger
    positions: list[Position]
    start_marks: dict[str, float]

    def day_start(self) -> dict[str, BotDay]:
        found = day_marks(date(2014, 4, 9), self.bots, self.ledger, self.positions, self.start_marks, EQUITY)
        return {mark.bot_id: mark for mark in found}


HOLDINGS = {"tech": ("AAPL", 200.0), "banks": ("JPM", 300.0), "energy": ("XOM", 80.0)}


def a_day(bots: list[Bot]) -> Day:
    ledger = BotLedger()
    positions = []
    for bot_id, (symbol, quantity) in HOLDINGS.items():
        ledger.add([traded(f"buy-{bot_id}", bot_id, symbol, Side.BUY, quantity, DAY - 3)])
        positions.append(held(bot_id, symbol, quantity, close(symbol, DAY - 3)))
    return Day(bots, ledger, positions, {symbol: close(symbol, DAY - 1) for symbol, _ in HOLDINGS.values()})


def falling(symbol: str, loss: float, quantity: float) -> float:
    """The price at which `quantity` of `symbol` has lost `loss` since the day's start."""
    return close(symbol, DAY - 1) - loss / quantity


def test_only_the_bot_whose_own_sleeve_lost_ten_percent_stops() -> None:
    bots = [bot("tech", 0.2), bot("banks", 0.3), bot("energy", 0.1)]
    day = a_day(bots)
    start = day.day_start()
    now = {
        "AAPL": falling("AAPL", 0.10 * 20_000.0, 200.0),  # exactly 10.00 % of tech's 20 000 sleeve
        "JPM": falling("JPM", 0.0999 * 30_000.0, 300.0),  # 9.99 %: keeps running
        "XOM": close("XOM", DAY - 1) * 1.05,
    }
    decision = check_bots(bots, start, day.ledger, day.positions, now, BreakerConfig())
    assert decision.scope is BreakerScope.BOTS
    assert decision.stopped_ids == ("tech",)
    [stop] = decision.stops
    assert stop.day_start_equity == 20_000.0
    assert stop.daily_pnl == pytest.approx(-2_000.0, rel=1e-9)
    assert stop.reason == "daily loss 10.00 % reached the 10 % limit"


def test_a_loss_before_the_day_started_does_not_count() -> None:
    bots = [bot("tech", 0.2)]
    day = a_day(bots)
    # AAPL fell 30 % between the purchase and the day's start; today it is flat: no stop.
    start_marks = {"AAPL": close("AAPL", DAY - 3) * 0.7}
    start = {m.bot_id: m for m in day_marks(date(2014, 4, 9), bots, day.ledger, day.positions, start_marks, EQUITY)}
    assert start["tech"].pnl < -0.1 * start["tech"].sleeve
    assert not check_bots(bots, start, day.ledger, day.positions, start_marks, BreakerConfig()).tripped


def test_stopped_bots_and_bots_without_a_day_start_mark_are_not_measured() -> None:
    bots = [bot("tech", 0.2, BotState.STOPPED), bot("banks", 0.3), bot("energy", 0.1)]
    day = a_day(bots)
    start = day.day_start()
    del start["energy"]  # registered during the day
    crash = {"AAPL": close("AAPL", DAY - 1) * 0.5, "JPM": close("JPM", DAY - 1), "XOM": close("XOM", DAY - 1) * 0.5}
    decision = check_bots(bots, start, day.ledger, day.positions, crash, BreakerConfig())
    assert not decision.tripped
    assert decision.portfolio_loss_pct == pytest.approx(0.0, abs=1e-9)  # banks alone is measured


def test_scope_all_stops_every_measured_bot_once_the_sum_crossed() -> None:
    bots = [bot("tech", 0.2), bot("banks", 0.3), bot("energy", 0.1), bot("idle", 0.1, BotState.STOPPED)]
    day = a_day(bots)
    start = day.day_start()
    # tech loses 5 000 (25 % of its sleeve), banks gains 100, energy is flat: 4 900 of 60 000 is 8.2 %.
    now = {"AAPL": falling("AAPL", 5_000.0, 200.0), "JPM": falling("JPM", -100.0, 300.0), "XOM": close("XOM", DAY - 1)}
    within = check_bots(bots, start, day.ledger, day.positions, now, BreakerConfig(scope=BreakerScope.ALL))
    assert not within.tripped
    assert within.portfolio_loss_pct == pytest.approx(4_900 / 60_000 * 100, rel=1e-9)
    assert check_bots(bots, start, day.ledger, day.positions, now, BreakerConfig()).stopped_ids == ("tech",)

    now["JPM"] = falling("JPM", 1_100.0, 300.0)  # 6 100 of 60 000: 10.17 %
    crossed = check_bots(bots, start, day.ledger, day.positions, now, BreakerConfig(scope=BreakerScope.ALL))
    assert crossed.stopped_ids == ("tech", "banks", "energy")  # the flat one too, not the stopped one
    assert {stop.reason for stop in crossed.stops} == {"portfolio daily loss 10.17 % reached the 10 % limit"}


def test_breaker_config_refuses_an_unknown_resume() -> None:
    with pytest.raises(ValidationError):
        BreakerConfig(resume="tomorrow")
    assert BreakerConfig() == BreakerConfig(daily_loss_limit_pct=10.0, scope=BreakerScope.BOTS, resume="operator")


# ---- the bots' P&L adds up to the account's ---------------------------------------------------------


def test_the_bots_pnl_sums_to_the_account_s_pnl() -> None:
    starting_cash = 250_000.0
    fills = [
        traded("f1", "tech", "AAPL", Side.BUY, 120, DAY - 30, fee=1.2),
        traded("f2", "tech", "MSFT", Side.BUY, 200, DAY - 25, fee=1.0),
        traded("f3", "banks", "JPM", Side.BUY, 300, DAY - 24, fee=1.5),
        traded("f4", "tech", "AAPL", Side.SELL, 50, DAY - 15, fee=0.6),
        traded("f5", "energy", "XOM", Side.BUY, 150, DAY - 12, fee=1.1),
        traded("f6", "banks", "JPM", Side.SELL, 300, DAY - 8, fee=1.5),  # closed: realised only
        traded("f7", "default", "KO", Side.BUY, 100, DAY - 6, fee=0.5),
        traded("f8", "energy", "XOM", Side.BUY, 50, DAY - 4, fee=0.4),
    ]
    # The account, kept by hand: cash moves with every fill; positions carry quantity and average price.
    cash = starting_cash
    book: dict[str, tuple[str, float, float]] = {}  # symbol -> (bot, quantity, average price)
    for f in fills:
        notional = f.quantity * f.price
        cash += (notional if f.side is Side.SELL else -notional) - f.fee
        _, quantity, avg = book.get(f.symbol, (f.bot_id, 0.0, 0.0))
        if f.side is Side.BUY:
            book[f.symbol] = (f.bot_id, quantity + f.quantity, (quantity * avg + notional) / (quantity + f.quantity))
        else:
            book[f.symbol] = (f.bot_id, quantity - f.quantity, avg)
    positions = [held(b, s, q, avg) for s, (b, q, avg) in book.items() if q > 0]
    assert {p.symbol for p in positions} == {"AAPL", "MSFT", "XOM", "KO"}
    marks = {s: close(s) for s in ("AAPL", "XOM", "KO")}  # MSFT has no mark: its average price
    account_pnl = cash + sum(p.quantity * marks.get(p.symbol, p.avg_price) for p in positions) - starting_cash

    ledger = BotLedger()
    ledger.add(fills[:5])
    ledger.add(fills[3:])  # an overlapping delivery: f4 and f5 again
    bots = ("tech", "banks", "energy", "default")
    total = sum(ledger.pnl(b, positions, marks) for b in bots)
    assert total == pytest.approx(account_pnl, rel=1e-12, abs=1e-6)
    assert ledger.pnl("banks", positions, marks) == pytest.approx(
        300 * (close("JPM", DAY - 8) - close("JPM", DAY - 24)) - 3.0, abs=1e-6
    )
    assert abs(account_pnl) > 100.0  # the real prices moved: the sum is not trivially zero
