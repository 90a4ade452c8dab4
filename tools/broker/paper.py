"""The paper broker: the embedded broker of paper trading, filling orders at the next bar.

This module owns the fill rules of simulated execution (prices, fees, slippage, expiry, brackets) and the
paper book (cash, positions, marks), kept in the durable store so a restart loses nothing.

Decisions that must not be silently changed:
- No look-ahead: an order fills at the first bar that *opens after* it was created. An order is eligible at
  a bar when it was created before the bar's time and no later than the close of the symbol's previous bar
  (an order placed during a bar's session cannot fill at that bar's open).
- Market orders fill at the open with adverse slippage; limit orders fill at the better of open and limit,
  without slippage, or expire after their first eligible bar (daily orders).
- Long-only and cash-only: a buy the cash cannot cover (price, quantity and fee) is cancelled, so cash never
  goes negative; a sell is clipped to the quantity held and cancelled when nothing is held.
- Brackets: a position's stop and target are checked from the bar after its entry. Stop first: if a bar
  touches both, the stop is assumed (conservative); a gap through the stop fills at the open, with slippage.
- Exactly one order and one entry fill per event: order and fill ids derive from the event id, the store
  keeps them unique, and a fill is booked together with its order, positions and cash in one transaction.
- The broker refuses to act before `load()`: it never trades on a book it has not restored.
- The reason for a cancellation or an expiry goes to the audit log (an `Order` carries no reason field).
- Every fill carries its chain (`state.orders`): an entry or exit is caused by its order and belongs to the
  order's chain; a bracket's stop-loss or take-profit is caused by the entry fill that opened the position and
  belongs to the chain the position keeps.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from state.events import Bar
from state.orders import Fill, FillReason, Order, OrderRequest, OrderStatus, OrderType, Position, Side
from state.store.base import DurableStore
from tools.broker.base import BrokerNotReadyError, FillReport, FillReportError, InvalidOrderError

__all__ = ["CostModel", "PaperBroker", "fill_id_for", "order_id_for"]

_ACTOR = "paper_broker"
_BPS = 10_000.0
ORDER_FILLS = (FillReason.ENTRY, FillReason.EXIT)  # an order's own fills; the others are its bracket's
_DUST = 1e-9  # a remainder below this fraction of the position is a closed position


def order_id_for(event_id: str) -> str:
    return f"ord-{event_id}"


def fill_id_for(event_id: str, reason: FillReason) -> str:
    return f"fill-{event_id}-{reason.value}"


@dataclass(frozen=True, slots=True)
class CostModel:
    """Trading costs in basis points (1 bp = 0.01 %).

    `fee_bps` is charged on each fill's notional; `slippage_bps` moves market and stop fills against the
    trader (buys higher, sells lower). Limit and take-profit fills have no slippage.
    """

    fee_bps: float = 1.0
    slippage_bps: float = 5.0

    def __post_init__(self) -> None:
        for name in ("fee_bps", "slippage_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of basis points >= 0, got {value}")

    def fee(self, notional: float) -> float:
        return notional * self.fee_bps / _BPS

    def slipped(self, price: float, side: Side) -> float:
        move = self.slippage_bps / _BPS
        return price * (1 + move) if side is Side.BUY else price * (1 - move)


class PaperBroker:
    """Simulated execution on bars, persisted through a `DurableStore`. Call `load()` before anything else."""

    def __init__(self, store: DurableStore, costs: CostModel, starting_cash: float = 100_000.0) -> None:
        if not (math.isfinite(starting_cash) and starting_cash >= 0):
            raise ValueError(f"starting_cash must be a finite amount >= 0, got {starting_cash}")
        self._store = store
        self._costs = costs
        self._starting_cash = starting_cash
        self._cash = starting_cash
        self._positions: dict[str, Position] = {}
        self._marks: dict[str, float] = {}
        self._last_bar: dict[str, datetime] = {}
        self._pending: dict[str, Order] = {}
        self._loaded = False
        self._lock = asyncio.Lock()
        self._fill_listeners: list[Callable[[Fill], None]] = []
        # A replay's run of ticks (`deferred_marks`): a bar that fills, expires or exits nothing keeps its mark
        # here, the newest per symbol, saved when the run ends (in its transaction) or before the next write.
        self._deferring = False
        self._unsaved: dict[str, tuple[float, datetime]] = {}

    def listen_fills(self, listener: Callable[[Fill], None]) -> None:
        """Call `listener` with every fill once booked (entries, exits, brackets, reported fills): the metrics."""
        self._fill_listeners.append(listener)

    # ---- the book --------------------------------------------------------------------------------

    def cash(self) -> float:
        return self._cash

    def positions(self) -> dict[str, Position]:
        return dict(self._positions)

    def marks(self) -> dict[str, float]:
        return dict(self._marks)

    def equity(self) -> float:
        """Cash plus each position at its mark (at its average price if no bar was seen yet)."""
        held = sum(p.quantity * self._marks.get(s, p.avg_price) for s, p in self._positions.items())
        return self._cash + held

    def open_orders(self) -> list[Order]:
        return sorted(self._pending.values(), key=lambda o: (o.request.created_at, o.order_id))

    async def load(self) -> None:
        """Restore cash, positions, marks and pending orders from the store."""
        async with self._lock:
            await self._save_unsaved()
            await self._restore()

    @asynccontextmanager
    async def deferred_marks(self) -> AsyncIterator[None]:
        """Within the block, the marks of bars that change nothing else are saved once per symbol, when it
        ends: a run of ticks written in one transaction writes a dozen marks, not one per tick. A bar that
        fills, expires or exits anything saves the held marks and its own first, as without the block."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
            async with self._lock:
                await self._save_unsaved()

    async def _save_unsaved(self) -> None:
        unsaved, self._unsaved = self._unsaved, {}
        for symbol, (price, at) in unsaved.items():
            await self._store.save_mark(symbol, price, at)

    async def _restore(self) -> None:
        book = await self._store.broker_book()  # one round trip: a feed reloads the book every trading day
        self._cash = self._starting_cash if book.cash is None else book.cash
        self._positions = {p.symbol: p for p in book.positions}
        self._marks = {symbol: price for symbol, (price, _) in book.marks.items()}
        self._last_bar = {symbol: at for symbol, (_, at) in book.marks.items()}
        self._pending = {o.order_id: o for o in book.open_orders}
        self._loaded = True

    def _require_loaded(self) -> None:
        if not self._loaded:
            raise BrokerNotReadyError("PaperBroker.load() must run before the broker takes orders or bars")

    # ---- orders ----------------------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> Order:
        """Accept an order for the next bar. A second submit for the same event returns the first order."""
        self._require_loaded()
        if request.order_type is OrderType.LIMIT and request.limit_price is None:
            raise InvalidOrderError(f"limit order for event {request.event_id} has no limit price")
        if request.order_type is OrderType.MARKET and request.limit_price is not None:
            raise InvalidOrderError(f"market order for event {request.event_id} carries a limit price")
        order = Order(
            order_id=order_id_for(request.event_id),
            request=request,
            status=OrderStatus.PENDING,
            updated_at=request.created_at,
        )
        async with self._lock:
            held = await self._store.save_order(order)
            if held.status is OrderStatus.PENDING:
                self._pending[held.order_id] = held
        return held

    async def book_report(self, report: FillReport) -> tuple[Fill, bool]:
        """Book a fill the execution venue reports (see `tools.broker.base`): the whole open order at the
        reported price and fee, or its position's bracket exit. The same fill reported again returns the
        booked one (not new); a report that differs from the book raises `FillReportError`."""
        self._require_loaded()
        async with self._lock:
            booked = [f for f in await self._store.fills() if f.order_id == report.order_id]
            bracket = report.reason in (FillReason.STOP_LOSS, FillReason.TAKE_PROFIT)
            kind = report.reason if bracket else None
            for fill in booked:
                if (kind is None and fill.reason in ORDER_FILLS) or fill.reason is kind:
                    if _same(fill, report):
                        return fill, False
                    raise FillReportError(
                        f"the book holds fill {fill.fill_id}: {fill.side} {fill.quantity:g} {fill.symbol} at "
                        f"{fill.price:g}; the venue reports {report.side} {report.quantity:g} at {report.price:g}"
                    )
            fill = await (self._report_exit(report) if bracket else self._report_fill(report))
            return fill, True

    async def _report_fill(self, report: FillReport) -> Fill:
        order = self._pending.get(report.order_id)
        if order is None:
            raise FillReportError(f"no open order {report.order_id}: the book did not place it or has closed it")
        request, held = order.request, self._positions.get(order.request.symbol)
        expected = request.quantity if request.side is Side.BUY else min(request.quantity, held.quantity if held else 0)
        problem = None
        if (request.symbol, request.side) != (report.symbol, report.side):
            problem = f"the order is {request.side} {request.symbol}; the venue reports {report.side} {report.symbol}"
        elif held is not None and held.bot_id != request.bot_id:
            problem = f"{request.symbol} is held by bot {held.bot_id}, not by bot {request.bot_id}"
        elif expected <= 0:
            problem = f"no position in {request.symbol} to sell"
        elif not math.isclose(report.quantity, expected, rel_tol=1e-9):
            problem = f"a fill of {report.quantity:g} where the book expects {expected:g} (partials are not booked)"
        elif request.side is Side.BUY and report.quantity * report.price + report.fee > self._cash:
            problem = f"the fill costs {report.quantity * report.price + report.fee:.2f}; the cash is {self._cash:.2f}"
        if problem is not None:
            raise FillReportError(f"order {report.order_id}: {problem}")
        fill = await self._fill_order(order, report.price, report.at, fee=report.fee)
        assert fill is not None  # every reason to refuse was checked above
        return fill

    async def _report_exit(self, report: FillReport) -> Fill:
        position = next(
            (p for p in self._positions.values() if order_id_for(p.opened_by_event) == report.order_id), None
        )
        if position is None:
            raise FillReportError(f"no position opened by order {report.order_id} for its bracket to close")
        if report.side is not Side.SELL or report.symbol != position.symbol:
            reported = f"{report.side} {report.symbol}"
            raise FillReportError(f"a bracket exit sells {position.symbol}; the venue reports {reported}")
        if not math.isclose(report.quantity, position.quantity, rel_tol=1e-9):
            raise FillReportError(
                f"the bracket closes {position.quantity:g} {position.symbol}; the venue reports {report.quantity:g}"
            )
        assert report.reason is not None
        fill = await self._exit(position, report.price, report.reason, report.at, fee=report.fee)
        if fill is None:
            raise FillReportError(f"the store already holds the exit of order {report.order_id}")
        return fill

    async def cancel_created_before(self, before: datetime, reason: str, at: datetime) -> list[Order]:
        """Cancel every pending order created before `before` (as the durable store holds them): orders that
        had their session and did not fill. Returns the cancelled orders."""
        self._require_loaded()
        async with self._lock:
            stale = [o for o in await self._store.open_orders() if o.request.created_at < before]
            return [await self._close(order, OrderStatus.CANCELLED, at, reason) for order in stale]

    async def cancel_all(self, reason: str, at: datetime, symbol: str | None = None) -> list[Order]:
        """Cancel every pending order (of `symbol`, if given), as the durable store holds them: orders
        placed by other processes sharing the store are cancelled too. Returns the cancelled orders."""
        self._require_loaded()
        async with self._lock:
            cancelled = []
            for order in await self._store.open_orders():
                if symbol is None or order.request.symbol == symbol:
                    cancelled.append(await self._close(order, OrderStatus.CANCELLED, at, reason))
            return cancelled

    def last_bar_time(self, symbol: str) -> datetime | None:
        """The time of the newest bar of `symbol` the broker booked (bars not after it change nothing)."""
        return self._last_bar.get(symbol)

    async def on_bar(self, symbol: str, bar: Bar) -> list[Fill]:
        """Process a new bar of `symbol`: fill its eligible pending orders, then check its position's bracket.

        A bar not newer than the last one seen for `symbol` (a redelivery) changes nothing.
        """
        self._require_loaded()
        async with self._lock:
            previous = self._last_bar.get(symbol)
            if previous is not None and bar.time <= previous:
                return []
            fills: list[Fill] = []
            eligible = [o for o in self._eligible(symbol, bar, previous) if o.order_id in self._pending]
            if eligible:
                await self._save_unsaved()  # the marks before this bar are saved before what it may write
            for order in eligible:
                if order.order_id not in self._pending:
                    continue  # settled by a reload from the store meanwhile (see `_book`)
                fill = await self._execute(order, bar)
                if fill is not None:
                    fills.append(fill)
            exit_fill = await self._check_bracket(symbol, bar)
            if exit_fill is not None:
                fills.append(exit_fill)
            if self._deferring and not eligible and exit_fill is None:
                self._unsaved[symbol] = (bar.close, bar.time)
            else:
                await self._save_unsaved()  # after an exit: the held marks follow it at once
                await self._store.save_mark(symbol, bar.close, bar.time)
            self._marks[symbol] = bar.close
            self._last_bar[symbol] = bar.time
            return fills

    def _eligible(self, symbol: str, bar: Bar, previous: datetime | None) -> list[Order]:
        return [
            o
            for o in self.open_orders()
            if o.request.symbol == symbol
            and o.request.created_at < bar.time
            and (previous is None or o.request.created_at <= previous)
        ]

    def _fill_price(self, request: OrderRequest, bar: Bar) -> float | None:
        """The price this bar fills `request` at, or None if a limit was not reached."""
        limit = request.limit_price
        if limit is None:
            return self._costs.slipped(bar.open, request.side)
        if request.side is Side.BUY:
            return min(bar.open, limit) if bar.low <= limit else None
        return max(bar.open, limit) if bar.high >= limit else None

    async def _execute(self, order: Order, bar: Bar) -> Fill | None:
        price = self._fill_price(order.request, bar)
        if price is None:
            reason = f"limit {order.request.limit_price} not reached in bar {bar.low}..{bar.high}"
            await self._close(order, OrderStatus.EXPIRED, bar.time, reason)
            return None
        return await self._fill_order(order, price, bar.time)

    async def _fill_order(self, order: Order, price: float, at: datetime, fee: float | None = None) -> Fill | None:
        """Fill `order` at `price` (the fee from the cost model unless given), or cancel it saying why."""
        request = order.request
        positions = dict(self._positions)
        held = positions.get(request.symbol)
        if held is not None and held.bot_id != request.bot_id:
            reason = f"{request.symbol} is held by bot {held.bot_id}, not by bot {request.bot_id}"
            await self._close(order, OrderStatus.CANCELLED, at, reason)
            return None
        if request.side is Side.BUY:
            quantity = request.quantity
            paid = self._costs.fee(quantity * price) if fee is None else fee
            cost = quantity * price + paid
            if cost > self._cash:
                reason = f"insufficient cash: needs {cost:.2f} with fee, has {self._cash:.2f}"
                await self._close(order, OrderStatus.CANCELLED, at, reason)
                return None
            cash = self._cash - cost
            positions[request.symbol] = _bought(held, request, quantity, price, at)
            kind = FillReason.ENTRY
        else:
            if held is None:
                reason = f"no position in {request.symbol} to sell (the paper broker is long-only)"
                await self._close(order, OrderStatus.CANCELLED, at, reason)
                return None
            quantity = min(request.quantity, held.quantity)
            paid = self._costs.fee(quantity * price) if fee is None else fee
            cash = self._cash + quantity * price - paid
            _sold(positions, held, quantity)
            kind = FillReason.EXIT
        fill = Fill(
            fill_id=fill_id_for(request.event_id, kind),
            order_id=order.order_id,
            event_id=request.event_id,
            symbol=request.symbol,
            side=request.side,
            quantity=quantity,
            price=price,
            fee=paid,
            reason=kind,
            time=at,
            bot_id=request.bot_id,
            correlation_id=request.chain_id,
            causation_id=order.order_id,
        )
        filled = Order(order_id=order.order_id, request=request, status=OrderStatus.FILLED, updated_at=at)
        return await self._book(fill, filled, positions, cash)

    async def _check_bracket(self, symbol: str, bar: Bar) -> Fill | None:
        position = self._positions.get(symbol)
        if position is None or position.opened_at >= bar.time:
            return None  # the bracket is armed from the bar after the entry
        stop, target = position.stop_loss_price, position.take_profit_price
        if stop is not None and bar.low <= stop:
            price, kind = self._costs.slipped(min(bar.open, stop), Side.SELL), FillReason.STOP_LOSS
        elif target is not None and bar.high >= target:
            price, kind = max(bar.open, target), FillReason.TAKE_PROFIT
        else:
            return None
        return await self._exit(position, price, kind, bar.time)

    async def _exit(
        self, position: Position, price: float, kind: FillReason, at: datetime, fee: float | None = None
    ) -> Fill | None:
        """Close `position` at `price` by its bracket (`kind`: its stop or its target)."""
        quantity = position.quantity
        paid = self._costs.fee(quantity * price) if fee is None else fee
        entry_event = position.opened_by_event
        fill = Fill(
            fill_id=fill_id_for(entry_event, kind),
            order_id=order_id_for(entry_event),
            event_id=entry_event,
            symbol=position.symbol,
            side=Side.SELL,
            quantity=quantity,
            price=price,
            fee=paid,
            reason=kind,
            time=at,
            bot_id=position.bot_id,
            correlation_id=position.chain_id,
            causation_id=fill_id_for(entry_event, FillReason.ENTRY),
        )
        positions = {s: p for s, p in self._positions.items() if s != position.symbol}
        return await self._book(fill, None, positions, self._cash + quantity * price - paid)

    async def _book(self, fill: Fill, order: Order | None, positions: dict[str, Position], cash: float) -> Fill | None:
        """Persist a fill with its consequences, then apply them in memory (store first: crash-safe)."""
        booked = await self._store.book_fill(fill, order, list(positions.values()), cash, fill.time)
        if not booked:
            # The store already holds this fill: memory is behind it. Trust the store, apply nothing twice.
            await self._restore()
            return None
        self._cash = cash
        self._positions = positions
        if order is not None:
            self._pending.pop(order.order_id, None)
        for listener in self._fill_listeners:
            listener(fill)
        return fill

    async def _close(self, order: Order, status: OrderStatus, at: datetime, reason: str) -> Order:
        """Expire or cancel a pending order. The reason is audited first, so a crash cannot lose it."""
        detail = {"order_id": order.order_id, "event_id": order.event_id, "symbol": order.request.symbol}
        await self._store.audit(_ACTOR, f"order_{status.value}", {**detail, "reason": reason}, at)
        closed = Order(order_id=order.order_id, request=order.request, status=status, updated_at=at)
        await self._store.update_order(closed)
        self._pending.pop(order.order_id, None)
        return closed


