"""The risk guard's bot sleeves: a bot buys within its allocation, only symbols no other bot holds, and sells
only its own positions; without a sleeve the guard decides exactly as it always did.

Prices are real closes of the bundled US stocks (2012-2017).
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from quant.posture import DEFAULT_POSTURES, Posture, PostureParams
from quant.risk_guard import (
    Action,
    BookView,
    GuardChange,
    GuardDecision,
    ProposedOrder,
    RiskLimits,
    Sleeve,
    guard_order,
)
from tools.feeds.bundled import load_bundled_daily

OFFENSIVE = DEFAULT_POSTURES[Posture.OFFENSIVE]  # entry 2.5 %, 5 positions
LIMITS = RiskLimits()
EQUITY = 100_000.0
SYMBOLS = ("AAPL", "JPM", "XOM", "KO", "MSFT")
DAY = 200  # 2013-06-24


@functools.cache
def closes() -> np.ndarray:
    """Daily closes of SYMBOLS, (days, symbols)."""
    return load_bundled_daily(list(SYMBOLS)).close


def close(symbol: str, day: int = DAY) -> float:
    return float(closes()[day, SYMBOLS.index(symbol)])


def book(
    *,
    holdings: dict[str, float] | None = None,
    pending: dict[str, float] | None = None,
    sleeve: Sleeve | None = None,
    cash: float | None = None,
) -> BookView:
    """A book at DAY's closes: `holdings` and `pending` buys are {symbol: quantity}; equity is EQUITY."""
    holdings, pending = holdings or {}, pending or {}
    values = {s: q * close(s) for s, q in holdings.items()}
    pending_values = {s: q * close(s) for s, q in pending.items()}
    return BookView(
        equity=EQUITY,
        cash=EQUITY - sum(values.values()) if cash is None else cash,
        day_start_equity=EQUITY,
        quantities=dict(holdings),
        values=values,
        recent_entry_order_types=("limit",) * 20,
        pending_buy_values=pending_values,
        reserved_cash=sum(pending_values.values()) * (1 + LIMITS.fee_buffer_pct / 100),
        sleeve=sleeve,
    )


def buy(symbol: str = "AAPL", size_pct: float = 2.5, limit: float | None = None) -> ProposedOrder:
    return ProposedOrder(symbol, Action.BUY, size_pct, "limit", close(symbol) if limit is None else limit, 1.0, 2.0)


def sell(symbol: str = "AAPL") -> ProposedOrder:
    return ProposedOrder(symbol, Action.SELL, 0.0, "market", None, None, None)


def guard(
    proposal: ProposedOrder,
    view: BookView,
    *,
    price: float | None = None,
    posture: PostureParams = OFFENSIVE,
    limits: RiskLimits = LIMITS,
) -> GuardDecision:
    at = close(proposal.symbol) if price is None else price
    return guard_order(proposal, price=at, posture=posture, limits=limits, book=view, price_age_s=0.0)


# ---- the sleeve's budget ----------------------------------------------------------------------------


def test_a_buy_is_clipped_to_the_room_left_in_the_bot_s_sleeve() -> None:
    msft = math.floor(9_000.0 / close("MSFT"))  # tech holds about 9 % of equity; its sleeve is 10 %
    committed = msft * close("MSFT")
    sleeve = Sleeve("tech", 10.0, committed, {"MSFT": "tech"})
    decision = guard(buy("AAPL", size_pct=2.5), book(holdings={"MSFT": msft}, sleeve=sleeve))
    room = 10_000.0 - committed
    assert 0 < room < 2_500.0
    assert decision.order is not None
    assert decision.order.quantity == math.floor(room / close("AAPL"))
    assert committed + decision.order.quantity * close("AAPL") <= 10_000.0
    assert decision.changes == (GuardChange("notional", "2500", f"{room:.10g}", "bot.sleeve"),)


def test_without_the_sleeve_the_same_buy_is_not_clipped() -> None:
    msft = math.floor(9_000.0 / close("MSFT"))
    decision = guard(buy("AAPL", size_pct=2.5), book(holdings={"MSFT": msft}))
    assert decision.order is not None and decision.changes == ()
    assert decision.order.quantity == math.floor(2_500.0 / close("AAPL"))


