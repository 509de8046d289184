"""The pure rules of a role change: what is valid, and when a risk manager must approve too."""

from __future__ import annotations

import uuid

import pytest

from changes.rules import (
    ROLE_CONFLICT_TIER,
    ROLE_GRANT,
    ROLE_GRANT_APPROVAL,
    ROLE_GRANT_RISK_APPROVAL,
    approval_specs,
    kind,
    plan_role_change,
)
from identity.policy import AccessPolicy
from shared.errors import Invalid

POLICY = AccessPolicy.model_validate({})  # the defaults


def test_a_plain_grant_needs_one_other_admin() -> None:
    result = plan_role_change(["support"], ["aml_analyst"], [], conflicts=POLICY.conflicts_in)
    assert result.tier == "standard"
    assert result.before == {"roles": ["support"]}
    assert result.after["roles"] == ["aml_analyst", "support"]
    assert result.after["conflicts"] == []


def test_a_grant_creating_a_conflicting_combination_needs_a_risk_manager_too() -> None:
    result = plan_role_change(
        ["product_manager"], ["ops_manager"], [], conflicts=POLICY.conflicts_in
    )
    assert result.tier == ROLE_CONFLICT_TIER
    assert result.after["conflicts"] == ["ops_manager + product_manager"]
    assert "risk manager" in result.approvers


def test_a_conflict_the_person_already_had_is_not_created_again() -> None:
    result = plan_role_change(
        ["aml_analyst", "mlro"], ["support"], [], conflicts=POLICY.conflicts_in
    )
    assert result.tier == "standard"


def test_removing_one_role_of_a_conflict_needs_no_risk_manager() -> None:
    result = plan_role_change(
        ["product_manager", "ops_manager"], [], ["ops_manager"], conflicts=POLICY.conflicts_in
    )
    assert result.tier == "standard" and result.after["roles"] == ["product_manager"]


@pytest.mark.parametrize(
    ("held", "add", "remove", "errors"),
    [
        (["support"], ["support"], [], {"add": "already held: support"}),
        (["support"], [], ["mlro"], {"remove": "not held: mlro"}),
        (["support"], [], [], {"add": "add or remove at least one role"}),
        (["support"], ["mlro"], ["mlro"], {"remove": "both added and removed: mlro"}),
    ],
)
def test_an_invalid_role_change_names_each_field(
    held: list[str], add: list[str], remove: list[str], errors: dict[str, str]
) -> None:
    with pytest.raises(Invalid) as refused:
        plan_role_change(held, add, remove, conflicts=POLICY.conflicts_in)
    assert refused.value.fields == errors


def test_an_end_date_applies_to_added_roles_only() -> None:
    with pytest.raises(Invalid) as refused:
        plan_role_change(
            ["support", "mlro"], [], ["mlro"], conflicts=POLICY.conflicts_in, ends_at="2030-01-01"
        )
    assert "ends_at" in refused.value.fields


def test_the_maker_and_the_grantee_are_excluded_from_every_approval() -> None:
    maker, grantee = uuid.uuid4(), uuid.uuid4()
    specs = approval_specs(
        "change-x",
        "CHG-1",
        "Lena",
        ROLE_CONFLICT_TIER,
        maker,
        3600,
        target_type=ROLE_GRANT,
        grantee_id=grantee,
    )
    assert [s.kind for s in specs] == [ROLE_GRANT_APPROVAL, ROLE_GRANT_RISK_APPROVAL]
    assert [s.candidate_role for s in specs] == ["admin", "risk_manager"]
    assert all(set(s.excluded_actors) == {maker, grantee} for s in specs)


def test_approving_a_role_change_needs_a_fresh_second_factor() -> None:
    assert kind(ROLE_GRANT_APPROVAL).step_up_for == ("approve",)
    assert kind(ROLE_GRANT_RISK_APPROVAL).step_up_for == ("approve",)
