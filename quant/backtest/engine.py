"""The event-driven backtester: strategies decide on the past, orders pass the live risk guard, fill later.

This module owns the simulation loop and its fill rules. Decisions that must not be silently changed:

- **No look-ahead.** At bar ``t`` the strategy gets a ``MarketView`` whose arrays end at row ``t`` and the
  book marked at ``t``'s close. Its features are computed once, up front, by its own ``features`` method,
  which must be causal (row ``t`` from rows ``<= t``); the tests prove both by rewriting the future.
- **Orders fill at the next bar, never at the bar they were decided on.** Orders decided at ``t`` are day
  orders for bar ``t + 1``: market orders fill at its open with adverse slippage; a buy limit fills only if
  ``low <= limit``, at ``min(open, limit)``; a sell limit only if ``high >= limit``, at ``max(open, limit)``;
  limits have no slippage. An order whose symbol has no bar at ``t + 1``, whose limit is not reached, or
  (a buy) whose cost with the fee exceeds the cash expires, recorded as ``Unfilled``. Orders execute in the
  order they were decided. A sell closes the whole position (the guard sizes sells that way).
- **Brackets** (the guard's stop-loss and take-profit prices) are checked from the bar after the entry,
  after that bar's orders: if the low reaches the stop the position exits at ``min(open, stop)`` with
  slippage (so a gap through the stop fills at the open), checked before the target, so a bar touching
  both is a stop (conservative); otherwise if the high reaches the target it exits at ``max(open, target)``.
- **The same guard as live.** Every proposal goes through ``quant.risk_guard.guard_order`` with the bar's
  posture (``posture_from_vix`` of that bar's VIX when a VIX series is given, else the configured one), the
  ``RiskLimits`` and a ``BookView`` of the backtest's book at ``t``'s close; the day-start equity is the
  equity at the previous close. Orders approved earlier in the same bar count in the book the guard sees
  (their cash is reserved with the fee buffer, their symbols count as held), so a burst of proposals cannot
  jointly exceed what each alone may do. Rejections are recorded with the reason.
- **Engine rules**, also recorded as rejections: one order per symbol per bar, one position per symbol (no
  adding to a holding), symbols must be in the panel.
- Fees are ``fee_bps`` of each fill's notional; equity is cash plus holdings at their last known close.
- Metrics use calendar dates when given (ffn's CAGR), else ``periods_per_year`` bars a year.

These are the paper broker's fill rules (``tools.broker.paper``), with one simplification: an order for a
symbol that has no bar at ``t + 1`` expires instead of waiting for the symbol's next bar.

Pure: no I/O, no clock; depends only on other ``quant`` modules.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import numpy as np
import numpy.typing as npt

from quant import metrics
from quant.backtest.panel import MarketView, OhlcvPanel, market_view
from quant.backtest.records import BacktestResult, BookState, Decision, Fill, Holding, Trade, Unfilled
from quant.posture import DEFAULT_POSTURES, Posture, PostureParams, posture_from_vix
from quant.risk_guard import Action, BookView, GuardedOrder, ProposedOrder, RiskLimits, guard_order

FloatArray = npt.NDArray[np.float64]

_BPS = 10_000.0


class Strategy(Protocol):
    """A trading rule the engine can run.

    ``features`` computes the strategy's indicator panels once for the whole panel; each must be
    ``(time, symbols)`` and causal. ``decide`` sees only the view at one bar and the book, and returns the
    proposals for the next bar (exits before entries, by convention).
    """

    @property
    def name(self) -> str: ...

    def features(self, panel: OhlcvPanel) -> Mapping[str, FloatArray]: ...

    def decide(self, view: MarketView, book: BookState) -> Sequence[ProposedOrder]: ...


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Account and cost settings. Money in account currency; fees and slippage in basis points."""

    initial_cash: float = 100_000.0
    fee_bps: float = 1.0
    slippage_bps: float = 5.0
    posture: Posture = Posture.OFFENSIVE  # used when no VIX series is given
    postures: Mapping[Posture, PostureParams] = field(default_factory=lambda: dict(DEFAULT_POSTURES))
    limits: RiskLimits = field(default_factory=RiskLimits)
    periods_per_year: float = metrics.TRADING_DAYS_PER_YEAR

    def __post_init__(self) -> None:
        if not (math.isfinite(self.initial_cash) and self.initial_cash > 0):
            raise ValueError(f"initial_cash must be a positive finite amount, got {self.initial_cash}")
        for name in ("fee_bps", "slippage_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of basis points >= 0, got {value}")
        missing = [p.value for p in Posture if p not in self.postures]
        if missing:
            raise ValueError(f"postures lacks parameters for {missing}")


