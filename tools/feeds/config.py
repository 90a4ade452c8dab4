"""Settings of the live feeds (`aegis feed --source websocket|calendar|news`): `Settings.feeds`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FeedsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_reconnects: int = Field(
        10, ge=0, description="Reconnects in a row without data before the websocket feed gives up (orchestrator v2)"
    )
    backoff_base_s: float = Field(1.0, gt=0, description="First reconnect delay; doubles at each attempt")
    backoff_max_s: float = Field(60.0, gt=0, description="Longest reconnect delay")
    backoff_jitter: float = Field(
        0.5, ge=0, le=1, description="Fraction of each delay drawn at random (0: none; 0.5: between 50 % and 100 %)"
    )
    heartbeat_s: float = Field(
        2.0, gt=0, description="A ping after this long without a message (under the feed tier's first 3 s)"
    )
    pong_timeout_s: float = Field(2.0, gt=0, description="No pong within this: the connection is dead")
    data_silence_s: float = Field(
        90.0, gt=0, description="No data for this long (pings answered or not): the stream is stalled; reconnect"
    )
    bar_interval_s: float = Field(
        60.0, gt=0, description="Expected time between two bars of a symbol; a longer step is a gap"
    )
    news_poll_s: float = Field(60.0, gt=0, description="How often the news feeds are polled")
    news_timeout_s: float = Field(10.0, gt=0, description="Time limit of one news feed request")
    news_max_bytes: int = Field(2_000_000, gt=0, description="Largest news feed document read")
    news_headline_max: int = Field(300, ge=1, le=500, description="Characters kept of a news headline")
    news_body_max: int = Field(4000, ge=0, le=20_000, description="Characters kept of a news body")
    news_symbols: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Symbols a news entry concerns when it names them: symbol -> words (e.g. AAPL: [Apple, iPhone]);"
        " the ticker itself always counts. Without a symbol a NEWS event is recorded, not deliberated",
    )
    news_seen_max: int = Field(5000, ge=10, description="Ids and content hashes remembered for deduplication")
    calendar_figures_poll_s: float = Field(
        5.0, gt=0, description="While a release waits for its actual figure, how often the files are re-read"
    )
    calendar_figures_wait_s: float = Field(
        900.0, ge=0, description="How long a release waits for its actual figure before it is recorded as missed"
    )
