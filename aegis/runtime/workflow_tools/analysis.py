"""The workflow's read-only analyses: the bots as a portfolio, a risk profile's allocation, a backtest, an eval.

They call the jobs the CLI calls (`aegis portfolio`, `aegis backtest`, `aegis eval run`); the heavy ones run in
a worker thread. Their results cite what they rest on: the bots' daily marks, the bundled data and the
backtest's window, the eval set and the run folder written.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aegis.runtime.backtest_job import BacktestInputError, BacktestOptions, run_backtest_job
from aegis.runtime.workflow_tools.allocation import NoAllocationError, profile_allocation, proposal_data
from aegis.settings import Settings
from quant.portfolio import RiskProfile
from state.store.base import DurableStore
from tools.ops.bots import BotControl
from tools.registry.catalog import BacktestArgs, EvalArgs, ProfileArgs
from tools.registry.spec import Caller, ToolError, ToolResult

EVAL_SETS = Path("evals") / "sets"  # where `aegis eval build` writes the sets (relative to the working folder)


def _pct(value: float) -> str:
    return f"{value:.1%}"


class AnalysisTools:
    def __init__(self, store: DurableStore, bots: BotControl, settings: Settings, eval_sets: Path = EVAL_SETS) -> None:
        self._store, self._bots, self._settings, self._eval_sets = store, bots, settings, eval_sets

    def eval_sets(self) -> list[str]:
        return sorted(p.name for p in self._eval_sets.iterdir() if p.is_dir()) if self._eval_sets.is_dir() else []

    async def _analysis(self, profiles: tuple[RiskProfile, ...]) -> Any:
        from aegis.runtime.bot_portfolio import bot_portfolio  # pandas, imported when a request needs it

        try:
            return await bot_portfolio(self._store, self._settings.rebalance, profiles)
        except ValueError as exc:
            raise ToolError(str(exc)) from None

    async def analyse(self, args: BaseModel, caller: Caller) -> ToolResult:
        analysis = await self._analysis(tuple(RiskProfile))
        card = analysis.scorecard
        bots = [str(b) for b in card.index]
        risk = {str(k): round(float(v), 4) for k, v in analysis.risk_contributions.items()}
        data = {
            "bots": bots,
            "current_weights": {str(k): round(float(v), 4) for k, v in analysis.current_weights.items()},
            "risk_contributions": risk,
            "diversification_ratio": round(float(analysis.diversification_ratio), 4),
            "current_sharpe": round(float(analysis.current.sharpe), 4),
            "proposals": {
                str(p): {
                    "sharpe_improvement": round(float(x.sharpe_improvement), 4),
                    "rebalance": bool(x.rebalance),
                    "reason": x.reason,
                }
                for p, x in analysis.proposals.items()
            },
            "notes": list(analysis.notes),
        }
        summary = (f"{len(bots)} bots, Sharpe {analysis.current.sharpe:.2f}, diversification ratio "
                   f"{analysis.diversification_ratio:.2f}; risk shares "
                   + ", ".join(f"{b} {_pct(v)}" for b, v in risk.items()))  # fmt: skip
        return ToolResult(summary, data, tuple(f"bot_days:{b}" for b in bots))

    async def propose(self, args: BaseModel, caller: Caller) -> ToolResult:
        """What `portfolio.rebalance` at this profile would apply to the running bots, and whether the rules'
        improvement threshold would let the scheduled rebalancing apply it."""
        assert isinstance(args, ProfileArgs)
        found = await profile_allocation(self._store, self._bots, self._settings.rebalance, args.profile)
        threshold = self._settings.rebalance.min_sharpe_improvement
        try:
            data = proposal_data(found, args.profile, threshold)
        except NoAllocationError as exc:
            raise ToolError(str(exc)) from None
        assert found.proposal is not None
        proposal, before, after = found.proposal, data["before"], data["after"]
        shares = ", ".join(f"{bot} {before.get(bot, 0):.1f} % -> {share:.1f} %" for bot, share in after.items())
        kept = f"; stopped, keeping theirs: {', '.join(found.stopped)}" if found.stopped else ""
        summary = (f"{args.profile}: {shares}; Sharpe {proposal.before.sharpe:.2f} -> {proposal.after.sharpe:.2f} "
                   f"({proposal.sharpe_improvement:+.1%}, threshold {threshold:.0%}){kept}")  # fmt: skip
        return ToolResult(summary, data, tuple(f"bot_days:{b}" for b in after))

    async def backtest(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, BacktestArgs)
        options = BacktestOptions(args.strategy, (args.symbol.upper(),), args.start, args.end)
        try:
            report = await asyncio.to_thread(run_backtest_job, self._settings, options)
        except BacktestInputError as exc:
            raise ToolError(str(exc)) from None
        m, b = report.metrics, report.benchmark_metrics
        data = {"strategy": args.strategy, "symbol": args.symbol.upper(), "start": report.dates[0].isoformat(),
                "end": report.dates[-1].isoformat(), "total_return": round(m.total_return, 4),
                "sharpe": round(m.sharpe, 4), "max_drawdown": round(m.max_drawdown, 4),
                "trades": m.trades.trades,
                "buy_and_hold_return": round(b.total_return, 4)}  # fmt: skip
        summary = (f"{args.strategy} on {args.symbol.upper()} {data['start']}..{data['end']}: return "
                   f"{m.total_return:+.2%} (buy-and-hold {b.total_return:+.2%}), Sharpe {m.sharpe:.2f}, "
                   f"max drawdown {m.max_drawdown:.2%}")  # fmt: skip
        return ToolResult(summary, data, (f"bars:{args.symbol.upper()}:{data['start']}..{data['end']}",))

    async def run_eval(self, args: BaseModel, caller: Caller) -> ToolResult:
        assert isinstance(args, EvalArgs)
        from evals.runner import RunOptions, run_set  # the eval suite, only when asked
        from evals.scores import score_run

        folder = self._eval_sets / args.set_name
        if not (folder / "tape.jsonl").is_file():
            raise ToolError(f"no eval set {args.set_name!r} (sets: {', '.join(self.eval_sets()) or 'none built'})")
        out = self._settings.data_dir / "workflow-evals" / caller.request_id
        decisions = await asyncio.to_thread(run_set, folder, out, RunOptions(progress=False))
        scores, _ = await asyncio.to_thread(score_run, folder, out)
        outcomes = Counter(str(d.outcome) for d in decisions)
        shown = {name: s.value for name, s in scores.items() if s.value is not None}
        summary = (
            f"{args.set_name}: {len(decisions)} decisions ("
            + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            + ")"
            + "".join(f", {k} {v:.3g}" for k, v in list(shown.items())[:4])
        )
        return ToolResult(summary, {"outcomes": dict(outcomes), "scores": shown, "run": str(out)},
                          (f"eval_set:{args.set_name}", f"run:{out}"))  # fmt: skip
