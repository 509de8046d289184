"""OnboardingWorkflow on the time-skipping server: routing, four-eyes, requests for
information with their deadline and reminders, KYB child screening, and approval effects."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError

from casework import tasks
from core.db import Database
from models.applications import DocumentsSubmission
from models.cases import Case, Task
from models.onboarding import (
    Account,
    ApplicantMessage,
    Application,
    ApplicationDocument,
    ApplicationParty,
    Customer,
)
from models.onboarding_io import OnboardingState
from models.workflow_io import DecisionInput
from onboarding.commands import information, intake
from shared.errors import Conflict, Forbidden
from shared.iban import is_valid_iban
from tests.helpers import Staff, eventually, new_staff, task_of
from tests.onboarding_data import (
    business,
    clean_individual,
    listed_individual,
    medium_individual,
    parsed,
    passport,
)
from tests.workflows.conftest import Skipping
from workflows.onboarding import OnboardingWorkflow

pytestmark = pytest.mark.usefixtures("onboarding_ready")


async def _submit(s: Skipping, db: Database, payload: dict[str, Any]) -> intake.ApplicationAccepted:
    service = await new_staff(db, "upstream_system", prefix="svc")
    return await intake.submit_application(db, s.client, s.settings, service.actor, parsed(payload))


async def _result(s: Skipping, workflow_id: str) -> OnboardingState:
    return await s.client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id).result()


async def _state(s: Skipping, workflow_id: str) -> OnboardingState:
    return await s.client.get_workflow_handle(workflow_id).query(OnboardingWorkflow.current_state)


async def _application(db: Database, application_id: uuid.UUID) -> Application:
    async with db.session() as session:
        found = await session.get(Application, application_id)
        assert found is not None
        return found


async def _decide(
    s: Skipping,
    db: Database,
    who: Staff,
    task: Task,
    outcome: str,
    reason: str | None = None,
    comment: str | None = None,
) -> None:
    await tasks.claim_task(db, who.actor, task.id)
    await tasks.decide_task(
        db, s.client, who.actor, task.id, outcome=outcome, reason=reason, comment=comment
    )


async def test_clean_individual_is_approved_automatically_with_customer_and_account(
    skipping: Skipping, db: Database
) -> None:
    accepted = await _submit(skipping, db, clean_individual())
    assert accepted.status == "received" and accepted.created

    state = await _result(skipping, accepted.workflow_id)
    assert (state.status, state.route, state.risk_level) == ("approved", "auto", "low")
    app = await _application(db, accepted.application_id)
    assert app.outcome == "approved" and app.customer_id and app.account_id
    async with db.session() as session:
        customer = await session.get(Customer, app.customer_id)
        account = await session.get(Account, app.account_id)
        case = await session.get(Case, accepted.case_id)
        opened_tasks = (await session.exec(select(Task).where(Task.case_id == case.id))).all()  # type: ignore[union-attr]
    assert customer is not None and customer.kyc_status == "approved"
    assert account is not None and is_valid_iban(account.iban) and account.iban.startswith("DE")
    assert case is not None and case.status == "closed" and case.customer_id == customer.id
    assert opened_tasks == []  # nobody had to look at it


async def test_medium_risk_individual_needs_one_analyst(skipping: Skipping, db: Database) -> None:
    accepted = await _submit(skipping, db, medium_individual())
    task = await task_of(db, accepted.workflow_id, "review-analyst#1")
    assert task.candidate_role == "kyc_analyst"
    state = await _state(skipping, accepted.workflow_id)
    assert (state.route, state.risk_level) == ("analyst", "medium")

    analyst = await new_staff(db, "kyc_analyst")
    await _decide(skipping, db, analyst, task, "approve")
    state = await _result(skipping, accepted.workflow_id)
    assert state.status == "approved"
    assert (await _application(db, accepted.application_id)).customer_id is not None


@pytest.mark.parametrize("misspelled", [False, True])
async def test_listed_person_needs_analyst_then_a_different_senior(
    skipping: Skipping, db: Database, misspelled: bool
) -> None:
    accepted = await _submit(skipping, db, listed_individual(misspelled=misspelled))
    task = await task_of(db, accepted.workflow_id, "review-analyst#1")
    assert (await _state(skipping, accepted.workflow_id)).route == "four_eyes"
    async with db.session() as session:
        party = (
            await session.exec(
                select(ApplicationParty).where(
                    ApplicationParty.application_id == accepted.application_id
                )
            )
        ).one()
    assert party.screening_status == "hit" and (party.best_score or 0) >= 85

    both = await new_staff(db, "kyc_analyst", "kyc_senior")
    await _decide(
        skipping, db, both, task, "approve", comment="Listed person is older; not a match."
    )
    senior_task = await task_of(db, accepted.workflow_id, "review-senior#1")
    assert both.actor.user_id in senior_task.excluded_actors

    # The analyst cannot give the second review: not through the web/API choke point ...
    with pytest.raises(Forbidden):
        await tasks.claim_task(db, both.actor, senior_task.id)
    # ... nor by sending the Update straight to the workflow (its validator says no).
    handle = skipping.client.get_workflow_handle(accepted.workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            OnboardingWorkflow.decide,
            DecisionInput(
                task_id=senior_task.id,
                actor_id=both.actor.user_id,
                actor_name=both.actor.username,
                actor_roles=sorted(both.actor.roles),
                outcome="approve",
            ),
        )
    assert "decided another step" in str(refused.value.cause) or "excluded" in str(
        refused.value.cause
    )

    senior = await new_staff(db, "kyc_senior")
    await _decide(
        skipping, db, senior, senior_task, "approve", comment="Agree: dates of birth differ."
    )
    assert (await _result(skipping, accepted.workflow_id)).status == "approved"


async def test_rejection_needs_a_reason_and_closes_the_case(
    skipping: Skipping, db: Database
) -> None:
    accepted = await _submit(skipping, db, listed_individual())
    task = await task_of(db, accepted.workflow_id, "review-analyst#1")
    analyst = await new_staff(db, "kyc_analyst")
    await tasks.claim_task(db, analyst.actor, task.id)
    with pytest.raises(Exception, match="reason"):
        await tasks.decide_task(
            db, skipping.client, analyst.actor, task.id, outcome="reject", reason=None, comment=None
        )
    await tasks.decide_task(
        db,
        skipping.client,
        analyst.actor,
        task.id,
        outcome="reject",
        reason="sanctions_match",
        comment="Same person as SDN 9563.",
    )
    state = await _result(skipping, accepted.workflow_id)
    assert (state.status, state.reason_code) == ("rejected", "sanctions_match")
    app = await _application(db, accepted.application_id)
    assert app.customer_id is None and app.reason_code == "sanctions_match"


async def test_information_answered_in_time_continues_the_review(
    skipping: Skipping, db: Database
) -> None:
    accepted = await _submit(skipping, db, medium_individual())
    task = await task_of(db, accepted.workflow_id, "review-analyst#1")
    analyst = await new_staff(db, "kyc_analyst")
    await _decide(
        skipping, db, analyst, task, "request_info", "source_of_funds", "Payslips, please."
    )
    await eventually(
        lambda: _is(db, accepted.application_id, "awaiting_information"), what="awaiting"
    )
    await skipping.env.sleep(timedelta(days=10))  # within the 14 days

    service = await new_staff(db, "upstream_system", prefix="svc")
    stored = await information.submit_documents(
        db,
        skipping.client,
        service.actor,
        accepted.application_id,
        DocumentsSubmission.model_validate(
            {"documents": [passport(number="NEWPASS01")], "note": "Payslips attached."}
        ),
    )
    assert (stored.status, stored.documents_stored) == ("in_review", 1)
    async with db.session() as session:
        doc = (
            await session.exec(
                select(ApplicationDocument).where(ApplicationDocument.number == "NEWPASS01")
            )
        ).one()
    assert doc.source == "information"  # accepted by the workflow: part of the review
    handle = skipping.client.get_workflow_handle(accepted.workflow_id)
    history = await handle.fetch_history()
    assert "NEWPASS01" not in history.to_json()  # documents stay out of workflow history
    # The same analyst continues the review (same step, next round).
    second = await task_of(db, accepted.workflow_id, "review-analyst#2")
    await _decide(skipping, db, analyst, second, "approve")
    assert (await _result(skipping, accepted.workflow_id)).status == "approved"


async def test_unanswered_request_is_rejected_as_no_response_at_the_deadline(
    skipping: Skipping, db: Database
) -> None:
    accepted = await _submit(skipping, db, medium_individual())
    task = await task_of(db, accepted.workflow_id, "review-analyst#1")
    analyst = await new_staff(db, "kyc_analyst")
    await _decide(
        skipping, db, analyst, task, "request_info", "proof_of_address", "A utility bill."
    )
    await eventually(
        lambda: _is(db, accepted.application_id, "awaiting_information"), what="awaiting"
    )

    await skipping.env.sleep(timedelta(days=13, hours=23))
    state = await _state(skipping, accepted.workflow_id)
    assert state.status == "awaiting_information"
    assert state.reminders_sent == 2  # days 5 and 10

    await skipping.env.sleep(timedelta(hours=2))
    state = await _result(skipping, accepted.workflow_id)
    assert (state.status, state.reason_code) == ("rejected", "no_response")
    async with db.session() as session:
        kinds = (
            await session.exec(
                select(ApplicantMessage.kind)
                .where(ApplicantMessage.application_id == accepted.application_id)
                .order_by(col(ApplicantMessage.created_at))
            )
        ).all()
    assert kinds == ["information_request", "reminder", "reminder", "outcome"]

    # Too late now: the answer is refused and nothing is stored.
    service = await new_staff(db, "upstream_system", prefix="svc")
    with pytest.raises(Conflict):
        await information.submit_documents(
            db,
            skipping.client,
            service.actor,
            accepted.application_id,
            DocumentsSubmission(documents=[passport()]),  # type: ignore[list-item]
        )


async def test_stale_review_escalates_at_its_sla(skipping: Skipping, db: Database) -> None:
    accepted = await _submit(skipping, db, medium_individual())
    task = await task_of(db, accepted.workflow_id, "review-analyst#1")
    assert task.escalation_level == 0
    await skipping.env.sleep(timedelta(hours=24, minutes=5))
    escalated = await task_of(db, accepted.workflow_id, "review-analyst#1")
    assert escalated.escalation_level == 1 and escalated.priority == "high"


async def test_business_screens_every_person_in_its_own_child_workflow(
    skipping: Skipping, db: Database
) -> None:
    accepted = await _submit(skipping, db, business(listed_owner=True))
    await task_of(db, accepted.workflow_id, "review-analyst#1")
    async with db.session() as session:
        parties = (
            await session.exec(
                select(ApplicationParty)
                .where(ApplicationParty.application_id == accepted.application_id)
                .order_by(col(ApplicationParty.position))
            )
        ).all()
    by_name = {p.name: p for p in parties}
    # The business, its director (who also owns 60 %: screened once) and the second owner.
    assert [p.role for p in parties] == ["business", "director", "owner"]
    assert by_name["Ibrahim Taher"].screening_status == "hit"
    assert by_name["Klaus Meyer"].screening_status == "clear"
    assert (await _state(skipping, accepted.workflow_id)).route == "four_eyes"
    for party in parties:
        child = skipping.client.get_workflow_handle(f"{accepted.workflow_id}-screen-{party.id}")
        assert (await child.describe()).status is not None


async def test_prohibited_country_is_rejected_without_review(
    skipping: Skipping, db: Database
) -> None:
    payload = clean_individual()
    payload["individual"]["nationality"] = "KP"
    payload["individual"]["documents"] = [passport(country="KP")]
    accepted = await _submit(skipping, db, payload)
    state = await _result(skipping, accepted.workflow_id)
    assert (state.status, state.reason_code) == ("rejected", "prohibited_country")


async def _is(db: Database, application_id: uuid.UUID, status: str) -> bool:
    return (await _application(db, application_id)).status == status
