"""The paper-to-live gate: mode live starts only after a paper record met the criteria and a person approved it.

`check_live_gate` measures a paper record (`aegis.runtime.paper_record`) against `LiveGateConfig`, one
`Criterion` each: trading days, orders, execution success, the account's drawdown, and the realised P&L against
the no-edge control. `enable_live` records the approval (the criteria's figures, the config they were held to,
who approved and when) as a durable value and its audit entry in one transaction, and only when every criterion
is met; `require_live_gate` is what the running system calls before it starts in mode live.

Decisions that must not be silently changed:
- The P&L criterion: the realised P&L of the closed trades, as a fraction of the starting cash, has a bootstrap
  interval by day blocks (`evals.intervals`, seeded); the no-edge control books the same trades with random
  directions (`evals.controls.no_edge_control`, seeded, 1,000 draws). The criterion is met when the interval's
  low end clears the control's upper quantile at the same level by `control_margin`.
- A criterion with nothing to measure (no closed day, no attempt, fewer than two trading days of trades) is
  not met: the gate fails closed.
- Enabling re-measures; a stored approval is only ever "enabled" by `enable_live`, and `disable_live` is
  audited the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from aegis.runtime.live_gate_config import LiveGateConfig
from aegis.runtime.paper_record import PaperRecord
from evals.controls import no_edge_control
from evals.intervals import bootstrap_interval, total
from quant.metrics import max_drawdown
from state.decisions import ATTEMPTED, execution_success
from state.store.base import AuditEntry, DurableStore

__all__ = [
    "LIVE_GATE_KEY",
    "Criterion",
    "LiveGateClosedError",
    "LiveGateNotMetError",
    "check_live_gate",
    "disable_live",
    "enable_live",
    "require_live_gate",
]

LIVE_GATE_KEY = "live_gate"  # the durable value holding the last enable / disable


class LiveGateClosedError(ValueError):
    """Mode live was asked for without an approved paper-to-live gate."""


class LiveGateNotMetError(ValueError):
    """`enable_live` was asked for while a criterion is not met."""


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    figure: str  # what the record shows
    bound: str  # what the config asks
    met: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_live_gate(record: PaperRecord, config: LiveGateConfig) -> list[Criterion]:
    """Each criterion of `config`, measured on `record`."""
    success = execution_success(record.outcomes)
    attempts = sum(1 for o in record.outcomes if o in ATTEMPTED)
    equity = [record.starting_cash, *record.closing_equity.values()]
    drawdown = -max_drawdown(equity)
    return [
        Criterion("days", f"{record.days}", f">= {config.min_days}", record.days >= config.min_days),
        Criterion("orders", f"{record.orders}", f">= {config.min_orders}", record.orders >= config.min_orders),
        Criterion(
            "execution_success",
            "n/a (nothing attempted)" if success is None else f"{success:.2%} of {attempts}",
            f">= {config.min_execution_success:.2%}",
            success is not None and success >= config.min_execution_success,
        ),
        Criterion(
            "max_drawdown",
            "n/a (no closed day)" if not record.closing_equity else f"{drawdown:.2%}",
            f"<= {config.max_drawdown:.2%}",
            bool(record.closing_equity) and drawdown <= config.max_drawdown,
        ),
        _pnl_against_control(record, config),
    ]


def _pnl_against_control(record: PaperRecord, config: LiveGateConfig) -> Criterion:
    returns = [trade.pnl / record.starting_cash for trade in record.trades]
    bound = f"{config.level:.0%} low end > control's {config.level:.0%} high end + {config.control_margin:.2%}"
    interval = bootstrap_interval(returns, statistic=total, blocks=[t.day for t in record.trades], level=config.level)
    if interval is None:
        return Criterion("pnl_vs_control", f"n/a ({len(returns)} closed trades on too few days)", bound, False)
    labels = [{"exit_return": r, "forward_return": r} for r in returns]
    band = no_edge_control(labels, len(labels), stake=1.0).pnl.interval(config.level)
    pnl = sum(returns)
    figure = (
        f"P&L {pnl:+.2%} over {len(returns)} trades, CI [{interval.low:+.2%}, {interval.high:+.2%}]; "
        f"control [{band.low:+.2%}, {band.high:+.2%}]"
    )
    return Criterion("pnl_vs_control", figure, bound, interval.low > band.high + config.control_margin)


async def enable_live(
    store: DurableStore, record: PaperRecord, config: LiveGateConfig, *, approver: str, reason: str, at: datetime
) -> list[Criterion]:
    """Measure the record again and, when every criterion is met, record `approver`'s approval (audited)."""
    if not approver.strip():
        raise ValueError("an approver's name is required to enable mode live")
    criteria = check_live_gate(record, config)
    failing = [c.name for c in criteria if not c.met]
    if failing:
        raise LiveGateNotMetError(
            f"the paper-to-live gate is not met ({', '.join(failing)}): see `aegis live check`; nothing enabled"
        )
    value = {
        "enabled": True,
        "approver": approver,
        "reason": reason,
        "at": at.isoformat(),
        "criteria": [c.to_json() for c in criteria],
        "config": config.model_dump(),
    }
    await store.put_values_audited([(LIVE_GATE_KEY, value)], AuditEntry(approver, "live_enabled", value), at)
    return criteria


async def disable_live(store: DurableStore, *, by: str, reason: str, at: datetime) -> None:
    if not by.strip():
        raise ValueError("a name is required to disable mode live")
    value = {"enabled": False, "by": by, "reason": reason, "at": at.isoformat()}
    await store.put_values_audited([(LIVE_GATE_KEY, value)], AuditEntry(by, "live_disabled", value), at)


async def require_live_gate(store: DurableStore) -> dict[str, Any]:
    """The standing approval of mode live; `LiveGateClosedError` when there is none."""
    held = await store.get_value(LIVE_GATE_KEY)
    if held is None or not isinstance(held[0], dict) or held[0].get("enabled") is not True:
        raise LiveGateClosedError(
            "mode live needs the paper-to-live gate: `aegis live check` shows the criteria, "
            "`aegis live enable --approver NAME` records the approval once they are met"
        )
    return dict(held[0])
