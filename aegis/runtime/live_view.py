"""The live terminal view of a run: posture, recent decisions, vetoes, positions, P&L and alerts.

On a terminal it redraws in place (rich.Live); elsewhere (CI, pipes) it prints one progress line every
`every` trading days, so logs stay readable. A resumed run first goes over the days decided before
("catching up": recorded decisions, nothing deliberated), then decides the rest.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from aegis.runtime.bot_report import number, percent
from aegis.runtime.replay_job import DayProgress
from state.alerts import Alert, AlertLevel

_OUTCOME_STYLE = {
    "ordered": "green",
    "vetoed": "red",
    "blocked": "magenta",
    "hold": "yellow",
    "screened_out": "dim",
    "rejected": "bold red",
    "execution_failed": "bold red",
    "applied": "cyan",
    "skipped": "dim cyan",
}


_ALERT_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red", "emergency": "bold white on red"}


def _styled(text: str, style: str | None) -> Text:
    """`text` in `style` (none: plain), never read as markup: an outcome or a state without a style of its
    own, or a reason quoting an event's "[/]", must not break the view."""
    return Text(text, style=style or "")


def render(progress: DayProgress) -> Group:
    tally = progress.tally
    pnl = progress.equity - progress.benchmark_equity
    head = Table.grid(padding=(0, 2))
    catching_up = "  [dim](catching up: recorded)[/]" if progress.catching_up else ""
    head.add_row(
        f"[bold]{progress.day}[/]  day {progress.index + 1}/{progress.days}{catching_up}",
        f"VIX {progress.vix:.2f} -> [bold]{progress.posture}[/]",
        f"equity {progress.equity:,.0f}",
        f"buy-and-hold of the basket {progress.benchmark_equity:,.0f} (ours {pnl:+,.0f})",
    )
    head.add_row(
        f"events {tally.events}",
        f"deliberations {tally.deliberations}",
        f"vetoes {tally.count_of('vetoed')}  orders {tally.count_of('ordered')}",
        f"failed sessions {tally.failed_sessions}",
    )
    decisions = Table(title="recent decisions", expand=True, show_edge=False)
    for column in ("event", "outcome", "reason"):
        decisions.add_column(column, overflow="fold")
    for record in tally.recent[:8]:
        outcome = _styled(str(record.outcome), _OUTCOME_STYLE.get(str(record.outcome)))
        decisions.add_row(Text(record.event_id), outcome, Text(record.reason[:90]))
    positions = Table(title="positions", expand=True, show_edge=False)
    for column in ("symbol", "qty", "avg", "mark", "P&L"):
        positions.add_column(column, justify="right")
    for symbol, (qty, avg, mark) in sorted(progress.positions.items()):
        positions.add_row(symbol, f"{qty:g}", f"{avg:.2f}", f"{mark:.2f}", f"{(mark - avg) * qty:+,.2f}")
    parts: list[RenderableType] = [Panel(head, title="AEGIS replay (rules baseline)"), decisions, positions]
    if progress.bots:
        bots = Table(title="bots (aegis bots list)", expand=True, show_edge=False)
        for column in ("bot", "alloc", "state", "P&L", "return", "Sharpe", "max DD", "pos"):
            bots.add_column(column, justify="left" if column in ("bot", "state") else "right")
        for row in progress.bots:
            state = _styled(row.state, None if row.state == "running" else "bold red")
            bots.add_row(row.bot_id, f"{row.allocation:.1%}", state,
                         f"{row.pnl:+,.2f}", percent(row.total_return), number(row.sharpe), percent(row.max_drawdown),
                         str(row.positions))  # fmt: skip
        parts.append(bots)
    if tally.recent_alerts:
        alerts = Table(title="alerts (aegis alerts list)", expand=True, show_edge=False)
        for column in ("raised", "level", "alert"):
            alerts.add_column(column, overflow="fold")
        for alert in tally.recent_alerts:
            level = _styled(str(alert.level), _ALERT_STYLE.get(str(alert.level)))
            alerts.add_row(f"{alert.raised_at:%Y-%m-%d %H:%M}", level, Text(alert.message[:100]))
        parts.append(alerts)
    return Group(*parts)


class LiveView:
    def __init__(self, console: Console | None = None, every: int = 50) -> None:
        self._console = console or Console()
        self._every = every
        self._live = (
            Live(console=self._console, refresh_per_second=8, transient=False) if self._console.is_terminal else None
        )

    def alert(self, alert: Alert) -> None:
        """A new alert: on a terminal the next redraw shows it; elsewhere a line at WARNING and above."""
        if self._live is None and alert.level is not AlertLevel.INFO:
            self._console.print(f"ALERT {alert.level.upper()} {alert.kind}: {alert.message}", highlight=False)

    def update(self, progress: DayProgress) -> None:
        if self._live is not None:
            self._live.update(render(progress))
            return
        if progress.index % self._every == 0 or progress.index + 1 == progress.days:
            tally = progress.tally
            catching_up = " (catching up: recorded)" if progress.catching_up else ""
            self._console.print(
                f"{progress.day} day {progress.index + 1}/{progress.days}{catching_up} posture={progress.posture} "
                f"events={tally.events} deliberations={tally.deliberations} "
                f"vetoes={tally.count_of('vetoed')} orders={tally.count_of('ordered')} "
                f"equity={progress.equity:,.0f} buy-and-hold={progress.benchmark_equity:,.0f}"
                + "".join(f" {row.bot_id}={row.allocation:.0%}/{row.state}/{row.pnl:+,.0f}" for row in progress.bots),
                highlight=False,
                soft_wrap=True,
            )

    def __enter__(self) -> Self:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
