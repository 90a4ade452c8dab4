"""Assembling the running system from settings: stores, broker, providers, checkpointer and graph.

This is the single place that knows which implementation backs each protocol; everything else receives
them. Embedded defaults only for now (SQLite, in-process hot store, paper broker, rules provider).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph.state import CompiledStateGraph

from aegis.settings import Settings
from agents.llm.client import LLMClient
from agents.llm.factory import build_clients
from agents.llm.ledger import CostLedger
from agents.llm.registry import ProviderRegistry
from graphs.deliberation.graph import build_deliberation_graph
from graphs.deliberation.services import Services
from graphs.deliberation.state import checkpoint_types
from state.checkpoints import close_checkpointer, open_sqlite_checkpointer
from state.clock import Clock, WallClock
from state.context_loader import ContextLoader, ContextPolicy
from state.hot import InMemoryHotStore
from state.store.sqlite import SqliteStore
from tools.broker.paper import PaperBroker

RECORDS_FILE = "records.sqlite"
CHECKPOINTS_FILE = "checkpoints.sqlite"


@dataclass
class Stack:
    settings: Settings
    services: Services
    graph: CompiledStateGraph[Any, Any, Any, Any]
    broker: PaperBroker
    store: SqliteStore
    checkpointer: AsyncSqliteSaver | None

    async def close(self) -> None:
        if self.checkpointer is not None:
            await close_checkpointer(self.checkpointer)
        await self.store.close()


def provider_registry(settings: Settings, extra: Mapping[str, LLMClient] | None) -> ProviderRegistry:
    clients = build_clients(settings.llm)
    clients.update(extra or {})
    return ProviderRegistry(clients)


async def open_stack(
    settings: Settings, *, clock: Clock | None = None, extra_providers: Mapping[str, LLMClient] | None = None
) -> Stack:
    clock = clock or WallClock()
    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    store = await SqliteStore(settings.data_dir / RECORDS_FILE, clock=clock).open()
    broker = PaperBroker(store, settings.costs, starting_cash=settings.starting_cash)
    await broker.load()
    hot = InMemoryHotStore(clock, window=settings.hot_window_bars)
    config = settings.deliberation
    policy = ContextPolicy(
        postures=config.postures,
        vix_thresholds=config.vix_thresholds,
        failed_sessions_to_defensive=config.failed_sessions_to_defensive,
        default_mode=settings.mode,
        starting_cash=settings.starting_cash,
    )
    services = Services(
        clock=clock,
        store=store,
        hot=hot,
        broker=broker,
        providers=provider_registry(settings, extra_providers),
        loader=ContextLoader(hot, store, clock, policy),
        config=config,
        ledger=CostLedger(settings.llm.budgets, store, clock),
    )
    checkpointer = None
    if settings.checkpoints:
        checkpointer = await open_sqlite_checkpointer(settings.data_dir / CHECKPOINTS_FILE, checkpoint_types())
    graph = build_deliberation_graph(services, checkpointer)
    return Stack(settings, services, graph, broker, store, checkpointer)