def test_pending_buys_count_against_the_sleeve() -> None:
    jpm = math.floor(4_000.0 / close("JPM"))
    committed = jpm * close("JPM")
    sleeve = Sleeve("banks", 5.0, committed, {"JPM": "banks"})
    decision = guard(buy("JPM", size_pct=2.5), book(pending={"JPM": jpm}, sleeve=sleeve))
    assert decision.order is not None
    assert committed + decision.order.quantity * close("JPM") <= 5_000.0
    assert "bot.sleeve" in {change.rule for change in decision.changes}


@pytest.mark.parametrize("over", [0.0, 250.0])
def test_a_spent_sleeve_rejects_the_buy_naming_the_bot(over: float) -> None:
    sleeve = Sleeve("energy", 4.0, 4_000.0 + over, {"XOM": "energy"})  # exactly spent, or past it after a rise
    decision = guard(buy("KO"), book(sleeve=sleeve))
    assert decision.order is None
    assert decision.rejected_because is not None
    assert decision.rejected_because.startswith("bot energy's sleeve is spent")
    assert "4 % allocation" in decision.rejected_because


@pytest.mark.parametrize(("budget_pct", "committed"), [(math.nan, 0.0), (-1.0, 0.0), (10.0, math.inf)])
def test_a_sleeve_that_cannot_be_measured_rejects_the_buy(budget_pct: float, committed: float) -> None:
    decision = guard(buy(), book(sleeve=Sleeve("tech", budget_pct, committed)))
    assert decision.order is None
    assert "sleeve is not measurable" in (decision.rejected_because or "")


# ---- one bot per symbol -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["held", "pending"])
def test_a_symbol_held_or_pending_for_another_bot_is_not_bought(how: str) -> None:
    view = book(holdings={"AAPL": 20.0}) if how == "held" else book(pending={"AAPL": 20.0})
    decision = guard(buy("AAPL"), replace(view, sleeve=Sleeve("growth", 30.0, 0.0, {"AAPL": "tech"})))
    assert decision.order is None
    assert decision.rejected_because == "AAPL is held or pending for bot tech: one bot holds a symbol at a time"


def test_a_bot_adds_to_its_own_symbol() -> None:
    committed = 20.0 * close("AAPL")
    decision = guard(
        buy("AAPL"), book(holdings={"AAPL": 20.0}, sleeve=Sleeve("tech", 30.0, committed, {"AAPL": "tech"}))
    )
    assert decision.approved


def test_a_bot_does_not_sell_another_bot_s_position() -> None:
    view = book(holdings={"XOM": 30.0, "KO": 50.0})
    holders = {"XOM": "energy", "KO": "staples"}
    decision = guard(sell("XOM"), replace(view, sleeve=Sleeve("staples", 20.0, 50.0 * close("KO"), holders)))
    assert decision.order is None
    assert decision.rejected_because == "the XOM position belongs to bot energy, not to bot staples"
    own = guard(sell("KO"), replace(view, sleeve=Sleeve("staples", 20.0, 50.0 * close("KO"), holders)))
    assert own.order is not None and (own.order.side, own.order.quantity) == ("sell", 50.0)


def test_a_sell_of_a_position_no_bot_is_recorded_for_is_rejected() -> None:
    decision = guard(sell("KO"), book(holdings={"KO": 50.0}, sleeve=Sleeve("staples", 20.0, 0.0, {})))
    assert decision.order is None
    assert "belongs to bot None, not to bot staples" in (decision.rejected_because or "")


# ---- no sleeve: the guard as before -----------------------------------------------------------------


def _whole_account(view: BookView) -> BookView:
    """The same book with one bot that holds everything and has the whole account."""
    holders = dict.fromkeys(view.committed_symbols(), "solo")
    return replace(view, sleeve=Sleeve("solo", 100.0, view.gross_exposure(), holders))


