"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright) against a real uvicorn
server over a pipeline on the embedded defaults: sign in with a key, watch decisions arrive live while events
are submitted, acknowledge an alert raised through the alerting path, approve a workflow's pending step; each
effect checked in the store. Screenshots are kept under `test-artifacts/dashboard/` (or
`$AEGIS_TEST_ARTIFACTS/dashboard/`)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from state.access import Access
from state.alerts import AlertLevel
from state.approvals import ApprovalStatus
from state.bots import Bot
from state.clock import SimulatedClock
from tests.aegis.server.http_server import served_over_http
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, ScriptedPerEvent, bundled_bars, signal

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000  # the longest any one thing may take to show in the page
IDS = [f"dash-sig-{i}" for i in range(3)]
LONG = {"direction": "long", "confidence": 0.8, "thesis": "trend up", "evidence": ["report.trend=up"]}
APPROVE = {"verdict": "approve", "reasons": ["checks pass"], "violated_checks": []}
HOLD = {"action": "hold", "size_pct": 0.0, "order_type": "market", "rationale": "wait for a pullback"}


def buy(size_pct: float) -> dict[str, Any]:
    return {"action": "buy", "size_pct": size_pct, "order_type": "market", "stop_loss_pct": 1.0,
            "take_profit_pct": 2.0, "rationale": "enter on the cross"}  # fmt: skip


