"""Which deliberation orders wait for a person before `execute`: the approval policy (issue 14, item 5).

An order the risk guard let through is parked (an `Approval` of kind ORDER) when any rule of the policy asks
for it: every order, an order at least so large (in money or as a share of equity), any order in live mode, an
order of a listed symbol or bot. The defaults park nothing in paper mode, so the embedded run is unchanged.

Decisions that must not be silently changed:
- An order that only reduces exposure (a sell of a held long: the guard lets a sell through only as that) is
  never parked: it protects capital, and waiting for a person could only make the loss larger.
- The sizes compared are the guarded order's (after the guard's clips), at its reference price.
- Pure: no clock, no I/O; the deliberation's `approval_gate` asks it and acts.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from quant.risk_guard import GuardedOrder
from state.access import Access
from state.context import OperatingMode


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    all_orders: bool = Field(False, description="Every order that would open or add exposure waits for a person")
    min_notional: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Orders of at least this notional (quantity x reference price, account currency) wait"
    )
    min_size_pct: Annotated[float, Field(gt=0, le=100)] | None = Field(
        None, description="Orders of at least this share of the account's equity (percent: 2.0 = 2 %) wait"
    )
    in_live_mode: bool = Field(True, description="In live mode every order that opens or adds exposure waits")
    symbols: tuple[str, ...] = Field((), description="Orders in these symbols wait")
    bots: tuple[str, ...] = Field((), description="Orders of these bots wait")
    timeout_s: float = Field(
        3600.0, gt=0, description="A parked order nobody decides within this many seconds expires (rejected)"
    )
    approver_role: Access = Field(Access.TRADE, description="The role a person needs to approve or reject an order")

    def reason_to_park(
        self, order: GuardedOrder, *, equity: float, mode: OperatingMode, bot: str, reduces: bool
    ) -> str | None:
        """Why `order` must wait for a person (the first rule that asks), or None to execute it now."""
        if reduces:
            return None
        if self.all_orders:
            return "the policy parks every order"
        if self.in_live_mode and mode is OperatingMode.LIVE:
            return "live mode: every order waits for a person"
        if order.symbol in self.symbols:
            return f"orders in {order.symbol} wait for a person"
        if bot in self.bots:
            return f"orders of bot {bot} wait for a person"
        if self.min_notional is not None and order.notional >= self.min_notional:
            return f"notional {order.notional:,.2f} >= {self.min_notional:,.2f}"
        if self.min_size_pct is not None:
            share = 100.0 * order.notional / equity if equity > 0 else float("inf")
            if share >= self.min_size_pct:
                return f"size {share:.2f} % of equity >= {self.min_size_pct:g} %"
        return None
