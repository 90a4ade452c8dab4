"""The operations the workflow may plan with: each one's input schema, the role it needs, what it changes.

The names are the operator's vocabulary (`decisions.explain`, `bot.stop`); the input models are strict
(unknown fields refused), so a plan's step either validates here or Lubit sends it back. The handlers are
bound by `aegis` (`aegis.runtime.workflow_tools`): the same code as the CLI and the flows.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from state.access import Access
from tools.registry.spec import Change, ToolSpec

Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_/:]*$")]
BotId = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=3, max_length=500, description="Why: recorded in the audit log")]
Profile = Literal["conservative", "moderate", "aggressive"]
Outcome = Literal[
    "rejected", "screened_out", "hold", "vetoed", "blocked", "ordered", "execution_failed", "applied", "skipped",
    "awaiting_approval", "answered",
]  # fmt: skip
# The risk limits an operator may change (`quant.risk_guard.RiskLimits`), in percent.
LimitName = Literal["daily_loss_limit_pct", "max_concentration_pct", "max_gross_exposure_pct", "price_band_pct"]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NoArgs(_Args):
    pass


class DecisionQuery(_Args):
    symbol: Symbol | None = None
    outcome: Outcome | None = None
    day: date | None = Field(None, description="Decisions of this trading day")
    limit: int = Field(20, ge=1, le=200)


class ExplainDecision(_Args):
    """One decision: by its event id, or by symbol and day (and outcome, e.g. vetoed)."""

    event_id: str | None = None
    symbol: Symbol | None = None
    day: date | None = None
    outcome: Outcome | None = None

    @model_validator(mode="after")
    def _names_one(self) -> ExplainDecision:
        if self.event_id is None and (self.symbol is None or self.day is None):
            raise ValueError("name the decision: event_id, or symbol and day")
        return self


class PositionQuery(_Args):
    symbol: Symbol | None = None
    bot_id: BotId | None = None


class AlertQuery(_Args):
    unacknowledged_only: bool = False
    limit: int = Field(20, ge=1, le=200)


class ProfileArgs(_Args):
    profile: Profile = "moderate"


class Rebalance(_Args):
    profile: Profile
    reason: Reason


class BacktestArgs(_Args):
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    symbol: Symbol
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> BacktestArgs:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


class EvalArgs(_Args):
    set_name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class BotStop(_Args):
    bot_id: BotId
    until: AwareDatetime | None = Field(None, description="Resume by itself at this time")
    reason: Reason


class BotResume(_Args):
    bot_id: BotId
    reason: Reason


class TradingScope(_Args):
    scope: Annotated[str, Field(min_length=1, max_length=32)] = Field("account", description="account or a symbol")
    reason: Reason


class CancelOrders(_Args):
    symbol: Symbol | None = None
    reason: Reason


class PostureOverride(_Args):
    posture: Literal["offensive", "guerrilla", "defensive"]
    until: AwareDatetime | None = None
    reason: Reason


class ReasonOnly(_Args):
    reason: Reason


class SetLimit(_Args):
    name: LimitName
    value: Annotated[float, Field(gt=0, le=100)]
    reason: Reason


READ = Access.READ
SPECS: tuple[ToolSpec, ...] = (
    ToolSpec("decisions.query", "List recorded decisions, filtered by symbol, outcome and day", DecisionQuery, READ),
    ToolSpec("decisions.explain", "Explain one decision from its record: stages, vetoes, guard changes, order",
             ExplainDecision, READ),
    ToolSpec("positions.show", "The open positions (per bot), with marks and unrealised P&L", PositionQuery, READ),
    ToolSpec("pnl.show", "The account's equity, cash, realised and unrealised P&L, per bot", NoArgs, READ),
    ToolSpec("alerts.list", "Recent alerts (optionally only the unacknowledged)", AlertQuery, READ),
    ToolSpec("portfolio.analyse", "The bots as a portfolio: scorecards, correlation, risk contributions",
             NoArgs, READ),
    ToolSpec("portfolio.propose", "The allocation a risk profile would give the bots, with its improvement",
             ProfileArgs, READ),
    ToolSpec("backtest.run", "Backtest a strategy on one bundled symbol over a date range", BacktestArgs, READ),
    ToolSpec("eval.run", "Replay a recorded eval set with the rules baseline and score it", EvalArgs, READ),
    ToolSpec("portfolio.rebalance", "Apply a risk profile's allocation to the running bots", Rebalance,
             Access.TRADE, Change.ALLOCATION),
    ToolSpec("bot.stop", "Stop a bot (optionally until a time); its positions keep their brackets", BotStop,
             Access.TRADE, Change.MODE),
    ToolSpec("bot.resume", "Resume a stopped bot", BotResume, Access.TRADE, Change.MODE),
    ToolSpec("trading.halt", "Halt trading (the account or one symbol) and cancel its open orders", TradingScope,
             Access.TRADE, Change.MODE),
    ToolSpec("trading.resume", "Resume trading after a halt", TradingScope, Access.ADMIN, Change.MODE),
    ToolSpec("orders.cancel", "Cancel the open orders (all, or one symbol's)", CancelOrders, Access.TRADE,
             Change.TRADES),
    ToolSpec("posture.override", "Override the posture (a less defensive one needs admin)", PostureOverride,
             Access.TRADE, Change.MODE),
    ToolSpec("posture.clear", "Clear the posture override: the evaluated posture applies again", ReasonOnly,
             Access.TRADE, Change.MODE),
    ToolSpec("limits.set", "Change a risk limit (tightening needs trade, loosening admin)", SetLimit,
             Access.TRADE, Change.LIMIT),
)  # fmt: skip
SPECS_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in SPECS}


def spec(name: str) -> ToolSpec:
    return SPECS_BY_NAME[name]
