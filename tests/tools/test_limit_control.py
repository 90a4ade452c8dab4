"""The risk-limit control on both durable stores (the `engine` and `store` fixtures of `test_store_contract`:
a fresh SQLite file and a fresh PostgreSQL schema): a change recorded with its audit entry, its history, the
hot copy sessions read, the roles (tighten with trade, loosen with admin), refused values that write nothing,
and the overrides surviving a restart."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from quant.risk_guard import RiskLimits
from state.access import Access, AccessDeniedError
from state.clock import SimulatedClock
from state.context_loader import LIMITS_KEY
from state.hot import InMemoryHotStore
from state.risk_limits import LimitChange, LimitOverrides
from state.store.base import AuditEntry, DurableStore, StoreConflictError
from state.tiered_hot import TieredHot
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import T0, Engine, Store, at
from tools.ops.limits import ADJUSTABLE, LimitControl, UnknownLimitError, loosens, needed_role

# The contract's fixtures: every test that asks for `engine` or `store` runs on SQLite and on PostgreSQL.
engine = contract.engine
store = contract.store

SETTINGS = RiskLimits()  # daily loss 3 %, concentration 20 %, gross exposure 100 %, price band 10 %
TRADE, ADMIN, READ = Access.TRADE, Access.ADMIN, Access.READ


def control_on(durable: DurableStore, clock: SimulatedClock | None = None) -> tuple[LimitControl, TieredHot]:
    clock = clock or SimulatedClock(T0)
    hot = TieredHot(InMemoryHotStore(clock), clock, mirror=durable)
    return LimitControl(durable, hot, clock, SETTINGS), hot


async def limit_audit(durable: DurableStore) -> list[dict[str, Any]]:
    """The control's audit entries, newest first."""
    return [e for e in await durable.audit_log(1000) if e["action"].startswith("risk_limit_")]


async def hot_limits(hot: TieredHot) -> RiskLimits | None:
    """The limits a session would take from the hot store itself (not the durable fallback)."""
    value = await hot.hot.get_value(LIMITS_KEY)
    return None if value is None else LimitOverrides.model_validate(value).applied(SETTINGS)


# ---- a change, its record, its audit entry, its hot copy -------------------------------------------


async def test_a_tightening_is_recorded_audited_and_mirrored(store: Store) -> None:
    control, hot = control_on(store)
    change = await control.set("daily_loss_limit_pct", 2.0, actor="ana", reason="rough week", role=TRADE)

    assert (change.name, change.version, change.value, change.before, change.after) == (
        "daily_loss_limit_pct", 1, 2.0, 3.0, 2.0
    )  # fmt: skip
    assert (change.setting, change.actor, change.reason, change.role) == (3.0, "ana", "rough week", TRADE)
    assert change.at == T0
    assert change.moved and not change.is_reset
    assert await control.current() == RiskLimits(daily_loss_limit_pct=2.0)
    assert await control.history() == [change] == await control.history("daily_loss_limit_pct")
    assert await control.history("price_band_pct") == []

    (entry,) = await limit_audit(store)
    assert (entry["actor"], entry["action"]) == ("ana", "risk_limit_set")
    assert entry["detail"] == {
        "limit": "daily_loss_limit_pct", "from": 3.0, "to": 2.0, "setting": 3.0, "loosened": False,
        "role": "trade", "reason": "rough week",
    }  # fmt: skip

    assert await hot_limits(hot) == RiskLimits(daily_loss_limit_pct=2.0)
    durable_copy = await store.get_value(LIMITS_KEY)  # the sessions' fallback while the hot store is away
    assert durable_copy is not None and LimitOverrides.model_validate(durable_copy[0]).applied(SETTINGS) == (
        RiskLimits(daily_loss_limit_pct=2.0)
    )


async def test_each_limit_keeps_its_own_numbered_history(store: Store) -> None:
    clock = SimulatedClock(T0)
    control, _ = control_on(store, clock)
    await control.set("daily_loss_limit_pct", 2.5, actor="ana", reason="one", role=TRADE)
    clock.set(at(1))
    await control.set("max_concentration_pct", 15.0, actor="bo", reason="two", role=TRADE)
    clock.set(at(2))
    await control.set("daily_loss_limit_pct", 2.0, actor="ana", reason="three", role=TRADE)

    every = await control.history()
    assert [(c.name, c.version, c.reason) for c in every] == [
        ("daily_loss_limit_pct", 1, "one"), ("max_concentration_pct", 1, "two"), ("daily_loss_limit_pct", 2, "three")
    ]  # fmt: skip
    assert [c.after for c in await control.history("daily_loss_limit_pct")] == [2.5, 2.0]
    assert [c.reason for c in await control.history(last=2)] == ["two", "three"]
    assert await control.current() == RiskLimits(daily_loss_limit_pct=2.0, max_concentration_pct=15.0)
    states = {s.name: s for s in await control.states()}
    assert list(states) == list(ADJUSTABLE)
    assert (states["daily_loss_limit_pct"].in_force, states["daily_loss_limit_pct"].setting) == (2.0, 3.0)
    assert states["daily_loss_limit_pct"].last_change == every[2] and states["daily_loss_limit_pct"].overridden
    assert states["price_band_pct"].last_change is None and states["price_band_pct"].in_force == 10.0


