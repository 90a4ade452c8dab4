"""The economic-release flow: normalize -> respond -> persist.

An ECONOMIC_RELEASE event (an indicator's actual figure, with its forecast and previous one when known) is
answered by the configuration (`tools.ops.releases`, `Settings.releases`): the symbols it affects (its own,
and those configured for its indicator) are deliberated, each through a NEWS event in the release's chain,
unless the surprise against the forecast is below the configured minimum; and the posture is re-evaluated
at once when the indicator's response asks (the default), from the VIX and the settings' market symbols
(`aegis.runtime.posture_watch`), the change recorded and alerted by the posture control. The events to deliberate are
recorded in the decision (`operation.emitted`); the pipeline submits them after the release's session, and
again whenever the release is redelivered (their ids are fixed, so each is decided once).
"""

from __future__ import annotations

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.operations import EMITTED, Graph, OpsServices, build_operation_graph
from graphs.wiring import Update
from state.decisions import Outcome
from state.events import EconomicReleaseEvent, EventType
from tools.ops.releases import headline, news_events, release_symbols, surprise_pct


def build_economic_release_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    async def respond(state: DeliberationState) -> Update:
        event = state["parsed"]
        assert isinstance(event, EconomicReleaseEvent)  # the flow settles other types at normalize
        payload = event.payload
        symbols, why = release_symbols(event, ops.releases)
        emitted = news_events(event, symbols)
        findings: dict[str, object] = {"indicator": payload.indicator, "symbols": symbols, EMITTED: emitted,
                                       "surprise_pct": surprise_pct(payload.actual, payload.forecast)}  # fmt: skip
        done = [f"{why} ({', '.join(symbols)})"] if emitted else []
        if ops.releases.response(payload.indicator).posture and ops.evaluator is not None:
            current = await ops.evaluator.evaluate()
            findings["posture"] = {"posture": str(current.posture), "source": str(current.source),
                                   "reason": current.reason}  # fmt: skip
            done.append(f"posture re-evaluated: {current.posture} ({current.reason})")
        subject = headline(event)
        if not done:
            return {"findings": findings, "settled": Settlement(Outcome.SKIPPED, f"{subject}: {why}")}
        return {"findings": findings, "settled": Settlement(Outcome.APPLIED, f"{subject}: {'; '.join(done)}")}

    return build_operation_graph(
        "economic_release", EventType.ECONOMIC_RELEASE, [("respond", respond)], services, checkpointer
    )