HALF_GROSS = RiskLimits(max_gross_exposure_pct=50.0)
NO_SLEEVE_CASES: dict[str, tuple[ProposedOrder, BookView, RiskLimits]] = {
    "plain buy": (buy("AAPL"), book(), LIMITS),
    "size clipped to the posture": (buy("JPM", size_pct=30.0), book(), LIMITS),
    "limit below the market": (buy("XOM", limit=close("XOM") * 0.97), book(), LIMITS),
    "limit outside the band": (buy("XOM", limit=close("XOM") * 0.8), book(), LIMITS),
    "clipped by cash": (buy("KO"), book(holdings={"AAPL": 300.0}, cash=900.0), LIMITS),
    "clipped by concentration": (buy("MSFT"), book(holdings={"MSFT": math.floor(19_500 / close("MSFT"))}), LIMITS),
    "at the concentration limit": (buy("MSFT"), book(holdings={"MSFT": math.ceil(20_000 / close("MSFT"))}), LIMITS),
    "clipped by gross exposure": (
        buy("KO"),
        book(holdings={s: math.floor(19_900 / close(s)) for s in ("AAPL", "JPM")},
             pending={"XOM": math.floor(9_000 / close("XOM"))}),
        HALF_GROSS,
    ),
    "at the gross limit": (buy("KO"), book(holdings={s: math.ceil(16_700 / close(s)) for s in ("AAPL", "JPM", "XOM")}),
                           HALF_GROSS),
    "a fifth symbol": (buy("KO"), book(holdings={s: 10.0 for s in SYMBOLS if s != "KO"}), LIMITS),
    "sell of a holding": (sell("AAPL"), book(holdings={"AAPL": 40.0}), LIMITS),
    "sell of nothing": (sell("AAPL"), book(), LIMITS),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NO_SLEEVE_CASES))
def test_a_sleeve_of_the_whole_account_decides_exactly_as_no_sleeve(case: str) -> None:
    proposal, view, limits = NO_SLEEVE_CASES[case]
    assert view.sleeve is None
    assert guard(proposal, _whole_account(view), limits=limits) == guard(proposal, view, limits=limits)


def test_the_no_sleeve_cases_cover_approvals_clips_and_rejections() -> None:
    decisions = [guard(p, v, limits=limits) for p, v, limits in NO_SLEEVE_CASES.values()]
    rules = {change.rule for d in decisions for change in d.changes}
    assert {"posture.entry_size", "limits.cash", "limits.concentration", "limits.gross_exposure"} <= rules
    reasons = " | ".join(d.rejected_because for d in decisions if d.rejected_because is not None)
    for words in ("concentration limit", "gross exposure is already", "more than 10 %", "nothing to sell"):
        assert words in reasons
    assert sum(d.approved for d in decisions) >= 7


# ---- sequences of orders from several bots ----------------------------------------------------------


@dataclass
class Ledger:
    """The pending buys the guard let out, by bot and symbol, at market value when approved."""

    equity: float
    fee_buffer_pct: float
    value: dict[tuple[str, str], float]
    reserved: float = 0.0

    def view(self, bot_id: str, allocation: float) -> BookView:
        pending: dict[str, float] = defaultdict(float)
        holders: dict[str, str] = {}
        for (holder, symbol), value in self.value.items():
            pending[symbol] += value
            holders[symbol] = holder
        return BookView(
            equity=self.equity,
            cash=self.equity,
            day_start_equity=self.equity,
            quantities={},
            values={},
            recent_entry_order_types=("limit",) * 20,
            pending_buy_values=dict(pending),
            reserved_cash=self.reserved,
            sleeve=Sleeve(bot_id, allocation * 100.0, self.committed(bot_id), holders),
        )

    def committed(self, bot_id: str) -> float:
        return sum(v for (holder, _), v in self.value.items() if holder == bot_id)

    def add(self, bot_id: str, symbol: str, quantity: float, price: float, reference: float) -> None:
        key = (bot_id, symbol)
        self.value[key] = self.value.get(key, 0.0) + quantity * price
        self.reserved += quantity * reference * (1 + self.fee_buffer_pct / 100)


@dataclass(frozen=True)
class Step:
    bot: int
    symbol: str
    size_pct: float
    order_type: str
    price: float  # a real close of the symbol
    limit_ratio: float  # the limit price as a fraction of the price


