"""The live clients a deliberation graph works with. Built in code (by `aegis` or a test), closed over by
the graph's nodes, never put into checkpointed state."""

from __future__ import annotations

from dataclasses import dataclass

from agents.llm.ledger import CostLedger
from agents.llm.registry import ProviderRegistry
from graphs.deliberation.config import DeliberationConfig
from graphs.deliberation.ordering import UNORDERED, SessionOrdering
from state.clock import Clock
from state.context_loader import ContextLoader
from state.store.base import DurableStore
from state.tiered_hot import TieredHot
from tools.broker.base import Broker
from tools.ops.approvals import ApprovalControl


@dataclass(frozen=True, slots=True)
class Services:
    clock: Clock
    store: DurableStore
    hot: TieredHot
    broker: Broker
    providers: ProviderRegistry
    loader: ContextLoader
    config: DeliberationConfig
    ledger: CostLedger
    starting_cash: float  # the paper account's cash before its first saved balance
    ordering: SessionOrdering = UNORDERED  # when sessions may write; replays order them in waves
    approvals: ApprovalControl | None = None  # where orders the approval policy parks wait (None: none may wait)
