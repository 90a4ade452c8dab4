"""The deliberation graph end to end, with scripted roles: each path a session can take."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.llm.client import LLMReply, LLMRequest, ProviderUnavailableError
from agents.llm.scripted import Scripted, ScriptedClient
from state.decisions import Outcome, StageStatus, Usage
from state.events import Bar
from tests.conftest import PipelineFactory, signal

LONG = {
    "direction": "long",
    "confidence": 0.8,
    "thesis": "trend and momentum up",
    "evidence": ["report.trend=up"],
}
APPROVE = {"verdict": "approve", "reasons": ["checks pass"], "violated_checks": []}
VETO = {"verdict": "veto", "reasons": ["range too wide"], "violated_checks": ["volatility_fits_posture"]}
HOLD = {"action": "hold", "size_pct": 0, "order_type": "limit", "rationale": "wait"}


def buy(price: float, **changes: Any) -> dict[str, Any]:
    order = {
        "action": "buy", "size_pct": 2.0, "order_type": "limit", "limit_price": price,
        "stop_loss_pct": 1.0, "take_profit_pct": 2.0, "rationale": "enter on the cross",
    }  # fmt: skip
    return {**order, **changes}


def script(analyst: Any = LONG, validator: Any = APPROVE, commander: Any = None) -> ScriptedClient:
    return ScriptedClient({"analyst": [analyst], "validator": [validator], "commander": [commander or HOLD]})


async def test_a_full_session_places_exactly_the_guarded_order(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = script(commander=buy(session_bar.close))
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    decision = await pipeline.submit(signal("e-full", session_bar))
    assert decision.outcome is Outcome.ORDERED, decision.reason
    assert decision.order is not None
    request = decision.order.request
    assert request.event_id == "e-full"
    assert request.limit_price == session_bar.close
    assert request.quantity == int(100_000 * 0.02 / session_bar.close)
    assert request.stop_loss_price is not None and abs(request.stop_loss_price / session_bar.close - 0.99) < 1e-9
    assert [s.stage for s in decision.stages] in (
        ["analyst", "validator", "commander", "rune"],
        ["validator", "analyst", "commander", "rune"],
    )
    assert all(s.prompt_hash and s.raw_reply for s in decision.stages if s.stage != "rune")
    assert decision.context_hash and decision.quant_report and decision.posture == "offensive"


async def test_the_guard_clips_an_oversized_commander(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    client = script(commander=buy(session_bar.close, size_pct=60.0, stop_loss_pct=9.0, take_profit_pct=40.0))
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    decision = await pipeline.submit(signal("e-clip", session_bar))
    assert decision.outcome is Outcome.ORDERED
    assert decision.order is not None
    notional = decision.order.request.quantity * session_bar.close
    assert notional <= 100_000 * 0.025
    rules = {c.rule for c in decision.guard_changes}
    assert {"posture.entry_size", "posture.stop_loss_band", "posture.take_profit_band"} <= rules


async def test_validator_veto_ends_the_session_before_the_commander(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = script(validator=VETO, commander=buy(session_bar.close))
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    decision = await pipeline.submit(signal("e-veto", session_bar))
    assert decision.outcome is Outcome.VETOED
    assert "volatility_fits_posture" in decision.reason
    assert client.calls("commander") == 0
    assert decision.order is None


async def test_analyst_timeout_fails_closed_to_hold(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    client = script(analyst=Scripted(LONG, delay_s=1.0), commander=buy(session_bar.close))
    pipeline = await make_pipeline(
        {"scripted": client}, provider="scripted", roles=_roles("scripted", analyst_fail_s=0.05)
    )
    decision = await pipeline.submit(signal("e-analyst-timeout", session_bar))
    assert decision.outcome is Outcome.HOLD
    assert decision.failed_stages == ["analyst"]
    analyst = next(s for s in decision.stages if s.stage == "analyst")
    assert analyst.status is StageStatus.FAILED and "timed out" in (analyst.reason or "")
    assert client.calls("commander") == 0


async def test_validator_timeout_fails_closed_to_veto(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    client = script(validator=Scripted(APPROVE, delay_s=1.0), commander=buy(session_bar.close))
    pipeline = await make_pipeline(
        {"scripted": client}, provider="scripted", roles=_roles("scripted", validator_fail_s=0.05)
    )
    decision = await pipeline.submit(signal("e-validator-timeout", session_bar))
    assert decision.outcome is Outcome.VETOED
    assert decision.failed_stages == ["validator"]
    assert "validator_failed" in decision.reason
    assert client.calls("commander") == 0


async def test_validator_error_fails_closed_to_veto(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    client = script(validator=Scripted(error=ProviderUnavailableError("503 from upstream")))
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    decision = await pipeline.submit(signal("e-validator-error", session_bar))
    assert decision.outcome is Outcome.VETOED
    validator = next(s for s in decision.stages if s.stage == "validator")
    assert "503 from upstream" in (validator.reason or "")


async def test_commander_timeout_fails_closed_to_hold(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    client = script(commander=Scripted(buy(session_bar.close), delay_s=1.0))
    pipeline = await make_pipeline(
        {"scripted": client}, provider="scripted", roles=_roles("scripted", commander_fail_s=0.05)
    )
    decision = await pipeline.submit(signal("e-commander-timeout", session_bar))
    assert decision.outcome is Outcome.HOLD
    assert decision.failed_stages == ["commander"]
    assert decision.order is None


async def test_invalid_commander_output_fails_closed_and_says_why(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = script(commander={"action": "buy", "size_pct": 2.0, "order_type": "market", "yolo": True})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    decision = await pipeline.submit(signal("e-commander-invalid", session_bar))
    assert decision.outcome is Outcome.HOLD
    commander = next(s for s in decision.stages if s.stage == "commander")
    assert commander.status is StageStatus.FAILED
    assert "invalid CommanderOrder" in (commander.reason or "") and "yolo" in (commander.reason or "")
    assert commander.raw_reply and "yolo" in commander.raw_reply


class _Rendezvous:
    """Analyst and validator each wait for the other to have started: only concurrent calls succeed."""

    provider = "rendezvous"

    def __init__(self) -> None:
        self.started = {"analyst": asyncio.Event(), "validator": asyncio.Event()}
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMReply:
        self.requests.append(request)
        if request.role in self.started:
            self.started[request.role].set()
            other = "validator" if request.role == "analyst" else "analyst"
            await self.started[other].wait()
        replies: dict[str, dict[str, Any]] = {"analyst": LONG, "validator": APPROVE, "commander": HOLD}
        parsed = replies[request.role]
        return LLMReply(
            raw=str(parsed),
            parsed=parsed,
            provider=self.provider,
            model=request.model,
            usage=Usage(),
            latency_ms=0.0,
        )


async def test_parallel_mode_runs_analyst_and_validator_concurrently(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = _Rendezvous()
    pipeline = await make_pipeline(
        {"rendezvous": client},
        provider="rendezvous",
        roles=_roles("rendezvous", analyst_fail_s=0.5, validator_fail_s=0.5),
    )
    decision = await pipeline.submit(signal("e-parallel", session_bar))
    assert decision.failed_stages == []
    assert decision.outcome is Outcome.HOLD and decision.reason.startswith("commander holds")
    validator_request = next(r for r in client.requests if r.role == "validator")
    assert "analysis" not in validator_request.facts  # independent check: it does not see the thesis


async def test_sequential_mode_shows_the_validator_the_analysis(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = script()
    pipeline = await make_pipeline({"scripted": client}, provider="scripted", validation_mode="sequential")
    decision = await pipeline.submit(signal("e-sequential", session_bar))
    assert [s.stage for s in decision.stages] == ["analyst", "validator", "commander"]
    roles = [r.role for r in client.requests]
    assert roles == ["analyst", "validator", "commander"]
    assert client.requests[1].facts["analysis"] == LONG
    assert decision.validation_mode == "sequential"


async def test_the_same_rendezvous_deadlocks_in_sequential_mode(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    """The converse of the parallel test: sequentially, the analyst waits alone and times out (fails closed)."""
    client = _Rendezvous()
    pipeline = await make_pipeline(
        {"rendezvous": client}, provider="rendezvous", validation_mode="sequential",
        roles=_roles("rendezvous", analyst_fail_s=0.2, validator_fail_s=0.2),
    )  # fmt: skip
    decision = await pipeline.submit(signal("e-sequential-rendezvous", session_bar))
    assert "analyst" in decision.failed_stages


def _roles(provider: str, **fail_s: float) -> dict[str, Any]:
    from graphs.deliberation.config import DeliberationConfig

    roles = {}
    for role, config in DeliberationConfig().roles.items():
        values = {**config.model_dump(), "provider": provider}
        if f"{role}_fail_s" in fail_s:
            limit = fail_s[f"{role}_fail_s"]
            values.update(fail_s=limit, warn_s=min(values["warn_s"], limit), target_s=min(values["target_s"], limit))
        roles[role] = values
    return roles