def artifacts() -> Path:
    root = os.environ.get("AEGIS_TEST_ARTIFACTS") or Path(__file__).resolve().parents[3] / "test-artifacts"
    folder = Path(root) / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser_executable() -> str:
    """Debian's Chromium; missing, the test skips saying so (fails under AEGIS_REQUIRE_SERVICES=1, as in CI)."""
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("AEGIS_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


async def test_the_dashboard_shows_live_decisions_and_acts_on_alerts_and_approvals(
    make_pipeline: PipelineFactory, browser_executable: str
) -> None:
    from playwright.async_api import async_playwright

    roles = ScriptedPerEvent(LONG, APPROVE)  # the commander's reply per event: an order the guard clips, a hold, one
    for event_id, reply in zip(IDS, [buy(30.0), HOLD, buy(2.0)], strict=True):
        roles.script(event_id, reply)
    pipeline = await make_pipeline({"scripted": roles}, provider="scripted")
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    now = clock.now()
    bots = [Bot(bot_id=b, strategy=b, allocation=0.3, since=now - timedelta(days=30)) for b in ("value", "growth")]
    await pipeline.bots.register(bots, actor="test", reason="two reference bots")
    bars = bundled_bars()
    shots = artifacts()
    problems: list[str] = []

    async with served_over_http(pipeline) as (url, context), async_playwright() as playwright:
        trade = await context.keys.create("desk-trader", Access.TRADE, by="test")
        read = await context.keys.create("desk-viewer", Access.READ, by="test")
        browser = await playwright.chromium.launch(executable_path=browser_executable, args=BROWSER_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 1200})
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

            # Sign in: the page holds no data, has a strict CSP, and keeps the key out of the URL.
            answer = await page.goto(url + "/")
            assert answer is not None and answer.ok
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
            await page.screenshot(path=str(shots / "01-login.png"))
            await page.fill("#credential", trade.key)
            await page.click("#login-button")
            await page.wait_for_selector("body[data-live='live']", timeout=WAIT_MS)
            assert trade.key not in page.url
            assert await page.evaluate("sessionStorage.getItem('aegis.credential')") == trade.key
            await page.wait_for_selector("#bots tr[data-bot-id='value']", timeout=WAIT_MS)
            assert "desk-trader · trade" in await page.inner_text("#who")

            # Decisions arrive while events are submitted (a short replay of real bars), no reload.
            ids, outcomes = IDS, []
            for event_id, bar in zip(ids, bars[SESSION_DAY + 1 : SESSION_DAY + 4], strict=True):
                clock.set(bar.time)
                await pipeline.services.hot.push_bar(SYMBOL, bar)
                decision = await pipeline.submit({**signal(event_id, bar), "bot_id": "growth"})
                assert decision.stages, decision.reason
                outcomes.append(str(decision.outcome))
            assert outcomes == ["ordered", "hold", "ordered"], outcomes
            for event_id in ids:
                await page.wait_for_selector(f"#decisions tr[data-event-id='{event_id}']", timeout=WAIT_MS)
            assert "3 live" in await page.inner_text("#dec-count")
            await page.wait_for_selector("#latency tr.total", timeout=WAIT_MS)
            stages = await page.locator("#latency tr td:first-child").all_inner_texts()
            assert "analyst" in stages and stages[-1] == "session", stages
            await page.screenshot(path=str(shots / "02-live-decisions.png"), full_page=True)

            # A click opens the full record.
            await page.click(f"#decisions tr[data-event-id='{ids[0]}']")
            await page.wait_for_selector("#decision-dialog[open]", timeout=WAIT_MS)
            detail = await page.inner_text("#dlg-body")
            recorded = await pipeline.services.store.get_decision(ids[0])
            assert recorded is not None and recorded.reason in detail and "analyst" in detail
            assert recorded.order is not None and recorded.order.order_id in detail
            assert recorded.guard_changes and "Risk guard changes" in detail  # 30 % asked, the posture's size given
            await page.screenshot(path=str(shots / "03-decision-record.png"))
            await page.click("#decision-dialog button[value='close']")

            # An alert raised through the alerting path shows up live; acknowledging it is recorded with the key.
            alert, new = await pipeline.alerting.raise_alert(
                AlertLevel.WARNING, "dashboard_drill", "drill: a stage missed its budget twice"
            )
            assert new
            button = f"#alerts li[data-alert-id='{alert.alert_id}'] button.ack"
            await page.click(button, timeout=WAIT_MS)
            await page.wait_for_selector(f"#alerts li[data-alert-id='{alert.alert_id}'].acked", timeout=WAIT_MS)
            held = await pipeline.services.store.get_alert(alert.alert_id)
            assert held is not None and held.acknowledged_by == f"key:desk-trader#{trade.record.key_id}"

            # A workflow's change waits for a person; approving it in the page runs it.
            waiting = await pipeline.request("stop the value bot", requester="ana", role=Access.TRADE)
            approval_id = f"workflow:{waiting.event_id}"
            item = f"#approvals li[data-approval-id='{approval_id}']"
            await page.wait_for_selector(item, timeout=WAIT_MS)
            await page.screenshot(path=str(shots / "04-pending-approval.png"), full_page=True)
            await page.fill(f"{item} input.reason-input", "drill: the value bot misbehaves")
            await page.click(f"{item} button.approve")
            await page.wait_for_selector(item, state="detached", timeout=WAIT_MS)
            approval = await pipeline.approval_control.get(approval_id)
            assert approval is not None and approval.status is ApprovalStatus.APPROVED
            assert approval.decided_by == f"key:desk-trader#{trade.record.key_id}"
            assert {b.bot_id: b.running for b in await pipeline.bots.bots()} == {"value": False, "growth": True}
            await page.wait_for_selector("#bots tr[data-bot-id='value'] .badge.stopped", timeout=WAIT_MS)
            await page.screenshot(path=str(shots / "05-after-approval.png"), full_page=True)

            # A read key sees the same panels without the buttons that change anything.
            viewer = await browser.new_page(viewport={"width": 1200, "height": 900})
            await viewer.goto(url + "/")
            await viewer.fill("#credential", read.key)
            await viewer.click("#login-button")
            await viewer.wait_for_selector("body[data-live='live']", timeout=WAIT_MS)
            await viewer.wait_for_selector(f"#decisions tr[data-event-id='{ids[0]}']", timeout=WAIT_MS)
            assert await viewer.locator("button.ack, button.approve, button.reject").count() == 0
            await viewer.close()
            await page.close()  # the streams end before the server stops
        finally:
            await browser.close()
    csp_or_script = [p for p in problems if "Content Security Policy" in p or "error" in p.lower()]
    assert not csp_or_script, csp_or_script
