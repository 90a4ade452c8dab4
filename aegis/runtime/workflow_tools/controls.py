"""The workflow's tools that change something: bots, the trading state, open orders, the posture, the
allocation, a risk limit. Each calls the one control that owns its setting (`tools.ops`), the same as the CLI
and the flows, which audits the change with the workflow's actor (the requester, the request, the approver).

A change that loosens (a less defensive posture, a looser risk limit) needs the admin role: the access rules
below say so for the arguments at hand, and Lubit checks them before anything runs.
"""

from __future__ import annotations

from pydantic import BaseModel

from aegis.runtime.workflow_tools.allocation import NoAllocationError, apply_profile_allocation
from quant.posture import Posture
from state.access import Access
from state.store.base import DurableStore
from state.trading import ACCOUNT_SCOPE
from tools.ops.allocation import RebalanceConfig
from tools.ops.bots import BotControl, UnknownBotError
from tools.ops.limits import LimitControl
from tools.ops.posture import PostureControl
from tools.ops.trading import ResetRequiredError, TradingControl
from tools.registry.catalog import (
    BotResume,
    BotStop,
    CancelOrders,
    PostureOverride,
    ReasonOnly,
    Rebalance,
    SetLimit,
    TradingScope,
)
from tools.registry.spec import Caller, ToolError, ToolResult


def _scope(scope: str) -> str:
    return ACCOUNT_SCOPE if scope.lower() == ACCOUNT_SCOPE else scope.upper()


class ControlTools:
    def __init__(
        self,
        store: DurableStore,
        bots: BotControl,
        trading: TradingControl,
        posture: PostureControl,
        limits: LimitControl,
        rebalance: RebalanceConfig,
    ) -> None:
        self._store, self._bots, self._trading, self._posture = store, bots, trading, posture
        self._limits, self._rebalance = limits, rebalance

    async def stop_bot(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, BotStop)
        try:
            bot = await self._bots.stop(args.bot_id, actor=caller.actor, reason=args.reason, until=args.until)
        except UnknownBotError as exc:
            raise ToolError(str(exc)) from None
        until = f" until {args.until.isoformat()}" if args.until else ""
        return ToolResult(f"bot {bot.bot_id} stopped{until}", {"bot": bot.model_dump(mode="json")},
                          (f"bot:{bot.bot_id}", "audit:bot_stopped"))  # fmt: skip

    async def resume_bot(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, BotResume)
        try:
            bot = await self._bots.resume(args.bot_id, actor=caller.actor, reason=args.reason)
        except UnknownBotError as exc:
            raise ToolError(str(exc)) from None
        return ToolResult(f"bot {bot.bot_id} resumed", {"bot": bot.model_dump(mode="json")},
                          (f"bot:{bot.bot_id}", "audit:bot_resumed"))  # fmt: skip

    async def halt(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, TradingScope)
        report = await self._trading.halt(reason=args.reason, actor=caller.actor, scope=_scope(args.scope))
        orders = [o.model_dump(mode="json") for o in report.cancelled]
        summary = f"trading halted ({_scope(args.scope)}), {len(orders)} open orders cancelled"
        cites = (f"trading_state:{_scope(args.scope)}", *(f"order:{o.order_id}" for o in report.cancelled))
        return ToolResult(summary, {"scope": _scope(args.scope), "orders": orders}, cites)

    async def resume_trading(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, TradingScope)
        try:
            status = await self._trading.resume(reason=args.reason, actor=caller.actor, scope=_scope(args.scope))
        except ResetRequiredError as exc:
            raise ToolError(str(exc)) from None
        return ToolResult(f"trading {status.state} ({_scope(args.scope)})", {"state": str(status.state)},
                          (f"trading_state:{_scope(args.scope)}",))  # fmt: skip

    async def cancel_orders(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, CancelOrders)
        symbol = args.symbol.upper() if args.symbol else None
        cancelled = await self._trading.cancel_open_orders(reason=args.reason, actor=caller.actor, symbol=symbol)
        summary = f"{len(cancelled)} open orders cancelled" + (f" for {symbol}" if symbol else "")
        return ToolResult(summary, {"orders": [o.model_dump(mode="json") for o in cancelled]},
                          tuple(f"order:{o.order_id}" for o in cancelled) or ("orders:none-open",))  # fmt: skip

    async def override_posture(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, PostureOverride)
        try:
            now = await self._posture.override(Posture(args.posture), reason=args.reason, actor=caller.actor,
                                               until=args.until)  # fmt: skip
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        return ToolResult(f"posture {now.posture} ({now.source}): {now.reason}", now.model_dump(mode="json"),
                          ("posture:override", "audit:posture_override"))  # fmt: skip

    async def posture_access(self, args: BaseModel) -> Access:
        """A less defensive posture than the one in force loosens: it needs admin (the control's rule)."""
        assert isinstance(args, PostureOverride)
        return await self._posture.required_role(Posture(args.posture))

    async def clear_access(self, args: BaseModel) -> Access:
        """Clearing an override that leaves a less defensive posture in force loosens: it needs admin."""
        return await self._posture.required_role(None)

    async def clear_posture(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, ReasonOnly)
        try:
            now = await self._posture.clear(reason=args.reason, actor=caller.actor)
        except LookupError as exc:
            raise ToolError(str(exc)) from None
        return ToolResult(f"posture override cleared: {now.posture} ({now.source})", now.model_dump(mode="json"),
                          ("posture:override", "audit:posture_cleared"))  # fmt: skip

    async def rebalance(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, Rebalance)
        try:
            applied = await apply_profile_allocation(self._store, self._bots, self._rebalance, args.profile,
                                                     actor=caller.actor, reason=args.reason)  # fmt: skip
        except NoAllocationError as exc:
            raise ToolError(str(exc)) from None
        before, after = applied.before, applied.after
        data = {"profile": args.profile, "before": before, "after": after,
                "reasons": {bot: applied.why for bot in after},
                "stopped_kept": list(applied.proposal.stopped)}  # fmt: skip
        shares = ", ".join(f"{bot} {before.get(bot, 0):.1f} % -> {share:.1f} %" for bot, share in after.items())
        return ToolResult(f"allocation applied ({args.profile}): {shares}", data,
                          (*(f"bot_days:{bot}" for bot in after), "audit:allocations"))  # fmt: skip

    async def set_limit(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, SetLimit)
        try:
            change = await self._limits.set(args.name, args.value, actor=caller.actor, reason=args.reason,
                                            role=caller.role)  # fmt: skip
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        moved = "unchanged" if change.before == change.after else f"{change.before:g} % -> {change.after:g} %"
        return ToolResult(f"risk limit {args.name}: {moved}", change.model_dump(mode="json"),
                          (f"risk_limit:{args.name}", "audit:risk_limit_changed"))  # fmt: skip

    async def limit_access(self, args: BaseModel) -> Access:
        """Loosening a limit needs admin, tightening trade (against the limits in force now)."""
        assert isinstance(args, SetLimit)
        return await self._limits.required_role(args.name, args.value)