@st.composite
def allocations(draw: st.DrawFn) -> list[float]:
    weights = draw(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=4))
    total = draw(st.sampled_from([1.0, 0.9, 0.5]) | st.floats(0.02, 1.0))
    return [w / sum(weights) * total for w in weights]


@st.composite
def steps(draw: st.DrawFn, bots: int) -> Step:
    symbol = draw(st.sampled_from(SYMBOLS))
    day = draw(st.integers(0, closes().shape[0] - 1))
    return Step(
        bot=draw(st.integers(0, bots - 1)),
        symbol=symbol,
        size_pct=draw(st.floats(0.1, 60.0)),
        order_type=draw(st.sampled_from(["limit", "market"])),
        price=close(symbol, day),
        limit_ratio=draw(st.sampled_from([1.0]) | st.floats(0.95, 1.0)),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[float], list[Step], RiskLimits, PostureParams, float]:
    shares = draw(allocations())
    run = draw(st.lists(steps(len(shares)), min_size=1, max_size=30))
    limits = RiskLimits(
        max_concentration_pct=draw(st.floats(5.0, 60.0)),
        max_gross_exposure_pct=draw(st.floats(10.0, 100.0)),
        fee_buffer_pct=draw(st.floats(0.0, 2.0)),
    )
    posture = PostureParams(draw(st.floats(1.0, 40.0)), 1.5, 3.0, draw(st.integers(1, len(SYMBOLS))), 70.0)
    equity = draw(st.floats(20_000.0, 2_000_000.0))
    return shares, run, limits, posture, equity


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_a_run_of_buys_from_several_bots_keeps_every_sleeve_every_symbol_and_the_gross_limit(
    scenario: tuple[list[float], list[Step], RiskLimits, PostureParams, float],
) -> None:
    shares, run, limits, posture, equity = scenario
    ids = [f"bot{i}" for i in range(len(shares))]
    ledger = Ledger(equity, limits.fee_buffer_pct, {})
    tolerance = 1 + 1e-9
    approved = 0
    for step in run:
        bot_id = ids[step.bot]
        proposal = ProposedOrder(step.symbol, Action.BUY, step.size_pct, step.order_type,
                                 step.price * step.limit_ratio, 1.0, 2.0)  # fmt: skip
        decision = guard_order(
            proposal,
            price=step.price,
            posture=posture,
            limits=limits,
            book=ledger.view(bot_id, shares[step.bot]),
            price_age_s=0.0,
        )
        if decision.order is not None:
            approved += 1
            order = decision.order
            ledger.add(bot_id, order.symbol, order.quantity, step.price, order.reference_price)
        for i, bot in enumerate(ids):
            assert ledger.committed(bot) <= shares[i] * equity * tolerance, bot
        for symbol in SYMBOLS:
            assert len({bot for (bot, s) in ledger.value if s == symbol}) <= 1, symbol
        gross = sum(ledger.value.values())
        assert gross <= limits.max_gross_exposure_pct / 100 * equity * tolerance
        assert ledger.reserved <= equity * tolerance
    event(f"{approved} approved" if approved < 3 else "3+ approved")


def test_buys_fill_each_sleeve_up_to_its_budget_and_no_further() -> None:
    shares = {"tech": 0.10, "banks": 0.05, "energy": 0.03}
    symbols = {"tech": "AAPL", "banks": "JPM", "energy": "XOM"}
    ledger = Ledger(EQUITY, LIMITS.fee_buffer_pct, {})
    for _ in range(10):
        for bot_id, share in shares.items():
            symbol = symbols[bot_id]
            decision = guard(buy(symbol), ledger.view(bot_id, share))
            if decision.order is not None:
                ledger.add(bot_id, symbol, decision.order.quantity, close(symbol), decision.order.reference_price)
    for bot_id, share in shares.items():
        budget = share * EQUITY
        assert budget - close(symbols[bot_id]) < ledger.committed(bot_id) <= budget
        last = guard(buy(symbols[bot_id]), ledger.view(bot_id, share))
        assert last.order is None
        assert "below one unit" in (last.rejected_because or "") or "sleeve is spent" in (last.rejected_because or "")
