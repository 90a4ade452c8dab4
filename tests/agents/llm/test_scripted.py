"""The scripted client: a repair request never takes the reply scripted for the next event.

A broken reply and its repair both belong to one event; the next reply in the role's queue belongs to the
next event. Were the repair to take it, the first event would trade on the second event's order and the
second would get whatever came after.
"""

from __future__ import annotations

from agents.commander import FAIL_CLOSED, CommanderOrder, command
from agents.llm.scripted import ScriptedClient
from agents.stage import StageBudget
from state.decisions import Outcome, StageStatus
from tests.conftest import SESSION_DAY, PipelineFactory, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy

NOT_JSON = "not json at all"
BUDGET = StageBudget(target_s=1.0, warn_s=2.0, fail_s=5.0)
FACTS = {"event": {"id": "e-1", "symbol": "AAPL"}, "posture": {"name": "offensive"}}


async def test_a_repair_repeats_the_broken_reply_and_leaves_the_queue_to_the_next_event() -> None:
    order = buy(100.0)
    client = ScriptedClient({"commander": [NOT_JSON, order]})

    first = await command(FACTS, client=client, model="m", budget=BUDGET)
    second = await command(FACTS, client=client, model="m", budget=BUDGET)

    assert first.output is None and first.record.status is StageStatus.FAILED
    assert "repair reply was invalid too" in (first.record.reason or "")
    assert [r.messages[-2].content for r in client.requests[1:2]] == [NOT_JSON]  # the repair showed it back
    assert second.output == CommanderOrder.model_validate(order)
    assert second.record.status is StageStatus.OK and not second.record.repaired
    assert client.calls("commander") == 3  # first, its repair, second


async def test_an_unparseable_reply_holds_its_event_and_the_next_event_gets_its_own_reply(
    make_pipeline: PipelineFactory,
) -> None:
    bar = bundled_bars()[SESSION_DAY]
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [NOT_JSON, buy(bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")

    first = await pipeline.submit(signal("first", bar))
    second = await pipeline.submit(signal("second", bar))

    assert first.outcome is Outcome.HOLD, first.reason
    assert first.failed_stages == ["commander"] and first.order is None
    assert first.command == FAIL_CLOSED.model_dump(mode="json")
    commander = next(s for s in first.stages if s.stage == "commander")
    assert commander.status is StageStatus.FAILED and commander.raw_reply == NOT_JSON
    assert second.outcome is Outcome.ORDERED, second.reason
    assert second.order is not None and second.order.request.limit_price == bar.close
    assert second.failed_stages == []


async def test_a_latency_waits_per_request_on_top_of_the_replys_delay() -> None:
    asked: list[str] = []

    def latency(request: object) -> float:
        asked.append(getattr(request, "role", ""))
        return 0.05

    client = ScriptedClient({"commander": [buy(100.0)]}, latency=latency, keep_requests=False)
    result = await command(FACTS, client=client, model="m", budget=BUDGET)

    assert result.record.status is StageStatus.OK
    assert asked == ["commander"] and result.record.latency_ms >= 50
    assert client.requests == []  # not kept
