"""What the API tests share: the audit identity of a role's key, the audit log's entries of one action, the
bots and their daily marks a portfolio needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aegis.pipeline import Pipeline
from state.access import Access
from state.bots import Bot, BotDay
from tests.aegis.server.conftest import Served
from tools.feeds.bundled import load_bundled_daily

BOTS = ("apple", "energy", "soft")  # sleeves that followed AAPL, XOM and MSFT


async def actor(api: Served, role: Access | str) -> str:
    """How the audit log names the caller with `role`'s key: `key:test-<role>#<key id>`."""
    key = next(k for k in await api.context.keys.keys() if k.role is Access(role))
    return f"key:{key.name}#{key.key_id}"


async def audited(api: Served, action: str) -> list[dict[str, Any]]:
    """The audit log's entries of `action`, newest first."""
    return [e for e in await api.pipeline.services.store.audit_log(500) if e["action"] == action]


async def register_bots(pipeline: Pipeline, *, days: int = 0) -> None:
    """The three bots at 30 % each, with `days` daily marks following their symbols (0: no history)."""
    since = datetime(2016, 1, 4, tzinfo=UTC)
    bots = [Bot(bot_id=b, strategy="test", allocation=0.3, since=since) for b in BOTS]
    await pipeline.bots.register(bots, actor="test", reason="three bots")
    if not days:
        return
    panel = load_bundled_daily(["AAPL", "XOM", "MSFT"])
    marks = []
    for row in range(len(panel.dates) - days, len(panel.dates)):
        for column, bot in enumerate(BOTS):
            growth = panel.close[row, column] / panel.close[-days, column]
            marks.append(BotDay(bot_id=bot, day=panel.dates[row], pnl=30_000 * (growth - 1),
                                sleeve=30_000 * growth, allocation=0.3))  # fmt: skip
    await pipeline.services.store.record_bot_days(marks, pipeline.services.clock.now())