def run_backtest(
    panel: OhlcvPanel,
    strategy: Strategy,
    config: BacktestConfig | None = None,
    *,
    vix: npt.ArrayLike | None = None,
    dates: Sequence[date] | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``panel``. ``vix`` (one value per bar) sets each bar's posture; ``dates`` (one per
    bar) makes CAGR calendar-based. Raises ``ValueError`` on an empty panel or mismatched lengths."""
    config = config or BacktestConfig()
    if panel.bars == 0:
        raise ValueError("the panel has no bars")
    if dates is not None and len(dates) != panel.bars:
        raise ValueError(f"dates has {len(dates)} entries for {panel.bars} bars")
    postures = _postures(panel.bars, vix, config)
    features = {name: _read_only_panel(name, values, panel) for name, values in strategy.features(panel).items()}
    run = _Run(panel, config)
    for t in range(panel.bars):
        run.execute_orders(t)
        run.check_brackets(t)
        run.mark(t)
        view = market_view(panel, features, t)
        run.decide(t, strategy.decide(view, run.book_state(t)), postures[t])
    for order in run.pending:
        run.unfilled.append(Unfilled(panel.bars, order.symbol, order.side, "no bar after the decision"))
    years = (
        metrics.calendar_years(dates[0], dates[-1]) if dates else metrics.bar_years(panel.bars, config.periods_per_year)
    )
    performance = metrics.performance_metrics(
        run.equity,
        years=years,
        trade_pnl=[trade.pnl for trade in run.trades],
        positions=run.positions,
        periods_per_year=config.periods_per_year,
    )
    for array in (run.equity, run.cash_history, run.positions):
        array.flags.writeable = False
    return BacktestResult(
        strategy=strategy.name,
        symbols=panel.symbols,
        equity=run.equity,
        cash=run.cash_history,
        positions=run.positions,
        decisions=tuple(run.decisions),
        fills=tuple(run.fills),
        unfilled=tuple(run.unfilled),
        trades=tuple(run.trades),
        metrics=performance,
    )


@dataclass(frozen=True, slots=True)
class _Pending:
    decided_at: int
    column: int
    order: GuardedOrder

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @property
    def side(self) -> str:
        return self.order.side


class _Run:
    """The mutable state of one run; only ``run_backtest`` touches it."""

    def __init__(self, panel: OhlcvPanel, config: BacktestConfig) -> None:
        self.panel = panel
        self.config = config
        self.column = {symbol: j for j, symbol in enumerate(panel.symbols)}
        self.fee_rate = config.fee_bps / _BPS
        self.slippage = config.slippage_bps / _BPS
        self.cash = config.initial_cash
        self.holdings: dict[str, Holding] = {}
        self.last_close = np.full(len(panel.symbols), np.nan)
        self.pending: list[_Pending] = []
        self.recent_entry_types: deque[str] = deque(maxlen=config.limits.limit_share_window)
        self.equity = np.empty(panel.bars)
        self.cash_history = np.empty(panel.bars)
        self.positions = np.zeros((panel.bars, len(panel.symbols)))
        self.decisions: list[Decision] = []
        self.fills: list[Fill] = []
        self.unfilled: list[Unfilled] = []
        self.trades: list[Trade] = []

    # ---- the bar's events, in order ------------------------------------------------------------------

    def execute_orders(self, t: int) -> None:
        pending, self.pending = self.pending, []
        for item in pending:
            order, j = item.order, item.column
            if not self.panel.has_bar[t, j]:
                self.unfilled.append(Unfilled(t, order.symbol, order.side, "no bar for the symbol"))
                continue
            price = self._fill_price(order, t, j)
            if price is None:
                low, high = self.panel.low[t, j], self.panel.high[t, j]
                reason = f"limit {order.limit_price:.6g} not reached (low {low:.6g}, high {high:.6g})"
                self.unfilled.append(Unfilled(t, order.symbol, order.side, reason))
            elif order.side == Action.BUY.value:
                self._buy(item, price, t)
            else:
                self._sell(item, price, t)

    def check_brackets(self, t: int) -> None:
        for symbol, holding in list(self.holdings.items()):
            j = self.column[symbol]
            if holding.entry_bar >= t or not self.panel.has_bar[t, j]:
                continue
            open_, high, low = self.panel.open[t, j], self.panel.high[t, j], self.panel.low[t, j]
            stop, target = holding.stop_loss_price, holding.take_profit_price
            if stop is not None and low <= stop:
                self._close(holding, min(open_, stop) * (1.0 - self.slippage), t, "stop_loss", holding.decided_at)
            elif target is not None and high >= target:
                self._close(holding, max(open_, target), t, "take_profit", holding.decided_at)

    def mark(self, t: int) -> None:
        has_bar = self.panel.has_bar[t]
        self.last_close[has_bar] = self.panel.close[t, has_bar]
        held = sum(h.quantity * self.last_close[self.column[s]] for s, h in self.holdings.items())
        self.equity[t] = self.cash + held
        self.cash_history[t] = self.cash
        for symbol, holding in self.holdings.items():
            self.positions[t, self.column[symbol]] = holding.quantity

    def book_state(self, t: int) -> BookState:
        return BookState(cash=self.cash, equity=float(self.equity[t]), holdings=dict(self.holdings))

    def decide(self, t: int, proposals: Sequence[ProposedOrder], posture: Posture) -> None:
        params = self.config.postures[posture]
        equity = float(self.equity[t])
        day_start = float(self.equity[t - 1]) if t > 0 else self.config.initial_cash
        quantities = {s: h.quantity for s, h in self.holdings.items()}
        values = {s: h.quantity * float(self.last_close[self.column[s]]) for s, h in self.holdings.items()}
        pending_values: dict[str, float] = {}  # the orders of this bar, pending until the next open
        reserved = 0.0
        ordered: set[str] = set()
        for proposal in proposals:
            reason = self._engine_rule(proposal, ordered)
            if reason is not None:
                self.decisions.append(Decision(t, proposal, posture, None, reason, "engine", ()))
                continue
            j = self.column[proposal.symbol]
            book = BookView(
                equity=equity,
                cash=self.cash,
                day_start_equity=day_start,
                quantities=quantities,
                values=values,
                recent_entry_order_types=tuple(self.recent_entry_types),
                pending_buy_values=dict(pending_values),
                reserved_cash=reserved,
            )
            price = float(self.panel.close[t, j])
            verdict = guard_order(
                proposal, price=price, posture=params, limits=self.config.limits, book=book, price_age_s=0.0
            )
            order = verdict.order
            rejected_by = None if order is not None else "guard"
            self.decisions.append(
                Decision(t, proposal, posture, order, verdict.rejected_because, rejected_by, verdict.changes)
            )
            if order is None:
                continue
            ordered.add(order.symbol)
            self.pending.append(_Pending(t, j, order))
            if order.side == Action.BUY.value:
                reserved += order.notional * (1.0 + self.config.limits.fee_buffer_pct / 100.0)
                pending_values[order.symbol] = pending_values.get(order.symbol, 0.0) + order.quantity * price
                self.recent_entry_types.append(order.order_type)

    # ---- helpers -------------------------------------------------------------------------------------

    def _engine_rule(self, proposal: ProposedOrder, ordered: set[str]) -> str | None:
        symbol = proposal.symbol
        if symbol not in self.column:
            return f"unknown symbol {symbol!r}: not in the panel"
        if symbol in ordered:
            return f"an order for {symbol} is already placed for the next bar: one order per symbol per bar"
        if proposal.action == Action.BUY and symbol in self.holdings:
            return f"already holding {symbol}: one position per symbol, no adding"
        return None

    def _fill_price(self, order: GuardedOrder, t: int, j: int) -> float | None:
        open_ = float(self.panel.open[t, j])
        buy = order.side == Action.BUY.value
        if order.limit_price is None:
            return open_ * (1.0 + self.slippage) if buy else open_ * (1.0 - self.slippage)
        limit = order.limit_price
        if buy:
            return min(open_, limit) if self.panel.low[t, j] <= limit else None
        return max(open_, limit) if self.panel.high[t, j] >= limit else None

    def _buy(self, item: _Pending, price: float, t: int) -> None:
        order = item.order
        notional = order.quantity * price
        fee = notional * self.fee_rate
        if notional + fee > self.cash:
            reason = f"insufficient cash: needs {notional + fee:.2f} with the fee, has {self.cash:.2f}"
            self.unfilled.append(Unfilled(t, order.symbol, order.side, reason))
            return
        self.cash -= notional + fee
        self.holdings[order.symbol] = Holding(
            symbol=order.symbol,
            quantity=order.quantity,
            entry_price=price,
            entry_fee=fee,
            entry_bar=t,
            decided_at=item.decided_at,
            stop_loss_price=order.stop_loss_price,
            take_profit_price=order.take_profit_price,
        )
        self.fills.append(Fill(t, order.symbol, order.side, order.quantity, price, fee, "entry", item.decided_at))

    def _sell(self, item: _Pending, price: float, t: int) -> None:
        holding = self.holdings.get(item.symbol)
        if holding is None:
            self.unfilled.append(Unfilled(t, item.symbol, item.side, "no position left to sell"))
            return
        self._close(holding, price, t, "exit", item.decided_at)

    def _close(self, holding: Holding, price: float, t: int, reason: str, decided_at: int) -> None:
        quantity = holding.quantity
        fee = quantity * price * self.fee_rate
        self.cash += quantity * price - fee
        del self.holdings[holding.symbol]
        self.fills.append(Fill(t, holding.symbol, Action.SELL.value, quantity, price, fee, reason, decided_at))
        cost = quantity * holding.entry_price + holding.entry_fee
        pnl = quantity * price - fee - cost
        self.trades.append(
            Trade(
                symbol=holding.symbol,
                entry_bar=holding.entry_bar,
                exit_bar=t,
                quantity=quantity,
                entry_price=holding.entry_price,
                exit_price=price,
                fees=holding.entry_fee + fee,
                pnl=pnl,
                return_fraction=pnl / cost,
                exit_reason=reason,
            )
        )


def _postures(bars: int, vix: npt.ArrayLike | None, config: BacktestConfig) -> list[Posture]:
    if vix is None:
        return [config.posture] * bars
    levels = np.asarray(vix, dtype=np.float64)
    if levels.shape != (bars,):
        raise ValueError(f"vix must hold one value per bar, shape ({bars},), got {levels.shape}")
    return [posture_from_vix(level) for level in levels.tolist()]


def _read_only_panel(name: str, values: FloatArray, panel: OhlcvPanel) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != panel.close.shape:
        raise ValueError(f"feature {name!r} has shape {array.shape}, expected {panel.close.shape}")
    if array.flags.writeable:
        array = array.copy()
        array.flags.writeable = False
    return array
