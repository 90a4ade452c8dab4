"""The limits a session loads with its context: the settings' with the risk-limit control's overrides, read
from the hot store with the durable fallback, so a change made by another process reaches the next session;
a hot copy that does not parse leaves the account reducing only. On both durable stores."""

from __future__ import annotations

from datetime import timedelta

from graphs.deliberation.config import DeliberationConfig
from quant.risk_guard import RiskLimits
from state.access import Access
from state.clock import SimulatedClock
from state.context import OperatingMode
from state.context_loader import LIMITS_KEY, ContextLoader, ContextPolicy
from state.hot import InMemoryHotStore
from state.store.base import DurableStore
from state.tiered_hot import TieredHot
from state.trading import TradingState
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import T0, Engine, Store
from tools.ops.limits import LimitControl

engine = contract.engine
store = contract.store

SETTINGS = RiskLimits(daily_loss_limit_pct=4.0, max_reference_age_s=120.0)  # the config's, not the defaults


def worker(durable: DurableStore, clock: SimulatedClock) -> tuple[ContextLoader, TieredHot]:
    """One process's session loader: its own hot store, mirrored to the shared durable store."""
    config = DeliberationConfig()
    policy = ContextPolicy(config.postures, config.vix_thresholds, config.failed_sessions_to_defensive,
                           OperatingMode.PAPER, starting_cash=100_000.0, risk_limits=SETTINGS)  # fmt: skip
    hot = TieredHot(InMemoryHotStore(clock), clock, mirror=durable)
    return ContextLoader(hot, durable, clock, policy), hot


async def test_without_overrides_a_session_takes_the_settings_limits(store: Store) -> None:
    loader, _ = worker(store, SimulatedClock(T0))
    context = await loader.load("AAPL")
    assert context.risk_limits == SETTINGS and context.trading.account.state is TradingState.ACTIVE


async def test_a_change_made_by_another_process_reaches_the_next_session(engine: Engine) -> None:
    clock = SimulatedClock(T0)
    async with engine.make() as worker_store, engine.make() as cli_store:
        loader, _ = worker(worker_store, clock)
        before = await loader.load("AAPL")
        # The CLI: another process with its own hot store (an in-process one never shared with the worker).
        cli_hot = TieredHot(InMemoryHotStore(clock), clock, mirror=cli_store)
        cli = LimitControl(cli_store, cli_hot, clock, SETTINGS)
        await cli.set("daily_loss_limit_pct", 1.5, actor="ana", reason="rough week", role=Access.TRADE)
        clock.set(T0 + timedelta(seconds=1))
        after = await loader.load("AAPL")

    assert before.risk_limits.daily_loss_limit_pct == 4.0
    assert after.risk_limits == RiskLimits(daily_loss_limit_pct=1.5, max_reference_age_s=120.0)  # settings kept
    assert f"{LIMITS_KEY}: durable" in after.source  # the worker's hot store lacked it: the durable copy served
    assert before.digest() != after.digest()  # the decision record shows which limits the session saw


async def test_the_hot_copy_wins_over_the_settings_it_overrides(store: Store) -> None:
    clock = SimulatedClock(T0)
    loader, hot = worker(store, clock)
    control = LimitControl(store, hot, clock, SETTINGS)
    await control.set("max_concentration_pct", 10.0, actor="ana", reason="spread it", role=Access.TRADE)
    await control.set("price_band_pct", 12.0, actor="lee", reason="wider band", role=Access.ADMIN)
    context = await loader.load("AAPL")
    assert context.risk_limits == RiskLimits(
        daily_loss_limit_pct=4.0, max_reference_age_s=120.0, max_concentration_pct=10.0, price_band_pct=12.0
    )
    assert context.source == "hot"


async def test_a_hot_copy_that_does_not_parse_leaves_the_account_reducing_only(store: Store) -> None:
    loader, hot = worker(store, SimulatedClock(T0))
    for corrupt in (
        {"overrides": {"daily_loss_limit_pct": {"value": "lots"}}},
        {"overrides": {}, "extra": 1},
        "not an object",
    ):
        await hot.set_value(LIMITS_KEY, corrupt)
        context = await loader.load("AAPL")
        account = context.trading.account
        assert account.state is TradingState.REDUCING, corrupt
        assert account.reason.startswith("the hot copy of the risk limits does not parse")
        assert context.risk_limits == SETTINGS
