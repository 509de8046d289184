"""Need-to-know's redactions, one reader at a time (the policy's answers are in the truth
table; the routes that use them in tests/integration/test_need_to_know.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aml.commands.restrictions import RestrictionPublic
from casework.need_to_know import MLRO_DECIDED, MLRO_EVENT, REFER_TO_COMPLIANCE, NeedToKnow
from models.audit import AuditEvent
from models.cases import Case, Decision

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SUPPORT = NeedToKnow(restriction_detail=False, aml_events=False, aml_narrative=False, sar=False)
ENGINEER = NeedToKnow(restriction_detail=False, aml_events=True, aml_narrative=False, sar=False)
INVESTIGATOR = NeedToKnow(restriction_detail=True, aml_events=True, aml_narrative=True, sar=False)
MLRO = NeedToKnow(restriction_detail=True, aml_events=True, aml_narrative=True, sar=True)


def _event(action: str, *, workflow_id: str | None = None, **details: object) -> AuditEvent:
    return AuditEvent(
        id=1,
        occurred_at=NOW,
        actor="someone",
        action=action,
        outcome="success",
        object_type="case",
        object_id=str(uuid.uuid4()),
        reason="Words of the investigation that must not travel.",
        workflow_id=workflow_id,
        details=dict(details),
        prev_hash="0" * 64,
        hash="1" * 64,
    )


def _restriction(status: str = "active") -> RestrictionPublic:
    return RestrictionPublic(
        id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        iban="DE89370400440532013000",
        currency="EUR",
        customer_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        case_reference="AML-1030",
        kind="block_outgoing",
        kind_label="outgoing payments blocked",
        reason="Unexplained cash: outgoing payments blocked.",
        created_by="aml.ines",
        created_at=NOW,
        status="active" if status == "active" else "lifted",
        lifted_at=None if status == "active" else NOW,
        lift_change_id=None,
    )


def test_without_details_a_restriction_is_refer_to_compliance_and_lifted_ones_gone() -> None:
    shown = SUPPORT.restrictions([_restriction(), _restriction("lifted")])
    assert [(r.kind_label, r.status) for r in shown] == [(REFER_TO_COMPLIANCE, "active")]
    [r] = shown
    assert (r.reason, r.case_id, r.case_reference, r.created_by) == (None, None, None, None)
    assert r.kind == "block_outgoing"  # core banking still knows what is blocked
    assert [x.reason for x in INVESTIGATOR.restrictions([_restriction()])] != [None]


def test_support_sees_no_aml_event_and_other_events_untouched() -> None:
    aml = _event("account.restricted", workflow_id="aml-1")
    other = _event("customer.updated")
    assert SUPPORT.timeline([aml, other]) == [other]
    assert SUPPORT.event(_event("task.decided", workflow_id="aml-2", outcome="escalate")) is None


def test_engineers_see_an_aml_events_facts_not_its_words() -> None:
    event = _event(
        "task.decided", workflow_id="aml-1", outcome="escalate", reason_code="x", note="why"
    )
    shown = ENGINEER.event(event)
    assert shown is not None and shown.action == "task.decided"
    assert shown.reason is None and shown.details == {"outcome": "escalate"}
    assert event.reason is not None and "note" in event.details  # the loaded row is untouched


def test_a_sar_decision_is_only_that_the_mlro_decided_unless_you_read_sars() -> None:
    filed = _event("aml.sar_filed", workflow_id="aml-1", reason_code="fraud", report="SAR-1")
    closed = _event("aml.case_closed", workflow_id="aml-1", outcome="sar_filed")
    for reader in (ENGINEER, INVESTIGATOR):
        shown = reader.event(filed)
        assert shown is not None
        assert (shown.action, shown.reason, shown.details) == (MLRO_EVENT, None, {})
        closing = reader.event(closed)
        assert closing is not None and closing.details == {"outcome": MLRO_DECIDED}
    assert MLRO.event(filed) is filed


def test_case_outcomes_and_decisions_hide_the_sar_and_the_narrative() -> None:
    case = Case(
        reference="AML-1030",
        case_type="aml",
        title="AML alerts",
        subject_type="customer",
        subject_id="c",
        workflow_id="aml-1",
        outcome="sar_filed",
        outcome_reason="The rationale.",
    )
    assert (INVESTIGATOR.case(case).outcome, INVESTIGATOR.case(case).outcome_reason) == (
        MLRO_DECIDED,
        None,
    )
    assert MLRO.case(case) is case
    decision = Decision(
        case_id=uuid.uuid4(),
        task_id=uuid.uuid4(),
        outcome="sar",
        reason_code="fraud",
        comment="The rationale.",
        actor_id=uuid.uuid4(),
    )
    hidden = INVESTIGATOR.decision("aml", decision)
    assert (hidden.outcome, hidden.reason_code, hidden.comment) == (MLRO_DECIDED, None, None)
    escalation = Decision(
        case_id=uuid.uuid4(),
        task_id=uuid.uuid4(),
        outcome="escalate",
        comment="Twelve new senders this week.",
        actor_id=uuid.uuid4(),
    )
    assert ENGINEER.decision("aml", escalation).comment is None
    assert ENGINEER.decision("aml", escalation).outcome == "escalate"
    assert INVESTIGATOR.decision("aml", escalation) is escalation
    # Other case types are not AML's business here.
    assert SUPPORT.decision("onboarding", escalation) is escalation


def test_a_restriction_lift_is_a_change_only_detail_readers_see() -> None:
    assert not ENGINEER.sees_change_target("restriction")
    assert ENGINEER.sees_change_target("fee")
    assert INVESTIGATOR.sees_change_target("restriction")
