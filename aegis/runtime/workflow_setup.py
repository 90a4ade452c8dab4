"""Assembling the operator workflow's services: the tool registry bound to this stack's controls, the approvals
desk, the vocabulary Sena plans in, RUNE's market-integrity scan and the workflow's durable checkpointer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aegis.runtime.backtest_job import STRATEGIES
from aegis.runtime.workflow_tools.analysis import AnalysisTools
from state.store.base import DurableStore
from tools.feeds.bundled import load_bundled_daily


class Vocabulary:
    """The names Sena may use in a plan: the symbols with data, the backtest strategies, the eval sets."""

    def __init__(self, store: DurableStore, analysis: AnalysisTools) -> None:
        self._store, self._analysis = store, analysis
        self._bundled: Sequence[str] | None = None

    async def __call__(self) -> dict[str, list[str]]:
        if self._bundled is None:
            self._bundled = tuple((await asyncio.to_thread(load_bundled_daily)).symbols)
        marked = await self._store.marks()
        return {
            "symbols": sorted({*self._bundled, *marked}),
            "strategies": sorted(STRATEGIES),
            "eval_sets": await asyncio.to_thread(self._analysis.eval_sets),
        }


