"""The Prometheus instruments of one process, on a registry of their own (never the global one).

This module owns the names, labels, help texts and buckets of the metrics; what feeds them lives in
`aegis.runtime.metrics.core`. Names follow Prometheus' conventions: `aegis_` prefix, base units (seconds,
US dollars), `_total` on counters (added by the client).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Stage latencies run from a deterministic step's millisecond to a role's 5 s fail threshold and past it.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Instruments:
    registry: CollectorRegistry
    stage_latency: Histogram
    stages: Counter
    events: Counter
    vetoes: Counter
    guard_actions: Counter
    guard_changes: Counter
    orders: Counter
    fills: Counter
    llm_calls: Counter
    llm_latency: Histogram
    llm_tokens: Counter
    llm_cost: Counter
    alerts: Counter
    alert_deliveries: Counter
    bus_pending: Gauge
    bus_backlog: Gauge
    bus_dead_letters: Gauge
    health: Gauge
    sessions_in_flight: Gauge


def build_instruments(registry: CollectorRegistry) -> Instruments:
    r = registry
    return Instruments(
        registry=r,
        stage_latency=Histogram(
            "aegis_stage_latency_seconds",
            "Latency of one session stage (a role's call or a deterministic step), by flow and stage",
            ["flow", "stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        ),
        stages=Counter(
            "aegis_stages",
            "Session stages by flow, stage and status (ok, slow, failed, skipped)",
            ["flow", "stage", "status"],
            registry=r,
        ),
        events=Counter(
            "aegis_events", "Events decided, by event type and outcome", ["event_type", "outcome"], registry=r
        ),
        vetoes=Counter(
            "aegis_vetoes",
            "Sessions vetoed by the validator (failed_closed: the validator failed)",
            ["event_type", "failed_closed"],
            registry=r,
        ),
        guard_actions=Counter(
            "aegis_guard_actions", "Sessions whose order the risk guard clipped or refused", ["action"], registry=r
        ),
        guard_changes=Counter(
            "aegis_guard_changes", "Fields the risk guard changed, by field and rule", ["field", "rule"], registry=r
        ),
        orders=Counter(
            "aegis_orders",
            "Orders sent to the broker, by side, type and status",
            ["side", "order_type", "status"],
            registry=r,
        ),
        fills=Counter(
            "aegis_fills",
            "Fills booked, by side and reason (entry, exit, stop_loss, take_profit)",
            ["side", "reason"],
            registry=r,
        ),
        llm_calls=Counter(
            "aegis_llm_calls",
            "LLM provider calls (after the client's retries and failover)",
            ["provider", "model", "role", "outcome"],
            registry=r,
        ),
        llm_latency=Histogram(
            "aegis_llm_call_latency_seconds",
            "Latency of one LLM provider call, retries and failover included",
            ["provider", "model", "role"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        ),
        llm_tokens=Counter(
            "aegis_llm_tokens",
            "LLM tokens of decided sessions, by direction (in, out)",
            ["provider", "model", "role", "direction"],
            registry=r,
        ),
        llm_cost=Counter(
            "aegis_llm_cost_usd",
            "LLM cost of decided sessions, in US dollars",
            ["provider", "model", "role"],
            registry=r,
        ),
        alerts=Counter(
            "aegis_alerts",
            "Alerts raised (repeats of an open alert not counted), by level and kind",
            ["level", "kind"],
            registry=r,
        ),
        alert_deliveries=Counter(
            "aegis_alert_deliveries",
            "Alert delivery attempts by channel and outcome",
            ["channel", "outcome"],
            registry=r,
        ),
        bus_pending=Gauge("aegis_bus_pending", "Events delivered to a worker and not yet acknowledged", registry=r),
        bus_backlog=Gauge(
            "aegis_bus_backlog", "Events published and not yet delivered to any worker (the lag)", registry=r
        ),
        bus_dead_letters=Gauge("aegis_bus_dead_letters", "Events in the dead-letter stream", registry=r),
        health=Gauge(
            "aegis_health_status", "Health per component: 0 ok, 1 degraded, 2 down", ["component"], registry=r
        ),
        sessions_in_flight=Gauge("aegis_sessions_in_flight", "Sessions running now", registry=r),
    )
