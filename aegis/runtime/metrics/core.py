"""`Metrics`: the process's Prometheus metrics, fed from what the system records already.

Nothing here keeps a second set of books: every count comes from a record or a signal another part
produces anyway, heard through that part's listener:
- decision records (`Pipeline.listen_decisions`): events by type and outcome, stage latencies and statuses,
  vetoes, the risk guard's clips and refusals, orders, tokens and cost per provider, model and role;
- provider calls (`ProviderRegistry.listen_calls`, the same outcome the risk monitor hears): LLM calls;
- the paper broker's booked fills (`PaperBroker.listen_fills`);
- alerts raised and delivery attempts (`Alerting.listen`, `Alerting.listen_deliveries`);
- the health monitor's verdicts (`set_health`) and the bus's backlog (`set_bus`), pushed by whoever checks them;
- sessions in flight, read from the pipeline at scrape time.

Decisions that must not be silently changed:
- Each `Metrics` owns its `CollectorRegistry`: two pipelines (or two tests) in one process never share counts.
- A redelivered event gets its recorded decision back (same event id, same `decided_at`): it is counted once,
  as long as it comes back within the last `REMEMBERED` decisions. A conflicting delivery is a new (rejected)
  record and counts.
- Listeners are synchronous and cheap: they never await and never raise into the trading path.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from aegis.runtime.health_report import HealthReport
from aegis.runtime.metrics.instruments import Instruments, build_instruments
from aegis.runtime.metrics.window import LatencyWindow
from agents.llm.observed import ProviderCall
from graphs.router import DELIBERATION, ROUTES
from state.alerts import Alert, Delivery
from state.decisions import DecisionRecord, Outcome, StageStatus
from state.events import EventType
from state.orders import Fill

if TYPE_CHECKING:
    from aegis.pipeline import Pipeline

log = logging.getLogger(__name__)

REMEMBERED = 4096  # recent decisions remembered to count a redelivery once
# What the health monitor may say of a component, as the gauge's value.
HEALTH_LEVELS: dict[str, int] = {
    "ok": 0,
    "healthy": 0,
    "up": 0,
    "degraded": 1,
    "warning": 1,
    "slow": 1,
    "down": 2,
    "failed": 2,
    "critical": 2,
    "unhealthy": 2,
}


def type_label(event_type: str) -> str:
    """An event type as a label: a known type, or "unknown" (a rejected event's type is whatever the sender
    wrote, and every distinct label value would be a new series kept for the process's life)."""
    return event_type if event_type in EventType.__members__ else "unknown"


def flow_of(event_type: str) -> str:
    """The flow an event type goes to (`graphs.router.ROUTES`), the deliberation for any other."""
    try:
        return ROUTES.get(EventType(event_type), DELIBERATION)
    except ValueError:
        return DELIBERATION


class Metrics:
    def __init__(self, *, window: int = 1024) -> None:
        """`window`: recent samples per stage kept for `stage_percentiles`."""
        self.registry = CollectorRegistry(auto_describe=True)
        self._i: Instruments = build_instruments(self.registry)
        self._window = LatencyWindow(window)
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._in_flight: list[Callable[[], int]] = []
        self._i.sessions_in_flight.set_function(lambda: float(sum(count() for count in self._in_flight)))

    # ---- wiring ------------------------------------------------------------------------------------

    def attach(self, pipeline: Pipeline) -> None:
        """Hear everything `pipeline` records: decisions, provider calls, fills, alerts and their deliveries."""
        pipeline.listen_decisions(self.record_decision)
        pipeline.services.providers.listen_calls(self.record_call)
        pipeline.paper_broker.listen_fills(self.record_fill)
        pipeline.alerting.listen(self.record_alert)
        pipeline.alerting.listen_deliveries(self.record_delivery)
        self._in_flight.append(lambda: pipeline.sessions_in_flight)

    def render(self) -> tuple[bytes, str]:
        """The exposition for a `/metrics` route: (body, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def stage_percentiles(self) -> dict[str, dict[str, float]]:
        """Per stage, over the recent window: p50, p95, p99 in milliseconds, and the samples held."""
        return self._window.percentiles()

    # ---- pushed by the health monitor --------------------------------------------------------------

    def set_health(self, component: str, status: str) -> None:
        """A component's health: "ok" (0), "degraded" (1) or "down" (2) (a few synonyms accepted);
        `ValueError` for any other status."""
        level = HEALTH_LEVELS.get(status.lower())
        if level is None:
            known = ", ".join(sorted(HEALTH_LEVELS))
            raise ValueError(f"health status {status!r} of {component} is not one of: {known}")
        self._i.health.labels(component).set(level)

    def set_bus(self, pending: int, dead_letters: int, backlog: int = 0) -> None:
        """The bus as last checked: entries delivered and not acknowledged, entries not delivered yet (the
        lag), entries in the dead-letter stream."""
        self._i.bus_pending.set(pending)
        self._i.bus_backlog.set(backlog)
        self._i.bus_dead_letters.set(dead_letters)

    def record_health(self, report: HealthReport) -> None:
        """A health monitor's round: each component's status, and the bus's figures it measured."""
        for component in report.components:
            self.set_health(component.component, component.status)
            if component.component == "bus" and component.measured:
                figure = {k: v for k, v in component.measured.items() if isinstance(v, int | float)}
                self.set_bus(int(figure.get("pending", 0)), int(figure.get("dead_letters", 0)),
                             int(figure.get("backlog", 0)))  # fmt: skip

    # ---- heard from the records --------------------------------------------------------------------

    def record_decision(self, record: DecisionRecord) -> None:
        if not self._first_time(record):
            return
        i, flow = self._i, flow_of(record.event_type)
        i.events.labels(type_label(record.event_type), str(record.outcome)).inc()
        for stage in record.stages:
            i.stages.labels(flow, stage.stage, str(stage.status)).inc()
            if stage.status is not StageStatus.SKIPPED:
                i.stage_latency.labels(flow, stage.stage).observe(max(stage.latency_ms, 0.0) / 1000.0)
                self._window.add(stage.stage, stage.latency_ms)
            if stage.usage is not None and stage.provider:
                labels = (stage.provider, stage.model or "", stage.stage)
                i.llm_tokens.labels(*labels, "in").inc(stage.usage.input_tokens)
                i.llm_tokens.labels(*labels, "out").inc(stage.usage.output_tokens)
                i.llm_cost.labels(*labels).inc(max(stage.usage.cost_usd, 0.0))
        if record.outcome is Outcome.VETOED:
            i.vetoes.labels(type_label(record.event_type), str("validator" in record.failed_stages).lower()).inc()
        if record.outcome is Outcome.BLOCKED:
            i.guard_actions.labels("refused").inc()
        elif record.guard_changes:
            i.guard_actions.labels("clipped").inc()
        for change in record.guard_changes:
            i.guard_changes.labels(change.field, change.rule).inc()
        if record.order is not None:
            request = record.order.request
            i.orders.labels(str(request.side), str(request.order_type), str(record.order.status)).inc()

    def record_call(self, call: ProviderCall) -> None:
        self._i.llm_calls.labels(call.provider, call.model, call.role, "ok" if call.ok else "failed").inc()
        self._i.llm_latency.labels(call.provider, call.model, call.role).observe(max(call.latency_ms, 0.0) / 1000.0)

    def record_fill(self, fill: Fill) -> None:
        self._i.fills.labels(str(fill.side), str(fill.reason)).inc()

    def record_alert(self, alert: Alert) -> None:
        self._i.alerts.labels(str(alert.level), alert.kind).inc()

    def record_delivery(self, delivery: Delivery) -> None:
        self._i.alert_deliveries.labels(delivery.channel, "ok" if delivery.ok else "failed").inc()

    def _first_time(self, record: DecisionRecord) -> bool:
        key = (record.event_id, record.decided_at.isoformat())
        with self._seen_lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
        return True
