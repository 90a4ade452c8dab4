"""The bots: list them as `aegis bots list` does (state and who set it, allocation, P&L, return, Sharpe,
drawdown, positions), stop one and resume one (trade role, a reason required; `BotControl`, audited with the
caller). An unknown bot is 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, Field

from aegis.runtime.bot_report import bot_rows
from aegis.server.auth import Context, Reader, Trader
from aegis.server.requests import Reason, Strict, finite
from state.bots import Bot
from tools.ops.bots import UnknownBotError

router = APIRouter(prefix="/api/bots", tags=["bots"])


class StopRequest(Strict):
    reason: Reason
    until: AwareDatetime | None = Field(None, description="Resume by itself then (default: until resumed)")


class ResumeRequest(Strict):
    reason: Reason


def _bot(bot: Bot) -> dict[str, Any]:
    return bot.model_dump(mode="json")


@router.get("", summary="Every bot: state (who set it, why), allocation, P&L, return, Sharpe, drawdown, positions")
async def list_bots(context: Context, principal: Reader) -> dict[str, Any]:
    registered = {bot.bot_id: bot for bot in await context.pipeline.bots.bots()}
    rows = await bot_rows(context.pipeline.services.store)
    return {
        "bots": [
            {
                "bot_id": row.bot_id, "strategy": row.strategy, "allocation": row.allocation, "state": row.state,
                "why": row.why, "stopped_until": _until(registered.get(row.bot_id)), "pnl": finite(row.pnl),
                "positions": row.positions, "days": row.days, "total_return": finite(row.total_return),
                "sharpe": finite(row.sharpe), "max_drawdown": finite(row.max_drawdown),
            }
            for row in rows
        ]
    }  # fmt: skip


def _until(bot: Bot | None) -> str | None:
    return bot.stopped_until.isoformat() if bot is not None and bot.stopped_until is not None else None


@router.post("/{bot_id}/stop", summary="Stop a bot (trade role): its signals are recorded, not deliberated")
async def stop(bot_id: str, body: StopRequest, context: Context, principal: Trader) -> dict[str, Any]:
    try:
        bot = await context.pipeline.bots.stop(bot_id, actor=principal.actor, reason=body.reason, until=body.until)
    except UnknownBotError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"bot": _bot(bot)}


@router.post("/{bot_id}/resume", summary="Resume a stopped bot (trade role): its signals are deliberated again")
async def resume(bot_id: str, body: ResumeRequest, context: Context, principal: Trader) -> dict[str, Any]:
    try:
        bot = await context.pipeline.bots.resume(bot_id, actor=principal.actor, reason=body.reason)
    except UnknownBotError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"bot": _bot(bot)}
