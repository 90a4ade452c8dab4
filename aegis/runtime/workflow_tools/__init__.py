"""The workflow's tool registry, bound to the same code as the CLI and the flows (`tools.registry` holds the
specs: names, input schemas, roles, what each changes)."""

from __future__ import annotations

from pathlib import Path

from aegis.runtime.workflow_tools.analysis import EVAL_SETS, AnalysisTools
from aegis.runtime.workflow_tools.controls import ControlTools
from aegis.runtime.workflow_tools.records import RecordTools
from aegis.settings import Settings
from state.store.base import DurableStore
from tools.broker.paper import PaperBroker
from tools.ops.bots import BotControl
from tools.ops.limits import LimitControl
from tools.ops.posture import PostureControl
from tools.ops.trading import TradingControl
from tools.registry.catalog import SPECS_BY_NAME
from tools.registry.spec import AccessRule, Handler, Tool, ToolRegistry


def build_tool_registry(
    settings: Settings,
    store: DurableStore,
    broker: PaperBroker,
    bots: BotControl,
    trading: TradingControl,
    posture: PostureControl,
    limits: LimitControl,
    eval_sets: Path = EVAL_SETS,
) -> tuple[ToolRegistry, AnalysisTools]:
    records = RecordTools(store, broker, settings.starting_cash)
    analysis = AnalysisTools(store, bots, settings, eval_sets)
    controls = ControlTools(store, bots, trading, posture, limits, settings.rebalance)
    handlers: dict[str, tuple[Handler, AccessRule | None]] = {
        "decisions.query": (records.query_decisions, None),
        "decisions.explain": (records.explain_decision, None),
        "positions.show": (records.show_positions, None),
        "pnl.show": (records.show_pnl, None),
        "alerts.list": (records.list_alerts, None),
        "portfolio.analyse": (analysis.analyse, None),
        "portfolio.propose": (analysis.propose, None),
        "backtest.run": (analysis.backtest, None),
        "eval.run": (analysis.run_eval, None),
        "portfolio.rebalance": (controls.rebalance, None),
        "bot.stop": (controls.stop_bot, None),
        "bot.resume": (controls.resume_bot, None),
        "trading.halt": (controls.halt, None),
        "trading.resume": (controls.resume_trading, None),
        "orders.cancel": (controls.cancel_orders, None),
        "posture.override": (controls.override_posture, controls.posture_access),
        "posture.clear": (controls.clear_posture, controls.clear_access),
        "limits.set": (controls.set_limit, controls.limit_access),
    }
    unbound = set(SPECS_BY_NAME) - set(handlers)
    if unbound:
        raise ValueError(f"registry tools without a handler: {sorted(unbound)}")
    tools = [Tool(SPECS_BY_NAME[name], handler, rule) for name, (handler, rule) in handlers.items()]
    return ToolRegistry(tools), analysis
