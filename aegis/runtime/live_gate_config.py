"""The paper-to-live gate's criteria (`live_gate:` in the config): what a paper record must show first.

The source documents set no figure for going live; these defaults are the project's, chosen to be hard to
meet by luck: three months of trading days, a hundred orders, the execution-success target of AEGIS v3.1
section 5 (99.5 %), the 10 % loss bound of the circuit breaker applied to the whole account's drawdown, and a
realised P&L whose 95 % interval (by day blocks) clears the no-edge control's 97.5 % quantile by half a
percent of the starting capital.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LiveGateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_days: int = Field(60, ge=1, description="Trading days the daily checks closed in paper mode")
    min_orders: int = Field(100, ge=1, description="Orders sent to the paper broker")
    min_execution_success: float = Field(
        0.995, gt=0, le=1, description="ordered / (ordered + execution failed + blocked by the guard)"
    )
    max_drawdown: float = Field(
        0.10, gt=0, lt=1, description="Deepest fall of the account's closing equity from its peak (fraction)"
    )
    control_margin: float = Field(
        0.005,
        ge=0,
        description="How far the realised P&L's interval must clear the no-edge control (fraction of starting cash)",
    )
    level: float = Field(0.95, gt=0, lt=1, description="Confidence level of the P&L interval and the control band")
