"""The REST server's settings (`Settings.server`): where it listens, who may call it and how often."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class RateLimitConfig(BaseModel):
    """A token bucket per caller (an API key, a token's subject, or the address of an unauthenticated call):
    `burst` requests at once, refilled at `per_minute`. Shared through Redis when `redis_url` is set, so every
    server process counts together; in-process otherwise."""

    model_config = ConfigDict(extra="forbid")

    per_minute: float = Field(600.0, gt=0, description="Sustained requests per minute per caller")
    burst: int = Field(60, ge=1, description="Requests a caller may make at once before the rate applies")


class JwtConfig(BaseModel):
    """Bearer tokens from an identity provider: HS256 with a shared secret, or RS256/ES256 checked against
    the provider's JWKS. The role comes from `role_claim` (read, trade or admin), the name from `sub`."""

    model_config = ConfigDict(extra="forbid")

    hs256_secret: SecretStr | None = Field(
        None, description="Shared secret for HS256 tokens (AEGIS_SERVER__JWT__HS256_SECRET)"
    )
    jwks_url: str | None = Field(None, description="The identity provider's JWKS address, for RS256/ES256 tokens")
    audience: str | None = Field(None, description="Required `aud` claim, when set")
    issuer: str | None = Field(None, description="Required `iss` claim, when set")
    role_claim: str = Field("aegis_role", min_length=1, description="The claim that holds the caller's role")
    leeway_s: float = Field(30.0, ge=0, description="Clock skew allowed on exp/nbf")

    @model_validator(mode="after")
    def _one_source(self) -> JwtConfig:
        if self.hs256_secret is not None and len(self.hs256_secret.get_secret_value()) < 32:
            raise ValueError("server.jwt.hs256_secret must be at least 32 characters")
        return self

    @property
    def enabled(self) -> bool:
        return self.hs256_secret is not None or self.jwks_url is not None


class DashboardConfig(BaseModel):
    """The web dashboard (`/`) and its live stream (`/api/stream`)."""

    model_config = ConfigDict(extra="forbid")

    poll_s: float = Field(
        1.5,
        gt=0,
        le=60,
        description="How often the live stream reads the store's newest decisions, alerts,"
        " approvals and states while a browser watches (decisions made here are sent at once)",
    )
    queue_size: int = Field(
        256, ge=8, le=100_000, description="Updates held per browser; a slow one loses its oldest, never blocks"
    )
    heartbeat_s: float = Field(15.0, gt=0, le=300, description="A comment on an idle stream every so often")
    latency_window: int = Field(
        500, ge=10, le=5_000, description="The newest decisions whose stages give the latency percentiles"
    )
    watch_window: int = Field(
        50,
        ge=5,
        le=1_000,
        description="The newest decisions and alerts each poll compares (more than arrive between two polls)",
    )


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Address to bind: loopback unless told otherwise")
    port: int = Field(8400, ge=1, le=65535, description="Port to listen on")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser (none by default)"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted (413 beyond)")
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    jwt: JwtConfig = Field(default_factory=JwtConfig)
    health_monitor: bool = Field(
        True, description="Run the health monitor in the server (every health.interval_s; readiness reads it)"
    )
    metrics_public: bool = Field(
        True, description="Serve /metrics without a key (a scraper on a private network); false: read role"
    )
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    max_running_workflows: int = Field(
        8,
        ge=1,
        description="Workflow requests (POST /api/workflow) running at once in this server; more are refused with"
        " 429 until one ends (each may call the LLM roles)",
    )
    events_inline: bool | None = Field(
        None,
        description="Run a submitted event in the server (true) or publish it to the bus for the workers (false);"
        " default: publish when Redis is configured, else run inline",
    )