# ---- roles ---------------------------------------------------------------------------------------------


async def test_loosening_is_refused_to_the_trade_role_and_writes_nothing(store: Store) -> None:
    control, hot = control_on(store)
    await control.set("daily_loss_limit_pct", 2.0, actor="ana", reason="tighten", role=TRADE)

    with pytest.raises(AccessDeniedError, match="needs the admin role; trade does not allow it") as refused:
        await control.set("daily_loss_limit_pct", 2.5, actor="ana", reason="loosen", role=TRADE)
    assert refused.value.needed is Access.ADMIN and "\n" not in str(refused.value)
    assert len(await control.history()) == 1 and len(await limit_audit(store)) == 1
    assert await hot_limits(hot) == RiskLimits(daily_loss_limit_pct=2.0)

    change = await control.set("daily_loss_limit_pct", 5.0, actor="lee", reason="desk lead", role=ADMIN)
    assert (change.before, change.after, change.role) == (2.0, 5.0, ADMIN)  # past the setting too
    assert (await limit_audit(store))[0]["detail"]["loosened"] is True
    assert await hot_limits(hot) == RiskLimits(daily_loss_limit_pct=5.0)


async def test_the_read_role_changes_nothing(store: Store) -> None:
    control, _ = control_on(store)
    with pytest.raises(AccessDeniedError, match="needs the trade role; read does not allow it"):
        await control.set("price_band_pct", 5.0, actor="viewer", reason="tighten", role=READ)
    with pytest.raises(AccessDeniedError, match="needs the trade role"):
        await control.set("price_band_pct", 10.0, actor="viewer", reason="same value", role=READ)
    assert await control.history() == [] and await limit_audit(store) == []


async def test_a_reset_is_a_tightening_or_a_loosening_like_any_other(store: Store) -> None:
    control, hot = control_on(store)
    await control.set("max_gross_exposure_pct", 60.0, actor="ana", reason="halve it", role=TRADE)
    with pytest.raises(AccessDeniedError, match="resetting max_gross_exposure_pct from 60 to 100 % needs the admin"):
        await control.reset("max_gross_exposure_pct", actor="ana", reason="back", role=TRADE)

    reset = await control.reset("max_gross_exposure_pct", actor="lee", reason="back", role=ADMIN)
    assert (reset.value, reset.before, reset.after, reset.version, reset.is_reset) == (None, 60.0, 100.0, 2, True)
    assert await control.current() == SETTINGS and await hot_limits(hot) == SETTINGS
    assert (await limit_audit(store))[0]["action"] == "risk_limit_reset"

    await control.set("max_gross_exposure_pct", 150.0, actor="lee", reason="leverage", role=ADMIN)
    back = await control.reset("max_gross_exposure_pct", actor="ana", reason="too much", role=TRADE)  # tightens
    assert (back.before, back.after) == (150.0, 100.0) and await control.current() == SETTINGS


async def test_the_value_in_force_writes_nothing(store: Store) -> None:
    control, _ = control_on(store)
    same = await control.set("daily_loss_limit_pct", 3.0, actor="ana", reason="as is", role=TRADE)
    nothing = await control.reset("daily_loss_limit_pct", actor="ana", reason="none to end", role=TRADE)
    assert not same.moved and not nothing.moved
    await control.set("daily_loss_limit_pct", 2.0, actor="ana", reason="tighten", role=TRADE)
    again = await control.set("daily_loss_limit_pct", 2.0, actor="ana", reason="retried step", role=TRADE)
    assert not again.moved and again.after == 2.0
    assert [c.reason for c in await control.history()] == ["tighten"] and len(await limit_audit(store)) == 1


# ---- refused input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("daily_loss_limit_pct", 0.0, "daily_loss_limit_pct must be a positive finite percent, got 0.0"),
        ("max_concentration_pct", -5.0, "max_concentration_pct must be a positive finite percent, got -5.0"),
        ("price_band_pct", math.nan, "price_band_pct must be a finite number of percent, got nan"),
        ("max_gross_exposure_pct", math.inf, "must be a finite number of percent, got inf"),
        ("daily_loss_limit_pct", True, "must be a finite number of percent, got True"),
        ("daily_loss_limit_pct", "2", "must be a finite number of percent, got '2'"),
        ("fee_buffer_pct", 1.0, "unknown risk limit 'fee_buffer_pct' (limits: daily_loss_limit_pct, "),
        ("max_reference_age_s", 60.0, "unknown risk limit 'max_reference_age_s'"),
    ],
)
async def test_a_value_the_limits_refuse_is_one_line_and_writes_nothing(
    store: Store, name: str, value: Any, message: str
) -> None:
    control, hot = control_on(store)
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        await control.set(name, value, actor="lee", reason="x", role=ADMIN)
    assert "\n" not in str(refused.value)
    assert await control.history() == [] and await limit_audit(store) == []
    assert await hot.hot.get_value(LIMITS_KEY) is None


