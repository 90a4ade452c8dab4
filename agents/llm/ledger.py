"""The LLM cost ledger: what each call, decision and day cost, and the budgets that stop spending.

Before a role is asked, `check` says whether the decision's or the day's budget is spent; if it is, the
role fails closed (no call is made) and an alert is written to the audit log, once per decision and once
per day. Day totals are kept in the durable store (micro-dollars), so a restart does not reset them; a
session reads the day's total once, with its context, and adds its own calls to it. Charges are atomic
additions, so workers charging at once all count.
Days are UTC calendar days of the injected clock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from state.clock import Clock
from state.context_loader import MICRO_USD, llm_cost_counter
from state.decisions import Usage
from state.store.base import DurableStore


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
        self._alerted: set[str] = set()

    def _day_key(self) -> str:
        return llm_cost_counter(self._clock.now().date())

    async def day_cost(self) -> float:
        return await self._store.get_counter(self._day_key()) / MICRO_USD

    def decision_cost(self, event_id: str) -> float:
        return self._per_decision.get(event_id, 0.0)

    async def check(self, event_id: str, day_cost_at_start: float) -> str | None:
        """Why no more LLM calls may be made for this decision, or None if they may. `day_cost_at_start` is
        the day's total as the session read it at its start (its context); this decision's own calls are
        added to it."""
        spent = self.decision_cost(event_id)
        if spent >= self._budgets.per_decision_usd:
            reason = f"per-decision LLM budget spent: ${spent:.4f} of ${self._budgets.per_decision_usd:.4f}"
            await self._alert(f"decision:{event_id}", reason, event_id)
            return reason
        day = day_cost_at_start + spent
        if day >= self._budgets.per_day_usd:
            reason = f"daily LLM budget spent: ${day:.4f} of ${self._budgets.per_day_usd:.4f}"
            await self._alert(self._day_key(), reason, event_id)
            return reason
        return None

    async def charge(self, event_id: str, usage: Usage) -> None:
        if usage.cost_usd <= 0:
            return
        self._per_decision[event_id] += usage.cost_usd
        await self._store.add_to_counter(self._day_key(), round(usage.cost_usd * MICRO_USD))

    def settle(self, event_id: str) -> float:
        """Forget a finished decision's running total; returns it."""
        self._alerted.discard(f"decision:{event_id}")
        return self._per_decision.pop(event_id, 0.0)

    async def _alert(self, key: str, reason: str, event_id: str) -> None:
        if key in self._alerted:
            return
        self._alerted.add(key)
        await self._store.audit("cost_ledger", "alert:llm_budget_exceeded", {"reason": reason, "event_id": event_id},
                                self._clock.now())  # fmt: skip
