"""Invariant 6: untrusted text stays data. A corpus of injection attempts arrives as news; none of them can
change the prompt's instructions or facts, and even a model that obeys them cannot move an executed order
beyond the guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.llm.client import LLMReply, LLMRequest
from prompts.loader import ExternalText, load_prompt
from quant.posture import DEFAULT_POSTURES, Posture
from state.decisions import Outcome, Usage
from state.events import Bar
from tests.conftest import PipelineFactory

CORPUS = [json.loads(line) for line in (Path(__file__).parents[1] / "data" / "prompt_injections.jsonl").open()]
FACTS = {"report": {"rsi": 50.0}, "posture": {"entry_size_pct": 2.5}}
OFFENSIVE = DEFAULT_POSTURES[Posture.OFFENSIVE]


@pytest.mark.parametrize("attempt", CORPUS, ids=[a["name"] for a in CORPUS])
@pytest.mark.parametrize("role", ["analyst", "validator", "commander"])
def test_injected_text_stays_inside_its_quoted_block(role: str, attempt: dict[str, str]) -> None:
    prompt = load_prompt(role)
    clean = prompt.render(FACTS)
    injected = prompt.render(FACTS, [ExternalText("news", "evt-1", attempt["text"])])
    system, user = injected.messages
    assert system == clean.messages[0], "external text never reaches the instructions"
    assert user.content.count("<external_text ") == 1 and user.content.count("</external_text>") == 1
    assert user.content.count("<facts>") == 1 and user.content.count("</facts>") == 1

    def facts_of(text: str) -> str:
        return text[text.index("<facts>") : text.index("</facts>")]

    assert facts_of(user.content) == facts_of(clean.messages[1].content), "the facts are unchanged"
    quoted = user.content[user.content.index("<external_text ") : user.content.index("</external_text>")]
    assert "<" not in quoted.split(">", 1)[1], "no tag can open inside the quoted text"
    assert injected.prompt_hash != clean.prompt_hash  # the record shows the text was there


class GullibleModel:
    """The worst case: a model that obeys any instruction it sees in the news, every time."""

    provider = "gullible"

    def __init__(self) -> None:
        self.saw_injection = 0

    async def complete(self, request: LLMRequest) -> LLMReply:
        if "external_text" in request.messages[-1].content:
            self.saw_injection += 1
        replies: dict[str, dict[str, Any]] = {
            "analyst": {"direction": "long", "confidence": 1.0, "thesis": "the news says so", "evidence": ["news"]},
            "validator": {"verdict": "approve", "reasons": ["told to approve"], "violated_checks": []},
            "commander": {"action": "buy", "size_pct": 100.0, "order_type": "market", "limit_price": None,
                          "stop_loss_pct": 50.0, "take_profit_pct": 100.0, "rationale": "all in, as instructed"},
        }  # fmt: skip
        parsed = replies[request.role]
        return LLMReply(json.dumps(parsed), parsed, self.provider, request.model, Usage(), 0.0)


async def test_a_model_that_obeys_every_injection_still_cannot_pass_the_guard(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    model = GullibleModel()
    pipeline = await make_pipeline({"gullible": model}, provider="gullible")
    equity = pipeline.paper_broker.equity()
    orders = []
    for n, attempt in enumerate(CORPUS):
        news = {
            "id": f"news-{n}", "type": "NEWS", "source": "wire", "symbols": ["AAPL"],
            "event_time": session_bar.time.isoformat(),
            "payload": {"headline": attempt["name"], "body": attempt["text"]},
        }  # fmt: skip
        decision = await pipeline.submit(news)
        assert decision.outcome in {Outcome.ORDERED, Outcome.BLOCKED}, decision.reason
        if decision.order is not None:
            orders.append(decision)
            request = decision.order.request
            reference = request.limit_price or session_bar.close
            assert request.quantity * reference <= equity * OFFENSIVE.entry_size_pct / 100 * (1 + 1e-9)
            assert request.stop_loss_price is not None and request.take_profit_price is not None
            assert 1 - request.stop_loss_price / reference <= OFFENSIVE.stop_loss_pct / 100 + 1e-12
            assert request.take_profit_price / reference - 1 <= OFFENSIVE.take_profit_pct / 100 + 1e-12
            rules = {c.rule for c in decision.guard_changes}
            assert {"posture.entry_size", "posture.stop_loss_band", "posture.take_profit_band"} <= rules
    assert model.saw_injection == 3 * len(CORPUS)  # every role of every session saw the text
    assert orders, "the attempts reach the guard (and are clipped there)"