def _same(fill: Fill, report: FillReport) -> bool:
    return (
        (fill.symbol, fill.side) == (report.symbol, report.side)
        and math.isclose(fill.quantity, report.quantity, rel_tol=1e-9)
        and math.isclose(fill.price, report.price, rel_tol=1e-9)
    )


def _bought(held: Position | None, request: OrderRequest, quantity: float, price: float, at: datetime) -> Position:
    """The position after a buy: a new one, or the held one with an averaged price and the newest bracket."""
    if held is None:
        return Position(
            symbol=request.symbol,
            quantity=quantity,
            avg_price=price,
            stop_loss_price=request.stop_loss_price,
            take_profit_price=request.take_profit_price,
            opened_at=at,
            opened_by_event=request.event_id,
            bot_id=request.bot_id,
            correlation_id=request.chain_id,
        )
    total = held.quantity + quantity
    return Position(
        symbol=held.symbol,
        quantity=total,
        avg_price=(held.quantity * held.avg_price + quantity * price) / total,
        stop_loss_price=_newest(request.stop_loss_price, held.stop_loss_price),
        take_profit_price=_newest(request.take_profit_price, held.take_profit_price),
        opened_at=held.opened_at,
        opened_by_event=held.opened_by_event,
        bot_id=held.bot_id,
        correlation_id=held.correlation_id,
    )


def _newest(requested: float | None, held: float | None) -> float | None:
    return requested if requested is not None else held


def _sold(positions: dict[str, Position], held: Position, quantity: float) -> None:
    """Reduce `held` by `quantity` in `positions` (a fresh copy of the book), removing it when flat."""
    remaining = held.quantity - quantity
    if remaining <= held.quantity * _DUST:
        del positions[held.symbol]
    else:
        positions[held.symbol] = held.model_copy(update={"quantity": remaining})
