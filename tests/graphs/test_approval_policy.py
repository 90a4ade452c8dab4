"""The approval policy alone: which guarded orders wait for a person, and that a reduction never does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from graphs.deliberation.approval_policy import ApprovalPolicy
from graphs.deliberation.config import DeliberationConfig
from quant.risk_guard import GuardedOrder
from state.access import Access
from state.context import OperatingMode

BUY = GuardedOrder("AAPL", "buy", 20.0, "market", None, 95.0, 110.0, 100.0)  # notional 2,000
PAPER, LIVE = OperatingMode.PAPER, OperatingMode.LIVE


def why(policy: ApprovalPolicy, order: GuardedOrder = BUY, *, mode: OperatingMode = PAPER, bot: str = "default",
        reduces: bool = False, equity: float = 100_000.0) -> str | None:  # fmt: skip
    return policy.reason_to_park(order, equity=equity, mode=mode, bot=bot, reduces=reduces)


def test_the_defaults_park_nothing_in_paper_mode_and_everything_in_live_mode() -> None:
    policy = DeliberationConfig().approvals
    assert policy == ApprovalPolicy() and policy.timeout_s == 3600 and policy.approver_role is Access.TRADE
    assert why(policy) is None
    assert why(policy, mode=LIVE) == "live mode: every order waits for a person"
    assert why(ApprovalPolicy(in_live_mode=False), mode=LIVE) is None


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (ApprovalPolicy(all_orders=True), "the policy parks every order"),
        (ApprovalPolicy(min_notional=2_000.0), "notional 2,000.00 >= 2,000.00"),
        (ApprovalPolicy(min_size_pct=2.0), "size 2.00 % of equity >= 2 %"),
        (ApprovalPolicy(symbols=("MSFT", "AAPL")), "orders in AAPL wait for a person"),
        (ApprovalPolicy(bots=("default",)), "orders of bot default wait for a person"),
    ],
)
def test_each_rule_parks_an_order_it_covers(policy: ApprovalPolicy, expected: str) -> None:
    assert why(policy) == expected


@pytest.mark.parametrize(
    "policy",
    [ApprovalPolicy(min_notional=2_000.01), ApprovalPolicy(min_size_pct=2.5), ApprovalPolicy(symbols=("MSFT",)),
     ApprovalPolicy(bots=("growth",))],
)  # fmt: skip
def test_an_order_below_or_outside_every_rule_goes_on(policy: ApprovalPolicy) -> None:
    assert why(policy) is None


def test_an_order_that_only_reduces_exposure_is_never_parked() -> None:
    sell = GuardedOrder("AAPL", "sell", 20.0, "market", None, None, None, 100.0)
    strict = ApprovalPolicy(all_orders=True, min_notional=1.0, symbols=("AAPL",), bots=("default",))
    assert why(strict, sell, reduces=True, mode=LIVE) is None
    assert why(strict, sell, reduces=False) == "the policy parks every order"


def test_bad_thresholds_are_refused() -> None:
    for bad in ({"min_notional": 0}, {"min_size_pct": 101}, {"timeout_s": 0}, {"approver_role": "root"}, {"x": 1}):
        with pytest.raises(ValidationError):
            ApprovalPolicy.model_validate(bad)
