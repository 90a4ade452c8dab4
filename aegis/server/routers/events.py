"""Events: submit one (as a feed or an outside system would), and read what became of it.

A submitted event is validated first: an invalid one is refused with 422 naming each field, and recorded as
a dead letter like any other. A valid one runs in the server (the decision comes back, 200) when the server
runs events inline, else it is published to the bus for the workers (202; read it back by its id). A
MARKET_TICK is market data, not a session: inline, it is applied to the market state (`tick_intake`; 200,
status "applied"), as a worker applies the ticks it receives.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse

from aegis.pipeline import as_tick
from aegis.server.auth import Context, Reader, Trader
from aegis.server.tick_intake import TickIntake
from state.decisions import Outcome
from state.events import EventRejectedError, parse_event

router = APIRouter(prefix="/api/events", tags=["events"])
TICKS = "tick_intake"  # the server's one `TickIntake`, in `ServerContext.extras`


@router.post("", summary="Submit an event (trade role): run inline, or queued for the workers")
async def submit(
    context: Context, principal: Trader, event: Annotated[dict[str, Any], Body(description="The event, as JSON")]
) -> JSONResponse:
    pipeline = context.pipeline
    if context.bus is not None:
        try:
            parse_event(event, now=pipeline.services.clock.now())
        except EventRejectedError as exc:
            record = await pipeline.submit(event)  # recorded as a dead letter, as a worker would
            return JSONResponse({"detail": str(exc), "event_id": record.event_id}, status_code=422)
        message_id = await context.bus.publish(event)
        return JSONResponse({"event_id": event["id"], "status": "queued", "message_id": message_id}, status_code=202)
    tick = as_tick(event)
    if tick is not None:  # market data, not a session: applied as a worker applies it
        intake = context.extras.get(TICKS) or context.extras.setdefault(TICKS, TickIntake(pipeline))
        refused = await intake.apply(tick, event)
        if refused is not None:
            return JSONResponse({"detail": refused, "event_id": tick.id}, status_code=422)
        return JSONResponse({"event_id": tick.id, "status": "applied"})
    record = await pipeline.submit(event)
    if record.outcome is Outcome.REJECTED:
        return JSONResponse({"detail": record.reason, "event_id": record.event_id}, status_code=422)
    return JSONResponse({"event_id": record.event_id, "status": "decided",
                         "decision": record.model_dump(mode="json")})  # fmt: skip


@router.get("/{event_id}", summary="What became of an event: decided (with its decision) or received")
async def get_event(event_id: str, context: Context, principal: Reader) -> dict[str, Any]:
    store = context.pipeline.services.store
    decision = await store.get_decision(event_id)
    if decision is not None:
        return {"event_id": event_id, "status": "decided", "decision": decision.model_dump(mode="json")}
    chain_id = await store.chain_of(event_id)
    if chain_id is not None:
        for recorded in (await store.chain(chain_id)).events:
            if recorded.event_id == event_id:
                return {"event_id": event_id, "status": "received", "event_type": recorded.event_type,
                        "received_at": recorded.received_at.isoformat()}  # fmt: skip
    raise HTTPException(404, f"no event {event_id} (a queued event shows here once a worker receives it)")
