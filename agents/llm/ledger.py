"""The LLM cost ledger: what each call, decision and day cost, and the budgets that stop spending.

Before a role is asked, `check` says whether the decision's or the day's budget is spent; if it is, the
role fails closed (no call is made) and an alert is written to the audit log, once per decision and once
per day. Day totals are kept in the durable store (micro-dollars), so a restart does not reset them.
Days are UTC calendar days of the injected clock.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from state.clock import Clock
from state.decisions import Usage
from state.store.base import DurableStore

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class LLMBudgets:
    per_decision_usd: float = 0.50
    per_day_usd: float = 50.0


class CostLedger:
    def __init__(self, budgets: LLMBudgets, store: DurableStore, clock: Clock) -> None:
        self._budgets = budgets
        self._store = store
        self._clock = clock
        self._per_decision: defaultdict[str, float] = defaultdict(float)
        self._day_seen: dict[str, float] = {}  # the day's total as read at a decision's first check
        self._alerted: set[str] = set()
        self._reading: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _day_key(self) -> str:
        return f"llm_cost_micros:{self._clock.now().date().isoformat()}"

    async def day_cost(self) -> float:
        return await self._store.get_counter(self._day_key()) / MICROS

    def decision_cost(self, event_id: str) -> float:
        return self._per_decision.get(event_id, 0.0)

    async def check(self, event_id: str) -> str | None:
        """Why no more LLM calls may be made for this decision, or None if they may."""
        spent = self.decision_cost(event_id)
        if spent >= self._budgets.per_decision_usd:
            reason = f"per-decision LLM budget spent: ${spent:.4f} of ${self._budgets.per_decision_usd:.4f}"
            await self._alert(f"decision:{event_id}", reason, event_id)
            return reason
        async with self._reading[event_id]:  # one read of the shared day total per decision, even when
            if event_id not in self._day_seen:  # the analyst and the validator ask at once
                self._day_seen[event_id] = await self.day_cost()
        day = self._day_seen[event_id] + spent
        if day >= self._budgets.per_day_usd:
            reason = f"daily LLM budget spent: ${day:.4f} of ${self._budgets.per_day_usd:.4f}"
            await self._alert(self._day_key(), reason, event_id)
            return reason
        return None

    async def charge(self, event_id: str, usage: Usage) -> None:
        if usage.cost_usd <= 0:
            return
        self._per_decision[event_id] += usage.cost_usd
        key = self._day_key()
        total = await self._store.get_counter(key) + round(usage.cost_usd * MICROS)
        await self._store.set_counter(key, total)

    def settle(self, event_id: str) -> float:
        """Forget a finished decision's running total; returns it."""
        self._alerted.discard(f"decision:{event_id}")
        self._day_seen.pop(event_id, None)
        self._reading.pop(event_id, None)
        return self._per_decision.pop(event_id, 0.0)

    async def _alert(self, key: str, reason: str, event_id: str) -> None:
        if key in self._alerted:
            return
        self._alerted.add(key)
        await self._store.audit("cost_ledger", "alert:llm_budget_exceeded", {"reason": reason, "event_id": event_id},
                                self._clock.now())  # fmt: skip
