"""The segregation-of-duties rules, one pure function shared by web, API and workflow."""

from __future__ import annotations

import uuid

from casework.segregation import CaseParties, TaskFacts, check_claim, check_decision

MAKER, CHECKER, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
APPROVE_TASK = uuid.uuid4()
RISK_TASK = uuid.uuid4()


def facts(
    task_id: uuid.UUID = APPROVE_TASK,
    *,
    role: str = "ops_manager",
    status: str = "claimed",
    excluded: frozenset[uuid.UUID] = frozenset(),
) -> TaskFacts:
    return TaskFacts(
        task_id=task_id,
        task_key="approve",
        status=status,
        candidate_role=role,
        allowed_outcomes=("approve", "reject"),
        reason_required_for=("reject",),
        excluded_actors=excluded,
    )


PARTIES = CaseParties(maker_id=MAKER, editor_ids=frozenset({MAKER}))


def test_checker_may_approve() -> None:
    assert check_decision(facts(), PARTIES, CHECKER, {"ops_manager"}, "approve", None) is None


def test_checker_cannot_be_maker_even_holding_the_checker_role_or_admin() -> None:
    refusal = check_decision(
        facts(), PARTIES, MAKER, {"ops_manager", "product_manager", "admin"}, "approve", None
    )
    assert refusal is not None and refusal.code == "maker_cannot_decide"
    assert refusal.kind == "forbidden"


def test_editor_cannot_decide() -> None:
    parties = CaseParties(maker_id=MAKER, editor_ids=frozenset({MAKER, OTHER}))
    refusal = check_decision(facts(), parties, OTHER, {"ops_manager"}, "approve", None)
    assert refusal is not None and refusal.code == "editor_cannot_decide"


def test_no_person_decides_two_steps_of_one_case() -> None:
    parties = CaseParties(maker_id=MAKER, deciders={RISK_TASK: CHECKER})
    refusal = check_decision(
        facts(), parties, CHECKER, {"ops_manager", "risk_manager"}, "approve", None
    )
    assert refusal is not None and refusal.code == "decided_other_step"


def test_a_decided_task_cannot_be_decided_again() -> None:
    parties = CaseParties(maker_id=MAKER, deciders={APPROVE_TASK: CHECKER})
    refusal = check_decision(facts(), parties, CHECKER, {"ops_manager"}, "approve", None)
    assert refusal is not None and refusal.kind == "conflict"


def test_role_outcome_and_reason_are_checked() -> None:
    assert (
        check_decision(facts(), PARTIES, CHECKER, {"product_manager"}, "approve", None).code
        == "missing_role"
    )  # type: ignore[union-attr]
    assert (
        check_decision(facts(), PARTIES, CHECKER, {"ops_manager"}, "maybe", None).code
        == "outcome_not_allowed"
    )  # type: ignore[union-attr]
    assert (
        check_decision(facts(), PARTIES, CHECKER, {"ops_manager"}, "reject", "  ").code
        == "reason_required"
    )  # type: ignore[union-attr]
    assert (
        check_decision(facts(), PARTIES, CHECKER, {"ops_manager"}, "reject", "policy_breach")
        is None
    )


def test_excluded_actor_and_closed_task_cannot_be_claimed() -> None:
    assert (
        check_claim(facts(excluded=frozenset({OTHER})), PARTIES, OTHER, {"ops_manager"}).code
        == "excluded"
    )  # type: ignore[union-attr]
    closed = check_claim(facts(status="done"), PARTIES, CHECKER, {"ops_manager"})
    assert closed is not None and closed.kind == "conflict"
