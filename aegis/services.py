"""Assembling the running system from settings: stores, broker, providers, checkpointer and graph.

This is the single place that knows which implementation backs each protocol; everything else receives
them. Embedded defaults (SQLite, in-process hot store, SQLite checkpoints) unless `postgres_url` /
`redis_url` are set: then PostgreSQL keeps the records and the checkpoints, Redis the hot context, and
every hot write is mirrored to PostgreSQL so sessions can fall back to it when Redis fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from aegis.runtime.alerting import Alerting
from aegis.runtime.live_gate import require_live_gate
from aegis.runtime.monitor import RiskMonitor
from aegis.runtime.posture_watch import PostureWatch
from aegis.runtime.workflow_setup import Vocabulary, integrity_scan
from aegis.runtime.workflow_tools import build_tool_registry
from aegis.settings import Settings
from agents.llm.client import LLMClient
from agents.llm.factory import build_clients
from agents.llm.ledger import CostLedger
from agents.llm.observed import ProviderObserver
from agents.llm.registry import ProviderRegistry
from graphs.deliberation.services import Services
from graphs.deliberation.state import checkpoint_types
from graphs.operations import OpsServices
from graphs.router import Router, build_router
from graphs.workflow.services import WorkflowServices
from state.checkpoints import (
    close_checkpointer,
    close_postgres_checkpointer,
    open_postgres_checkpointer,
    open_sqlite_checkpointer,
)
from state.clock import Clock, WallClock
from state.context import OperatingMode
from state.context_loader import ContextLoader, ContextPolicy
from state.hot import HotStore, InMemoryHotStore
from state.redis_hot import RedisHotStore
from state.rules import default_rules
from state.store.base import DurableStore
from state.store.factory import open_store
from state.tiered_hot import TieredHot
from tools.broker.paper import PaperBroker
from tools.ops.approvals import ApprovalControl
from tools.ops.bots import BotControl
from tools.ops.limits import LimitControl
from tools.ops.posture import PostureControl
from tools.ops.rules import RuleControl
from tools.ops.trading import TradingControl

RECORDS_FILE = "records.sqlite"
CHECKPOINTS_FILE = "checkpoints.sqlite"

Closer = Callable[[], Awaitable[None]]


@dataclass
class Stack:
    settings: Settings
    services: Services
    graph: CompiledStateGraph[Any, Any, Any, Any]  # the deliberation (also `router.deliberation`)
    router: Router  # every flow's graph, by event type
    ops: OpsServices
    broker: PaperBroker
    store: DurableStore
    trading: TradingControl
    alerting: Alerting
    monitor: RiskMonitor
    posture: PostureControl
    approvals: ApprovalControl
    limits: LimitControl
    closers: list[Closer] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.closers.clear()


def provider_registry(
    settings: Settings, extra: Mapping[str, LLMClient] | None, observer: ProviderObserver | None = None
) -> ProviderRegistry:
    clients = build_clients(settings.llm)
    clients.update(extra or {})
    return ProviderRegistry(clients, observer)


async def _hot_store(settings: Settings, clock: Clock, closers: list[Closer]) -> HotStore:
    if not settings.redis_url:
        return InMemoryHotStore(clock, window=settings.hot_window_bars)
    redis_hot = RedisHotStore.from_url(
        settings.redis_url, window=settings.hot_window_bars, prefix=f"{settings.redis_prefix}:hot"
    )
    closers.append(redis_hot.close)
    return redis_hot


async def _checkpointer(settings: Settings, closers: list[Closer]) -> Checkpointer:
    if not settings.checkpoints:
        return None
    return await _open_checkpointer(settings, closers)


async def _workflow_checkpointer(
    settings: Settings, shared: Checkpointer, closers: list[Closer], served: bool
) -> Checkpointer:
    """Approvals wait at the workflow's interrupt, so its threads are always kept durably: in the flows'
    checkpointer when they have one, else in one of its own (the same file or database); not under a LangGraph
    server, which brings its own."""
    if shared is not None or served:
        return shared
    return await _open_checkpointer(settings, closers)


async def _open_checkpointer(settings: Settings, closers: list[Closer]) -> Checkpointer:
    if settings.postgres_url:
        postgres = await open_postgres_checkpointer(settings.postgres_url, checkpoint_types())
        closers.append(lambda: close_postgres_checkpointer(postgres))
        return postgres
    sqlite = await open_sqlite_checkpointer(settings.data_dir / CHECKPOINTS_FILE, checkpoint_types())
    closers.append(lambda: close_checkpointer(sqlite))
    return sqlite


async def open_stack(
    settings: Settings,
    *,
    clock: Clock | None = None,
    extra_providers: Mapping[str, LLMClient] | None = None,
    served: bool = False,
) -> Stack:
    """The running system. `served`: a LangGraph server (Studio) brings the checkpointer of every graph."""
    clock = clock or WallClock()
    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    closers: list[Closer] = []
    try:
        store = await open_store(
            settings.postgres_url, settings.data_dir / RECORDS_FILE, clock, pool_size=settings.postgres_pool_size
        )
        closers.append(store.close)
        if settings.mode is OperatingMode.LIVE:
            await require_live_gate(store)  # mode live starts only after the paper-to-live gate was approved
        broker = PaperBroker(store, settings.costs, starting_cash=settings.starting_cash)
        await broker.load()
        mirror = store if settings.redis_url else None
        hot = TieredHot(await _hot_store(settings, clock, closers), clock, mirror, settings.hot_window_bars)
        trading = TradingControl(store, hot, broker, clock)
        await trading.publish()  # the durable trading state survives restarts; the hot copy learns it here
        alerting = Alerting(store, clock, settings.notify)
        closers.append(alerting.drain)
        posture = PostureControl(store, hot, clock, alerting.raise_alert, settings.deliberation.vix_thresholds)
        await posture.sync()  # the durable posture survives restarts; the hot copy learns it here
        limits = LimitControl(store, hot, clock, settings.deliberation.risk_limits)
        await limits.publish()  # the operator's limits survive restarts; the hot copy learns them here
        monitor = RiskMonitor(
            trading=trading,
            alerting=alerting,
            store=store,
            hot=hot,
            broker=broker,
            clock=clock,
            config=settings.protection,
            snapshot_dir=settings.data_dir / "snapshots",
            max_vix_age_days=settings.deliberation.max_vix_age_days,
        )
        approvals = ApprovalControl(store, clock, alerting.raise_alert, alerting.acknowledge)
        config = settings.deliberation
        policy = ContextPolicy(
            postures=config.postures,
            vix_thresholds=config.vix_thresholds,
            failed_sessions_to_defensive=config.failed_sessions_to_defensive,
            stop_losses_to_defensive=config.stop_losses_to_defensive,
            default_mode=settings.mode,
            starting_cash=settings.starting_cash,
            risk_limits=config.risk_limits,
            max_vix_age_days=config.max_vix_age_days,
        )
        services = Services(
            clock=clock,
            store=store,
            hot=hot,
            broker=broker,
            providers=provider_registry(settings, extra_providers, monitor.observe_provider),
            loader=ContextLoader(hot, store, clock, policy),
            config=config,
            ledger=CostLedger(settings.llm.budgets, store, clock),
            starting_cash=settings.starting_cash,
            approvals=approvals,
        )
        monitor.probe_with(services.providers.probe)
        bots = BotControl(store, hot, clock)
        await bots.publish()  # the durable bots survive restarts; the hot copy learns them here
        rules = RuleControl(store, hot, clock)
        # Records that hold no rule get the default rules, with the settings' thresholds.
        await rules.ensure_defaults(
            default_rules(settings.rebalance.min_sharpe_improvement, settings.breaker.daily_loss_limit_pct)
        )
        await rules.publish()
        ops = OpsServices(
            clock,
            store,
            bots,
            alerting.raise_alert,
            settings.rebalance,
            settings.breaker,
            rules,
            trading,
            monitor,
            settings.releases,
            posture,
            PostureWatch(
                posture,
                hot,
                clock,
                settings.posture,
                settings.deliberation.vix_thresholds,
                max_vix_age_days=settings.deliberation.max_vix_age_days,
            ),
        )
        checkpointer = await _checkpointer(settings, closers)
        registry, analysis = build_tool_registry(settings, store, broker, bots, trading, posture, limits)
        ops = dataclasses.replace(ops, workflow=WorkflowServices(
            registry=registry,
            approvals=approvals,
            config=settings.workflow,
            vocabulary=Vocabulary(store, analysis),
            integrity=integrity_scan(store, clock, settings.deliberation),
            checkpointer=await _workflow_checkpointer(settings, checkpointer, closers, served),
        ))  # fmt: skip
        router = build_router(services, ops, checkpointer)
    except BaseException:
        for close in reversed(closers):
            await close()
        raise
    return Stack(
        settings,
        services,
        router.deliberation,
        router,
        ops,
        broker,
        store,
        trading,
        alerting,
        monitor,
        posture,
        approvals,
        limits,
        closers,
    )
