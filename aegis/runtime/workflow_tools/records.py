"""The workflow's read-only tools over the records: decisions, one decision explained, positions, P&L, alerts.

Each answer cites the records it rests on (`decision:<event id>`, `order:<id>`, `fill:<id>`, `alert:<id>`,
`position:<symbol>`, `cash@<time>`), so RUNE can check that every claim of a result has its record.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from aegis.runtime.bot_report import bot_rows
from aegis.runtime.trace import trace_chain
from state.decisions import DecisionRecord
from state.store.base import DurableStore
from tools.broker.paper import PaperBroker
from tools.registry.catalog import AlertQuery, DecisionQuery, ExplainDecision, PositionQuery
from tools.registry.spec import Caller, ToolError, ToolResult


def _cite(decision: DecisionRecord) -> str:
    return f"decision:{decision.event_id}"


def _line(decision: DecisionRecord) -> dict[str, Any]:
    return {
        "event_id": decision.event_id,
        "type": decision.event_type,
        "symbol": decision.symbol,
        "bot_id": decision.bot_id,
        "outcome": str(decision.outcome),
        "reason": decision.reason,
        "decided_at": decision.decided_at.isoformat(),
    }


class RecordTools:
    def __init__(self, store: DurableStore, broker: PaperBroker, starting_cash: float) -> None:
        self._store, self._broker, self._start = store, broker, starting_cash

    async def _matching(self, query: DecisionQuery | ExplainDecision) -> list[DecisionRecord]:
        found = []
        for decision in await self._store.decisions():
            event_day = decision.decided_at.date()  # the session's clock: the event's time in a replay
            if query.symbol is not None and (decision.symbol or "").upper() != query.symbol.upper():
                continue
            if query.outcome is not None and str(decision.outcome) != query.outcome:
                continue
            if query.day is not None and event_day != query.day:
                continue
            found.append(decision)
        return found

    async def query_decisions(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, DecisionQuery)
        found = await self._matching(args)
        shown = found[-args.limit :]
        outcomes: dict[str, int] = {}
        for decision in found:
            outcomes[str(decision.outcome)] = outcomes.get(str(decision.outcome), 0) + 1
        tally = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "none"
        summary = f"{len(found)} decisions match ({tally}); the last {len(shown)} shown"
        return ToolResult(summary, {"decisions": [_line(d) for d in shown], "outcomes": outcomes},
                          tuple(_cite(d) for d in shown) or ("decisions:none-matching",))  # fmt: skip

    async def explain_decision(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, ExplainDecision)
        if args.event_id is not None:
            one = await self._store.get_decision(args.event_id)
            if one is None:
                raise ToolError(f"no decision for event {args.event_id}")
            found = [one]
        else:
            found = await self._matching(args)
            if not found:
                what = " ".join(filter(None, (args.symbol, args.outcome, str(args.day))))
                raise ToolError(f"no decision matches {what}")
        decision = found[-1]
        trace = await trace_chain(self._store, decision.event_id)
        stages = [
            {"stage": s.stage, "status": str(s.status), "provider": s.provider, "model": s.model,
             "reason": s.reason, "parsed": s.parsed}
            for s in decision.stages
        ]  # fmt: skip
        data = {
            **_line(decision),
            "posture": decision.posture,
            "analysis": decision.analysis,
            "verdict": decision.verdict,
            "command": decision.command,
            "guard_changes": [c.model_dump(mode="json") for c in decision.guard_changes],
            "order": decision.order.model_dump(mode="json") if decision.order else None,
            "stages": stages,
            "chain": [step.id for step in trace.steps],
            "matching": len(found),
        }
        more = f" ({len(found)} match; the last shown)" if len(found) > 1 else ""
        summary = f"{decision.event_id} {decision.symbol or ''} {decision.outcome}: {decision.reason}{more}"
        cites = (_cite(decision), *(f"chain:{step.id}" for step in trace.steps))
        return ToolResult(summary, data, cites)

    async def show_positions(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, PositionQuery)
        marks = await self._store.marks()
        positions = [
            p for p in await self._store.positions()
            if (args.symbol is None or p.symbol.upper() == args.symbol.upper())
            and (args.bot_id is None or p.bot_id == args.bot_id)
        ]  # fmt: skip
        rows: list[dict[str, Any]] = []
        for p in positions:
            mark = marks.get(p.symbol)
            price = mark[0] if mark else p.avg_price
            rows.append({"symbol": p.symbol, "bot_id": p.bot_id, "quantity": p.quantity, "avg_price": p.avg_price,
                         "mark": price, "unrealised": round((price - p.avg_price) * p.quantity, 2),
                         "stop_loss": p.stop_loss_price, "take_profit": p.take_profit_price,
                         "opened_by_event": p.opened_by_event})  # fmt: skip
        value = sum(float(r["mark"]) * float(r["quantity"]) for r in rows)
        summary = f"{len(rows)} open positions, market value {value:,.2f}" + (
            ": " + ", ".join(f"{r['symbol']} {r['quantity']:g} @ {r['avg_price']:.2f}" for r in rows) if rows else ""
        )
        cites = tuple(f"position:{p.symbol}:{p.opened_by_event}" for p in positions) or ("positions:none-open",)
        return ToolResult(summary, {"positions": rows, "market_value": round(value, 2)}, cites)

    async def show_pnl(self, args: BaseModel, caller: Caller) -> ToolResult:
        cash, equity = self._broker.cash(), self._broker.equity()
        start = self._start
        rows = await bot_rows(self._store)
        bots = [{"bot_id": r.bot_id, "pnl": round(r.pnl, 2), "allocation": r.allocation, "state": r.state}
                for r in rows]  # fmt: skip
        fills = await self._store.fills()
        pnl = equity - start
        summary = f"equity {equity:,.2f} (P&L {pnl:+,.2f}, {pnl / start:+.2%}), cash {cash:,.2f}, {len(fills)} fills"
        data = {"equity": round(equity, 2), "cash": round(cash, 2), "starting_cash": start, "pnl": round(pnl, 2),
                "bots": bots, "fills": len(fills)}  # fmt: skip
        cites = ("account:cash", "account:marks", *(f"fill:{f.fill_id}" for f in fills[-20:]))
        return ToolResult(summary, data, cites)

    async def list_alerts(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, AlertQuery)
        alerts = await self._store.alerts(unacknowledged_only=args.unacknowledged_only, limit=args.limit)
        rows = [{"alert_id": a.alert_id, "level": str(a.level), "kind": a.kind, "message": a.message,
                 "raised_at": a.raised_at.isoformat(), "acknowledged": a.acknowledged} for a in alerts]  # fmt: skip
        open_ = sum(1 for a in alerts if not a.acknowledged)
        summary = f"{len(alerts)} alerts ({open_} unacknowledged)"
        return ToolResult(summary, {"alerts": rows}, tuple(f"alert:{a.alert_id}" for a in alerts) or ("alerts:none",))
