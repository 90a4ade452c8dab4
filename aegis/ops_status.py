"""`aegis status` as data: the trading state, the posture, open orders, exposure against each limit, the
failure tier in force and the unacknowledged alerts. One function, used by the CLI and the Python API."""

from __future__ import annotations

from dataclasses import dataclass

from aegis.pipeline import Pipeline
from state.alerts import Alert
from state.exposure import book_view
from state.orders import Order
from state.trading import TradingStates


@dataclass(frozen=True, slots=True)
class LimitUse:
    name: str
    used: float
    limit: float
    unit: str  # "%" or "positions"

    @property
    def line(self) -> str:
        return f"{self.name:<34} {self.used:>10.2f} / {self.limit:g} {self.unit}"


@dataclass(frozen=True, slots=True)
class Status:
    trading: TradingStates
    posture: str
    posture_reason: str
    open_orders: list[Order]
    limits: list[LimitUse]
    tier: str  # who set the account's state: an operator, or the tier ("tier:feed", ...)
    alerts: list[Alert]


async def status(pipeline: Pipeline) -> Status:
    store = pipeline.services.store
    context = await pipeline.services.loader.load(None)
    limits = context.risk_limits  # in force: the settings' with the operator's overrides
    account = await store.account_book()
    view = book_view(
        account,
        starting_cash=pipeline.settings.starting_cash,
        day_start_equity=context.portfolio.day_start_equity,
        recent_entry_order_types=context.recent_entry_order_types,
        fee_buffer_pct=limits.fee_buffer_pct,
    )
    equity = view.equity
    symbols = sorted(set(view.values) | set(view.pending_buy_values))
    largest = max((view.committed_value(s) for s in symbols), default=0.0)
    loss = (view.day_start_equity - equity) / view.day_start_equity * 100.0 if view.day_start_equity > 0 else 0.0
    gross, held = view.gross_exposure(), len(view.committed_symbols())
    uses = [
        LimitUse("largest symbol, filled + pending", 100.0 * largest / equity, limits.max_concentration_pct, "%"),
        LimitUse("gross exposure, filled + pending", 100.0 * gross / equity, limits.max_gross_exposure_pct, "%"),
        LimitUse("symbols held or pending", held, context.posture_params.max_open_positions, "positions"),
        LimitUse("daily loss", max(loss, 0.0), limits.daily_loss_limit_pct, "%"),
        LimitUse("cash reserved by pending buys", 100.0 * view.reserved_cash / max(view.cash, 1e-9), 100.0, "%"),
    ]  # fmt: skip
    trading = await pipeline.trading.states()
    return Status(
        trading=trading,
        posture=str(context.posture),
        posture_reason=context.posture_reason,
        open_orders=list(account.open_orders),
        limits=uses,
        tier=trading.account.actor,
        alerts=await store.alerts(unacknowledged_only=True),
    )
