"""Validating a proposal: per-field errors, no-op refusal, and the approval tier."""

from __future__ import annotations

from decimal import Decimal

import pytest

from changes.rules import plan_change
from shared.errors import Invalid

FEE = {"fixed_amount": "2.00", "percent": "0.5000", "min_amount": None, "max_amount": "10.00"}
LIMIT = {"amount": "1000.00"}
RATIO = Decimal("0.5")


def test_limit_raise_over_half_is_elevated() -> None:
    plan = plan_change("limit", "EUR", LIMIT, {"amount": "1500.01"}, elevated_ratio=RATIO)
    assert plan.tier == "elevated"
    assert plan.tier_reason and "risk manager" in plan.tier_reason


@pytest.mark.parametrize("amount", ["1500.00", "1200", "10", "0"])
def test_limit_changes_up_to_half_or_down_are_standard(amount: str) -> None:
    assert (
        plan_change("limit", "EUR", LIMIT, {"amount": amount}, elevated_ratio=RATIO).tier
        == "standard"
    )


def test_fee_changes_are_standard_and_diffed() -> None:
    plan = plan_change(
        "fee", "EUR", FEE, {"fixed_amount": "2.5", "percent": "0.5"}, elevated_ratio=RATIO
    )
    assert plan.tier == "standard"
    assert plan.changed == ["fixed_amount"]
    assert plan.after["fixed_amount"] == "2.50"
    assert plan.before["fixed_amount"] == "2.00"


def test_each_bad_field_is_named() -> None:
    with pytest.raises(Invalid) as caught:
        plan_change(
            "fee",
            "EUR",
            FEE,
            {"fixed_amount": "1.234", "percent": "101", "colour": "red"},
            elevated_ratio=RATIO,
        )
    fields = caught.value.fields
    assert set(fields) == {"changes.fixed_amount", "changes.percent", "changes.colour"}
    assert "2 decimal places" in fields["changes.fixed_amount"]


def test_min_above_max_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        plan_change("fee", "EUR", FEE, {"min_amount": "20"}, elevated_ratio=RATIO)
    assert "changes.min_amount" in caught.value.fields


def test_a_proposal_that_changes_nothing_is_refused() -> None:
    with pytest.raises(Invalid, match="changes nothing"):
        plan_change("limit", "EUR", LIMIT, {"amount": "1000"}, elevated_ratio=RATIO)
