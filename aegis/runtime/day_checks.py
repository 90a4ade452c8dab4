"""The checks of the trading day (AEGIS v3.1 section 7): before the open, and the readiness for the next day.

Before the open (`pre_open_checks`, the `aegis doctor` checks as a job): the API keys of the providers the
roles use (the rules baseline needs none), the stores (the data folder writable, PostgreSQL and Redis
reachable when configured), the limits the failure tiers and the guard enforce, the backups (the folder the
safe mode writes its snapshots to). Each check is one line starting with `ok` or with what failed.

The readiness for the next day (`readiness`): not ready while the account is HALTED awaiting a reset or
while a pre-open check of the day failed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from aegis.settings import Settings
from agents.llm.catalog import CATALOG
from state.trading import TradingState
from tools.ops.trading import TradingControl


def pre_open_checks(settings: Settings, folder: Path) -> list[str]:
    """One line per check, `ok ...` or what failed (blocking: stores are probed with a 3 s timeout)."""
    from aegis.doctor import stores  # the doctor imports every provider's client: only when the checks run

    lines = []
    used = sorted({role.provider for role in settings.deliberation.roles.values()})
    for provider in used:
        spec = CATALOG.get(provider)
        if spec is None:
            lines.append(f"ok key: {provider} needs none (not an API provider)")
        elif os.environ.get(spec.api_key_env):
            lines.append(f"ok key: {spec.api_key_env} is set for {provider}")
        else:
            lines.append(f"key missing: {spec.api_key_env} for {provider}, which a role uses")
    configured = {"AEGIS_POSTGRES_URL": settings.postgres_url or "", "AEGIS_REDIS_URL": settings.redis_url or ""}
    for check in stores(settings, configured):
        status = "ok" if check.status in ("ok", "skipped") else check.status
        lines.append(f"{status} store {check.name}: {check.detail}")
    losses = settings.protection.losses
    lines.append(
        f"ok limits: account halted at a {losses.emergency_drawdown_pct:g} % drawdown of the day, CRITICAL at "
        f"{losses.loss_per_minute_pct:g} % a minute, a position down {losses.position_warning_pct:g} % warned"
    )
    snapshots = settings.data_dir / "snapshots"
    try:
        snapshots.mkdir(parents=True, exist_ok=True)
        writable = os.access(snapshots, os.W_OK)
    except OSError:
        writable = False
    lines.append(f"ok backups: safe-mode snapshots go to {snapshots.name}/" if writable
                 else f"backups failed: {snapshots.name}/ is not writable")  # fmt: skip
    if not folder.parent.exists():
        lines.append(f"reports failed: {folder.parent} does not exist")
    return lines


async def readiness(trading: TradingControl, pre_open_failed: Sequence[str]) -> list[str]:
    """Why the account is not ready for the next day (empty: ready)."""
    reasons = []
    account = (await trading.states()).account
    if account.state is TradingState.HALTED and account.needs_reset:
        reasons.append(f"the account is halted until a reset ({account.reason})")
    reasons.extend(f"before the open: {line}" for line in pre_open_failed)
    return reasons
