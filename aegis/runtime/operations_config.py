"""The daily operations' settings (`Settings.operations`), apart from the job so the settings can import it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OperationsConfig(BaseModel):
    """The daily operations (`Settings.operations`), AEGIS v3.1 section 7."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Run the daily checks and write the daily reports")
    latency_every_s: float = Field(600.0, gt=0, description="How often the sessions' latency is checked")
    pnl_every_s: float = Field(1800.0, gt=0, description="How often the day's P&L is checked")
    success_every_s: float = Field(3600.0, gt=0, description="How often the success rate is computed")
    session_sla_ms: float = Field(4000.0, gt=0, description="Full cycle (AEGIS v3.1 section 5.1: under 4 s)")
    min_success_rate: float = Field(0.9, ge=0, le=1, description="Sessions that did not fail, at least")
    chart_every_s: float = Field(
        60.0,
        ge=0,
        description="Draw the equity chart at most this often in wall-clock seconds, and on the feed's last day "
        "(a live day gets its chart; a replay of years, one a minute; 0: every day)",
    )