async def test_a_change_needs_an_actor_and_a_reason(store: Store) -> None:
    control, _ = control_on(store)
    with pytest.raises(ValueError, match="needs an actor and a reason"):
        await control.set("price_band_pct", 5.0, actor="ana", reason=" ", role=TRADE)
    with pytest.raises(UnknownLimitError):
        await control.history("fee_buffer_pct")
    assert await control.history() == []


# ---- durability ----------------------------------------------------------------------------------------


async def test_a_restart_keeps_the_overrides_and_the_hot_copy_learns_them_at_publish(engine: Engine) -> None:
    async with engine.make() as first:
        control, _ = control_on(first)
        await control.set("price_band_pct", 4.0, actor="ana", reason="tight band", role=TRADE)
    async with engine.make() as again:
        control, hot = control_on(again)  # a new process: its hot store never saw the change
        assert await control.current() == RiskLimits(price_band_pct=4.0)
        assert await hot.hot.get_value(LIMITS_KEY) is None
        published = await control.publish()
        assert published.applied(SETTINGS) == RiskLimits(price_band_pct=4.0) == await hot_limits(hot)
        assert [c.reason for c in await control.history()] == ["tight band"]


async def test_two_writers_of_one_limit_version_cannot_both_win(store: Store) -> None:
    def change(after: float, reason: str) -> LimitChange:
        return LimitChange(name="daily_loss_limit_pct", version=1, value=after, before=3.0, after=after,
                           setting=3.0, actor="ana", reason=reason, role=TRADE, at=T0)  # fmt: skip

    await store.save_risk_limit_change(change(2.0, "first"), AuditEntry("ana", "risk_limit_set", {}))
    with pytest.raises(StoreConflictError, match="changed meanwhile"):
        await store.save_risk_limit_change(change(2.5, "second"), AuditEntry("bo", "risk_limit_set", {}))
    assert [c.reason for c in await store.risk_limit_changes()] == ["first"]
    assert len(await limit_audit(store)) == 1  # the refused change's audit entry was not written either


async def test_the_role_a_change_needs_is_judged_against_the_limits_in_force(store: Store) -> None:
    control, _ = control_on(store)
    assert await control.required_role("daily_loss_limit_pct", 2.0) is TRADE
    assert await control.required_role("daily_loss_limit_pct", 3.5) is ADMIN
    assert await control.required_role("daily_loss_limit_pct", None) is TRADE  # the setting: no change
    await control.set("daily_loss_limit_pct", 2.0, actor="ana", reason="tighten", role=TRADE)
    assert await control.required_role("daily_loss_limit_pct", 2.5) is ADMIN  # under the setting, above 2 %
    assert await control.required_role("daily_loss_limit_pct", None) is ADMIN  # back to 3 % loosens


# ---- the pure helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ADJUSTABLE)
def test_every_adjustable_limit_is_looser_when_higher(name: str) -> None:
    assert loosens(name, 2.0, 3.0) and not loosens(name, 3.0, 2.0) and not loosens(name, 2.0, 2.0)
    assert needed_role(name, 2.0, 3.0) is ADMIN and needed_role(name, 3.0, 2.0) is TRADE


def test_loosens_refuses_a_limit_an_operator_may_not_change() -> None:
    with pytest.raises(UnknownLimitError, match="unknown risk limit 'limit_share_window'"):
        loosens("limit_share_window", 20, 10)


async def test_sync_rebuilds_a_copy_another_process_left_stale(engine: Engine) -> None:
    clock = SimulatedClock(T0)
    async with engine.make() as worker_store, engine.make() as cli_store:
        embedded = TieredHot(InMemoryHotStore(clock), clock)  # an in-process hot store, no durable mirror
        worker = LimitControl(worker_store, embedded, clock, SETTINGS)
        await worker.publish()
        cli, _ = control_on(cli_store, clock)
        await cli.set("max_concentration_pct", 12.0, actor="ana", reason="spread it", role=TRADE)

        stale = LimitOverrides.model_validate(await embedded.get_value(LIMITS_KEY)).applied(SETTINGS)
        assert stale == SETTINGS  # the worker's sessions still read the copy it published at start
        assert await worker.sync() is True
        assert await hot_limits(embedded) == RiskLimits(max_concentration_pct=12.0)
        assert await worker.sync() is False  # in step: nothing rewritten
