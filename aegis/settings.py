"""One `Settings` for the whole system (pydantic-settings).

Layers, later wins: defaults < the profile named by `AEGIS_ENV` (dev, test, staging, prod: YAML files shipped
in `aegis/profiles/`) < YAML files (`config/*.yaml` in the working directory, or the files named by
`AEGIS_CONFIG`, comma-separated) < environment variables `AEGIS_*` (nested with `__`, e.g.
`AEGIS_DELIBERATION__VALIDATION_MODE=sequential`) < explicit arguments. The defaults are the embedded
ones: no API key and no server needed; without `AEGIS_ENV` no profile applies.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from aegis.profiles import PROFILE_ENV, profile_file
from aegis.runtime.anomaly_watch import AnomalyWatchConfig
from aegis.runtime.data_import_config import DataImportConfig
from aegis.runtime.health_config import HealthConfig
from aegis.runtime.live_gate_config import LiveGateConfig
from aegis.runtime.logs import LogConfig
from aegis.runtime.monitor import ProtectionConfig
from aegis.runtime.operations_config import OperationsConfig
from aegis.runtime.posture_watch import PostureConfig
from aegis.runtime.tape import ReplayTimeConfig
from aegis.server.config import ServerConfig
from agents.llm.config import LLMConfig
from graphs.deliberation.config import DeliberationConfig
from graphs.workflow.config import WorkflowConfig
from state.context import OperatingMode
from tools.broker.paper import CostModel
from tools.feeds.config import FeedsConfig
from tools.notify import NotifyConfig
from tools.ops.allocation import RebalanceConfig
from tools.ops.breaker import BreakerConfig
from tools.ops.releases import ReleaseConfig


def _yaml_files() -> list[Path]:
    named = os.environ.get("AEGIS_CONFIG")
    if named:
        files = [Path(p.strip()) for p in named.split(",") if p.strip()]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"AEGIS_CONFIG names files that do not exist: {', '.join(missing)}")
        return files
    return sorted(Path("config").glob("*.yaml")) if Path("config").is_dir() else []


def _profile_name(init_settings: PydanticBaseSettingsSource) -> str | None:
    """The profile asked for: an explicit `Settings(env=...)`, else `AEGIS_ENV` (empty means none)."""
    explicit = init_settings.init_kwargs.get("env") if isinstance(init_settings, InitSettingsSource) else None
    return str(explicit) if explicit else (os.environ.get(PROFILE_ENV) or None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AEGIS_", env_nested_delimiter="__", extra="forbid")

    env: Literal["dev", "test", "staging", "prod"] | None = Field(
        None, description="The profile in force (AEGIS_ENV): its file in aegis/profiles/ is a layer under config/"
    )
    services_required: bool = Field(
        False, description="Refuse to start without postgres_url and redis_url (the staging and prod profiles)"
    )
    data_dir: Path = Field(Path("data"), description="Where the embedded stores keep their files")
    mode: OperatingMode = Field(
        OperatingMode.PAPER,
        description="paper or live: where orders go (what may go is the trading state: aegis halt|resume)",
    )
    starting_cash: float = Field(100_000.0, gt=0, description="Paper account's starting cash")
    costs: CostModel = Field(default_factory=CostModel, description="Paper broker fees and slippage")
    deliberation: DeliberationConfig = Field(default_factory=DeliberationConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    workflow: WorkflowConfig = Field(
        default_factory=WorkflowConfig, description="The operator workflow: Sena, Lubit, GitCode, RUNE"
    )
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="Alert channels, contacts, routing")
    protection: ProtectionConfig = Field(default_factory=ProtectionConfig, description="Failure tiers' thresholds")
    posture: PostureConfig = Field(
        default_factory=PostureConfig, description="The automatic posture evaluation: how often, on what"
    )
    rebalance: RebalanceConfig = Field(default_factory=RebalanceConfig, description="Allocation across bots")
    breaker: BreakerConfig = Field(default_factory=BreakerConfig, description="The bots' daily-loss circuit breaker")
    releases: ReleaseConfig = Field(default_factory=ReleaseConfig, description="How economic releases are answered")
    operations: OperationsConfig = Field(
        default_factory=OperationsConfig, description="The daily checks and reports (AEGIS v3.1 section 7)"
    )
    anomalies: AnomalyWatchConfig = Field(
        default_factory=AnomalyWatchConfig, description="The market and bot anomaly rules run as the feed moves"
    )
    data_import: DataImportConfig = Field(
        default_factory=DataImportConfig, description="`aegis data import`: what makes a user's file irregular, flagged"
    )
    replay: ReplayTimeConfig = Field(
        default_factory=ReplayTimeConfig, description="What a replayed tape must respect in time: gaps, order"
    )
    server: ServerConfig = Field(
        default_factory=ServerConfig, description="`aegis serve`: address, CORS, body limit, rate limits, JWT"
    )
    health: HealthConfig = Field(
        default_factory=HealthConfig,
        description="The health monitor: every 30 s, its thresholds, the worker's memory limit (2 GB)",
    )
    feeds: FeedsConfig = Field(
        default_factory=FeedsConfig,
        description="Live feeds: reconnects (10), backoff, heartbeat and silence, gaps, news polling, calendar",
    )
    live_gate: LiveGateConfig = Field(
        default_factory=LiveGateConfig,
        description="What a paper record must show before mode live may start (aegis live check / enable)",
    )
    log: LogConfig = Field(
        default_factory=LogConfig, description="The log: format (auto, json, console), level, rotated file"
    )
    hot_window_bars: int = Field(120, ge=60, description="Bars kept per symbol in the hot store")
    checkpoints: bool = Field(True, description="Keep LangGraph checkpoints (PostgreSQL if configured, else SQLite)")
    session_timeout_s: float = Field(180.0, gt=0, description="A session running longer fails; its event is retried")
    incremental_save_s: float = Field(10.0, gt=0, description="How often a running session's progress is saved")
    checkpoint_durability: Literal["exit", "async", "sync"] = Field(
        "exit", description="exit: one checkpoint per session (fast); async/sync: one per step (resumable mid-run)"
    )
    postgres_url: str | None = Field(None, description="PostgreSQL for records and checkpoints (AEGIS_POSTGRES_URL)")
    postgres_pool_size: int = Field(
        8,
        ge=1,
        le=100,
        description="Connections of the records store's pool per process (AEGIS_POSTGRES_POOL_SIZE); the checkpoints"
        " have a pool of their own",
    )
    redis_url: str | None = Field(None, description="Redis for the hot context (AEGIS_REDIS_URL)")
    redis_prefix: str = Field("aegis", min_length=1, description="Namespace of this deployment's Redis keys")
    bus_claim_idle_ms: int = Field(
        200_000, ge=0, description="A pending event idle this long is claimed by another worker"
    )
    bus_max_deliveries: int = Field(5, ge=1, description="Deliveries before an event goes to the dead-letter stream")

    @field_validator("env", mode="before")
    @classmethod
    def _empty_env_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("postgres_url", "redis_url")
    @classmethod
    def _service_when_required(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("services_required"):
            # "missing": reported as "setting AEGIS_POSTGRES_URL: is required" by the CLI
            raise PydanticCustomError("missing", "required by services_required (the staging and prod profiles)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_sources: list[Any] = [YamlConfigSettingsSource(settings_cls, yaml_file=f) for f in reversed(_yaml_files())]
        profile = _profile_name(init_settings)
        if profile is not None:
            yaml_sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=profile_file(profile)))
        return (init_settings, env_settings, *yaml_sources)
