"""DisputeWorkflow on the time-skipping server: every stage, every deadline, the money and the
customer's messages. Days pass instantly; each deadline is checked an hour before and after."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowUpdateFailedError

from casework import tasks
from core.db import Database, run_sql
from disputes.commands.opening import open_dispute
from disputes.commands.withdrawal import withdraw_dispute
from disputes.engines.sandbox import ScriptResult, set_merchant_response
from identity.actors import Actor
from models.audit import AuditEvent
from models.cases import Case, Notification, Task
from models.dispute_io import WithdrawalResult
from models.disputes import (
    AccountAdjustment,
    CustomerMessage,
    DisputeCreate,
    DisputeOpened,
    DisputeStage,
    SandboxSubmission,
)
from models.workflow_io import DecisionInput, Origin
from shared.errors import Conflict, Forbidden, Invalid
from tests.dispute_data import CardPayment, card_payment
from tests.helpers import Staff, eventually, new_staff, task_of
from tests.workflows.conftest import Skipping

HOUR = timedelta(hours=1)


# ---------------------------------------------------------------------------- builders
@dataclass
class Opened:
    payment: CardPayment
    dispute: DisputeOpened
    support: Staff

    @property
    def case_id(self) -> uuid.UUID:
        return self.dispute.case_id

    @property
    def workflow_id(self) -> str:
        return self.dispute.workflow_id


async def open_on(
    s: Skipping,
    db: Database,
    *,
    amount: str = "40.00",
    days_ago: float = 3,
    support: Staff | None = None,
) -> Opened:
    """A card payment booked `days_ago` and a dispute opened on it by support (domain path)."""
    payment = await card_payment(db, amount=amount, days_ago=days_ago)
    opener = support or await new_staff(db, "support")
    opened = await open_dispute(
        db,
        s.client,
        s.settings,
        opener.actor,
        DisputeCreate(
            transaction_id=payment.transaction_id,
            category="consumer_dispute",
            statement="I returned the goods on 3 November and never got a refund.",
        ),
    )
    return Opened(payment, opened, opener)


async def decide(
    s: Skipping,
    db: Database,
    who: Staff,
    opened: Opened,
    key: str,
    outcome: str,
    reason: str | None = None,
) -> Task:
    """Claim and decide the dispute's task `key` through the domain choke point."""
    task = await task_of(db, opened.workflow_id, key)
    await tasks.claim_task(db, who.actor, task.id)
    await tasks.decide_task(
        db, s.client, who.actor, task.id, outcome=outcome, reason=reason, comment="test"
    )
    return task


async def script(
    s: Skipping, db: Database, who: Staff, opened: Opened, stage: str, response: str
) -> ScriptResult:
    """Script how the sandbox merchant answers at `stage` (an agent, through the domain)."""
    return await set_merchant_response(
        db, s.client, who.actor, opened.case_id, stage=stage, response=response, note=None
    )


def again_by(who: Staff) -> Actor:
    """The same person, in a new request."""
    return replace(who.actor, origin=Origin(request_id=uuid.uuid4().hex))


async def warned(db: Database, case_id: uuid.UUID, stage: str) -> bool:
    """The disputes agents were told that our deadline at `stage` is close."""
    return f"dispute-deadline:{case_id}:{stage}" in await notification_keys(db, case_id)


async def case_of(db: Database, case_id: uuid.UUID) -> Case:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case


async def at_stage(db: Database, case_id: uuid.UUID, stage: str) -> Case:
    async def probe() -> Case | None:
        case = await case_of(db, case_id)
        return case if case.stage == stage else None

    return await eventually(probe, what=f"stage {stage}")


async def concluded(db: Database, case_id: uuid.UUID) -> Case:
    async def probe() -> Case | None:
        case = await case_of(db, case_id)
        return case if case.status == "closed" else None

    return await eventually(probe, what="dispute concluded")


async def stage_row(db: Database, case_id: uuid.UUID, stage: str) -> DisputeStage:
    async with db.session() as session:
        row = (
            await session.exec(
                select(DisputeStage).where(
                    DisputeStage.case_id == case_id, DisputeStage.stage == stage
                )
            )
        ).one()
    return row


async def adjustments(db: Database, case_id: uuid.UUID) -> dict[str, AccountAdjustment]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(AccountAdjustment).where(AccountAdjustment.case_id == case_id)
            )
        ).all()
    by_kind = {row.kind: row for row in rows}
    assert len(by_kind) == len(rows), "one adjustment of each kind at most"
    return by_kind


async def outbox(db: Database, case_id: uuid.UUID) -> dict[str, CustomerMessage]:
    """The customer's messages about the case, by what they are about (the dedupe key's tail)."""
    async with db.session() as session:
        rows = (
            await session.exec(select(CustomerMessage).where(CustomerMessage.case_id == case_id))
        ).all()
    return {row.dedupe_key.rsplit(":", 1)[-1]: row for row in rows}


async def notification_keys(db: Database, case_id: uuid.UUID) -> set[str]:
    async with db.session() as session:
        keys = (
            await session.exec(
                select(Notification.dedupe_key).where(Notification.case_id == case_id)
            )
        ).all()
    return set(keys)


async def task_row(db: Database, task_id: uuid.UUID) -> Task:
    async with db.session() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def audit_actions(db: Database, workflow_id: str, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.workflow_id == workflow_id, AuditEvent.action == action)
                    .order_by(col(AuditEvent.id))
                )
            ).all()
        )


async def submissions(db: Database, case_id: uuid.UUID) -> dict[str, SandboxSubmission]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(SandboxSubmission).where(SandboxSubmission.case_id == case_id)
            )
        ).all()
    return {row.stage: row for row in rows}


# ---------------------------------------------------------------------------- 1. silence wins
async def test_a_silent_merchant_loses_the_chargeback_after_45_days(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    agent = await new_staff(db, "disputes_agent")
    await decide(s, db, agent, opened, "agent#evidence", "submit")

    await at_stage(db, opened.case_id, "chargeback")
    window = await stage_row(db, opened.case_id, "chargeback")
    assert window.due_at is not None and window.deadline_owner == "merchant"
    assert abs(window.due_at - window.entered_at - timedelta(days=45)) < timedelta(minutes=1)

    await s.env.sleep(timedelta(days=44, hours=23))
    case = await case_of(db, opened.case_id)
    assert (case.status, case.stage) == ("open", "chargeback")
    await s.env.sleep(2 * HOUR)
    case = await concluded(db, opened.case_id)
    assert (case.outcome, case.stage) == ("won", "closed")
    assert await s.client.get_workflow_handle(opened.workflow_id).result() == "won"

    money = await adjustments(db, opened.case_id)
    assert set(money) == {"provisional_credit"}
    assert money["provisional_credit"].amount == Decimal("40.00")
    messages = await outbox(db, opened.case_id)
    assert {"opened", "provisional_credit", "outcome"} <= set(messages)
    assert messages["outcome"].subject.endswith(": won")
    assert "now final" in messages["outcome"].body
    assert (await submissions(db, opened.case_id)).keys() == {"chargeback"}


# ---------------------------------------------------------------------------- 2. representment
async def test_an_accepted_representment_loses_and_reverses_the_credit(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    agent = await new_staff(db, "disputes_agent")
    scripted = await script(s, db, agent, opened, "chargeback", "represent")
    assert not scripted.delivered
    await decide(s, db, agent, opened, "agent#evidence", "submit")

    await at_stage(db, opened.case_id, "representment_review")
    review = await task_of(db, opened.workflow_id, "agent#representment")
    assert (review.kind, review.candidate_role) == ("dispute_representment", "disputes_agent")
    # Each step of a case needs a different person (the shared segregation rule).
    reviewer = await new_staff(db, "disputes_agent")
    with pytest.raises(Invalid):  # accepting the loss needs a reason
        await decide(s, db, reviewer, opened, "agent#representment", "accept_loss")
    await tasks.decide_task(
        db,
        s.client,
        reviewer.actor,
        review.id,
        outcome="accept_loss",
        reason="compelling_evidence",
        comment="Signed delivery receipt.",
    )
    case = await concluded(db, opened.case_id)
    assert case.outcome == "lost"
    money = await adjustments(db, opened.case_id)
    assert set(money) == {"provisional_credit", "credit_reversal"}
    credit, reversal = money["provisional_credit"], money["credit_reversal"]
    assert reversal.amount == -credit.amount == Decimal("-40.00")
    assert reversal.reverses_id == credit.id
    [concluded_event] = await audit_actions(db, opened.workflow_id, "dispute.concluded")
    assert concluded_event.details["reason_code"] == "compelling_evidence"
    assert concluded_event.details["decided_by"] == str(reviewer.actor.user_id)
    assert "reversed" in (await outbox(db, opened.case_id))["outcome"].body


async def test_a_representment_scripted_while_waiting_is_delivered_at_once(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    agent = await new_staff(db, "disputes_agent")
    await decide(s, db, agent, opened, "agent#evidence", "submit")
    await at_stage(db, opened.case_id, "chargeback")

    scripted = await script(s, db, agent, opened, "chargeback", "represent")
    assert scripted.delivered
    await at_stage(db, opened.case_id, "representment_review")
    assert (await submissions(db, opened.case_id))["chargeback"].responded == "represent"
    review = await stage_row(db, opened.case_id, "representment_review")
    assert review.due_at is not None and review.deadline_owner == "ours"
    assert abs(review.due_at - review.entered_at - timedelta(days=30)) < timedelta(minutes=1)


# ---------------------------------------------------------------------------- 3. credit
async def test_a_small_amount_is_credited_at_once_without_a_task(
    db: Database, skipping: Skipping
) -> None:
    opened = await open_on(skipping, db, amount="40.00")
    await task_of(db, opened.workflow_id, "agent#evidence")
    money = await adjustments(db, opened.case_id)
    assert set(money) == {"provisional_credit"}
    assert money["provisional_credit"].amount == Decimal("40.00")
    async with db.session() as session:
        credit_tasks = (
            await session.exec(
                select(Task).where(
                    Task.workflow_id == opened.workflow_id,
                    Task.kind == "dispute_provisional_credit",
                )
            )
        ).all()
    assert credit_tasks == []
    assert "provisional_credit" in await outbox(db, opened.case_id)


async def test_a_large_amount_waits_for_an_agent_to_grant_the_credit(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="250.00")
    task = await task_of(db, opened.workflow_id, "agent#credit")
    assert (task.kind, task.candidate_role) == ("dispute_provisional_credit", "disputes_agent")
    assert opened.support.actor.user_id in task.excluded_actors
    assert (await case_of(db, opened.case_id)).stage == "provisional_credit"
    assert await adjustments(db, opened.case_id) == {}

    await decide(s, db, await new_staff(db, "disputes_agent"), opened, "agent#credit", "grant")
    await task_of(db, opened.workflow_id, "agent#evidence")
    money = await adjustments(db, opened.case_id)
    assert set(money) == {"provisional_credit"}
    assert money["provisional_credit"].amount == Decimal("250.00")


async def declined_credit(s: Skipping, db: Database) -> Opened:
    """A 250 EUR dispute whose provisional credit an agent declined (with the reason it needs)."""
    opened = await open_on(s, db, amount="250.00")
    agent = await new_staff(db, "disputes_agent")
    task = await task_of(db, opened.workflow_id, "agent#credit")
    await tasks.claim_task(db, agent.actor, task.id)
    with pytest.raises(Invalid) as refused:
        await tasks.decide_task(
            db, s.client, agent.actor, task.id, outcome="decline", reason=None, comment=None
        )
    assert refused.value.code == "reason_required"
    # The workflow's validator refuses it too, if the choke point is bypassed.
    with pytest.raises(WorkflowUpdateFailedError) as bypassed:
        await s.client.get_workflow_handle(opened.workflow_id).execute_update(
            "decide",
            DecisionInput(
                task_id=task.id,
                actor_id=agent.actor.user_id,
                actor_name=agent.username,
                actor_roles=["disputes_agent"],
                outcome="decline",
            ),
        )
    assert getattr(bypassed.value.cause, "type", None) == "reason_required"
    await tasks.decide_task(
        db,
        s.client,
        agent.actor,
        task.id,
        outcome="decline",
        reason="insufficient_information",
        comment="No return receipt yet.",
    )
    await task_of(db, opened.workflow_id, "agent#evidence")
    assert await adjustments(db, opened.case_id) == {}
    return opened


async def test_a_declined_credit_is_booked_as_final_credit_when_the_dispute_is_won(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await declined_credit(s, db)
    await decide(s, db, await new_staff(db, "disputes_agent"), opened, "agent#evidence", "submit")
    await at_stage(db, opened.case_id, "chargeback")
    await s.env.sleep(timedelta(days=45, hours=1))
    case = await concluded(db, opened.case_id)
    assert case.outcome == "won"
    money = await adjustments(db, opened.case_id)
    assert set(money) == {"final_credit"}
    assert money["final_credit"].amount == Decimal("250.00")
    messages = await outbox(db, opened.case_id)
    assert "provisional_credit" not in messages
    assert "We have credited" in messages["outcome"].body


async def test_a_declined_credit_is_not_reversed_when_the_dispute_is_lost(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await declined_credit(s, db)
    agent = await new_staff(db, "disputes_agent")
    await script(s, db, agent, opened, "chargeback", "represent")
    await decide(s, db, agent, opened, "agent#evidence", "submit")
    reviewer = await new_staff(db, "disputes_agent")
    await decide(s, db, reviewer, opened, "agent#representment", "accept_loss", "customer_liable")
    case = await concluded(db, opened.case_id)
    assert case.outcome == "lost"
    assert await adjustments(db, opened.case_id) == {}
    assert "reversed" not in (await outbox(db, opened.case_id))["outcome"].body


async def test_the_opener_decides_none_of_the_disputes_steps_through_any_door(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    both = await new_staff(db, "support", "disputes_agent")
    opened = await open_on(s, db, amount="250.00", support=both)
    task = await task_of(db, opened.workflow_id, "agent#credit")
    assert both.actor.user_id in task.excluded_actors
    with pytest.raises(Forbidden):
        await tasks.claim_task(db, both.actor, task.id)
    with pytest.raises(Forbidden):
        await tasks.decide_task(
            db, s.client, both.actor, task.id, outcome="grant", reason=None, comment=None
        )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await s.client.get_workflow_handle(opened.workflow_id).execute_update(
            "decide",
            DecisionInput(
                task_id=task.id,
                actor_id=both.actor.user_id,
                actor_name=both.username,
                actor_roles=["support", "disputes_agent"],
                outcome="grant",
            ),
        )
    assert getattr(refused.value.cause, "type", None) == "maker_cannot_decide"
    assert (await task_row(db, task.id)).status == "open"
    assert await adjustments(db, opened.case_id) == {}
    # Nor the later steps: another agent grants, and the opener still may not submit.
    await decide(s, db, await new_staff(db, "disputes_agent"), opened, "agent#credit", "grant")
    evidence = await task_of(db, opened.workflow_id, "agent#evidence")
    with pytest.raises(Forbidden):
        await tasks.claim_task(db, both.actor, evidence.id)


async def test_one_agent_carries_a_dispute_from_credit_to_representment(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    agent = await new_staff(db, "disputes_agent")
    opened = await open_on(s, db, amount="250.00")
    await script(s, db, agent, opened, "chargeback", "represent")
    await decide(s, db, agent, opened, "agent#credit", "grant")
    await decide(s, db, agent, opened, "agent#evidence", "submit")
    await decide(s, db, agent, opened, "agent#representment", "accept_loss", "customer_liable")
    assert await s.client.get_workflow_handle(opened.workflow_id).result() == "lost"


# ---------------------------------------------------------------------------- 4. our deadlines
async def test_the_evidence_task_escalates_at_its_72_hour_sla(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    task = await task_of(db, opened.workflow_id, "agent#evidence")
    assert abs(task.due_at - task.created_at - timedelta(hours=72)) < timedelta(minutes=1)
    escalation = f"escalation:{task.id}:1"

    await s.env.sleep(timedelta(hours=71))
    row = await task_row(db, task.id)
    assert (row.escalation_level, row.priority) == (0, "normal")
    assert escalation not in await notification_keys(db, opened.case_id)

    await s.env.sleep(2 * HOUR)

    async def escalated() -> Task | None:
        row = await task_row(db, task.id)
        return row if row.escalation_level == 1 else None

    row = await eventually(escalated, what="evidence escalated")
    assert (row.priority, row.status) == ("high", "open")
    assert escalation in await notification_keys(db, opened.case_id)
    async with db.session() as session:
        notice = (
            await session.exec(select(Notification).where(Notification.dedupe_key == escalation))
        ).one()
    assert notice.recipient_role == "disputes_agent"
    assert (await case_of(db, opened.case_id)).priority == "high"


async def test_the_dispute_turns_urgent_and_expires_at_the_filing_deadline(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    # Booked 100 days ago: the 120-day filing window closes in 20 days.
    opened = await open_on(s, db, amount="40.00", days_ago=100)
    task = await task_of(db, opened.workflow_id, "agent#evidence")

    await s.env.sleep(timedelta(days=14, hours=23))
    assert not await warned(db, opened.case_id, "evidence")
    await s.env.sleep(2 * HOUR)
    await eventually(lambda: warned(db, opened.case_id, "evidence"), what="deadline warning")
    assert (await case_of(db, opened.case_id)).priority == "urgent"
    assert len(await audit_actions(db, opened.workflow_id, "dispute.deadline_warning")) == 1

    await s.env.sleep(timedelta(days=4, hours=22))
    case = await case_of(db, opened.case_id)
    assert (case.status, case.stage) == ("open", "evidence")
    assert (await task_row(db, task.id)).status == "open"
    await s.env.sleep(2 * HOUR)
    case = await concluded(db, opened.case_id)
    assert case.outcome == "expired"
    assert (await task_row(db, task.id)).status == "expired"
    # The bank bears the loss: the customer keeps the provisional credit.
    assert set(await adjustments(db, opened.case_id)) == {"provisional_credit"}
    assert await submissions(db, opened.case_id) == {}
    assert "now final" in (await outbox(db, opened.case_id))["outcome"].body


async def test_a_deadline_already_close_makes_the_new_dispute_urgent_at_once(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    # Booked 117 days ago: 3 days left, inside the 5-day warning period from the start.
    opened = await open_on(s, db, amount="40.00", days_ago=117)
    task = await task_of(db, opened.workflow_id, "agent#evidence")

    await eventually(lambda: warned(db, opened.case_id, "evidence"), what="deadline warning")
    row = await task_row(db, task.id)
    assert (row.priority, row.escalation_level) == ("urgent", 0)
    assert (await case_of(db, opened.case_id)).priority == "urgent"


async def test_an_unanswered_representment_expires_30_days_after_it_arrived(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await declined_credit(s, db)
    agent = await new_staff(db, "disputes_agent")
    await script(s, db, agent, opened, "chargeback", "represent")
    await decide(s, db, agent, opened, "agent#evidence", "submit")
    await at_stage(db, opened.case_id, "representment_review")
    review = await task_of(db, opened.workflow_id, "agent#representment")

    await s.env.sleep(timedelta(days=24, hours=23))
    assert not await warned(db, opened.case_id, "representment_review")
    await s.env.sleep(2 * HOUR)
    await eventually(
        lambda: warned(db, opened.case_id, "representment_review"),
        what="representment deadline warning",
    )

    await s.env.sleep(timedelta(days=4, hours=22))
    assert (await case_of(db, opened.case_id)).status == "open"
    await s.env.sleep(2 * HOUR)
    case = await concluded(db, opened.case_id)
    assert case.outcome == "expired"
    assert (await task_row(db, review.id)).status == "expired"
    # No provisional credit was granted: the bank books the amount as final credit.
    money = await adjustments(db, opened.case_id)
    assert set(money) == {"final_credit"}
    assert money["final_credit"].amount == Decimal("250.00")


# ---------------------------------------------------------------------------- 5. pre-arbitration
async def pre_arbitrated(s: Skipping, db: Database, pre_arbitration: str | None = None) -> Opened:
    """Represented at the chargeback; a second agent goes to pre-arbitration. `pre_arbitration`
    scripts the merchant's answer to it beforehand (answered at the filing)."""
    opened = await open_on(s, db, amount="40.00")
    agent = await new_staff(db, "disputes_agent")
    await script(s, db, agent, opened, "chargeback", "represent")
    if pre_arbitration is not None:
        await script(s, db, agent, opened, "pre_arbitration", pre_arbitration)
    await decide(s, db, agent, opened, "agent#evidence", "submit")
    await decide(
        s,
        db,
        await new_staff(db, "disputes_agent"),
        opened,
        "agent#representment",
        "pre_arbitration",
    )
    return opened


async def test_a_merchant_silent_in_pre_arbitration_loses_after_30_days(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await pre_arbitrated(s, db)
    await at_stage(db, opened.case_id, "pre_arbitration")
    window = await stage_row(db, opened.case_id, "pre_arbitration")
    assert window.due_at is not None and window.deadline_owner == "merchant"
    assert abs(window.due_at - window.entered_at - timedelta(days=30)) < timedelta(minutes=1)
    assert set(await submissions(db, opened.case_id)) == {"chargeback", "pre_arbitration"}

    await s.env.sleep(timedelta(days=29, hours=23))
    assert (await case_of(db, opened.case_id)).status == "open"
    await s.env.sleep(2 * HOUR)
    case = await concluded(db, opened.case_id)
    assert case.outcome == "won"
    assert set(await adjustments(db, opened.case_id)) == {"provisional_credit"}


async def test_a_declined_pre_arbitration_loses_the_dispute(
    db: Database, skipping: Skipping
) -> None:
    opened = await pre_arbitrated(skipping, db, pre_arbitration="decline")
    case = await concluded(db, opened.case_id)
    assert case.outcome == "lost"
    assert set(await adjustments(db, opened.case_id)) == {"provisional_credit", "credit_reversal"}
    # The merchant decided it: the agent who chose pre-arbitration is not named as the decider.
    [event] = await audit_actions(db, opened.workflow_id, "dispute.concluded")
    assert (event.details["decided_by"], event.details["reason_code"]) == (None, None)


async def test_an_accepted_pre_arbitration_wins_the_dispute(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await pre_arbitrated(s, db)
    await at_stage(db, opened.case_id, "pre_arbitration")
    answered = await script(
        s, db, await new_staff(db, "disputes_agent"), opened, "pre_arbitration", "accept"
    )
    assert answered.delivered
    case = await concluded(db, opened.case_id)
    assert case.outcome == "won"
    assert set(await adjustments(db, opened.case_id)) == {"provisional_credit"}


# ---------------------------------------------------------------------------- 6. withdrawal
async def test_a_withdrawal_at_the_evidence_stage_reverses_the_credit(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    task = await task_of(db, opened.workflow_id, "agent#evidence")
    result = await withdraw_dispute(
        db,
        s.client,
        opened.support.actor,
        opened.case_id,
        reason_code="refund_received",
        comment=None,
    )
    assert result == WithdrawalResult(stage="evidence")
    # A second request (another agent, or the same form posted again) is refused, whether the
    # dispute is still concluding ("being withdrawn") or already closed.
    other = await new_staff(db, "disputes_agent")
    with pytest.raises(Conflict) as again:
        await withdraw_dispute(
            db,
            s.client,
            other.actor,
            opened.case_id,
            reason_code="customer_recognised",
            comment=None,
        )
    assert "withdrawn" in again.value.message

    case = await concluded(db, opened.case_id)
    assert case.outcome == "withdrawn"
    assert (await task_row(db, task.id)).status == "cancelled"
    money = await adjustments(db, opened.case_id)
    assert set(money) == {"provisional_credit", "credit_reversal"}
    assert money["credit_reversal"].reverses_id == money["provisional_credit"].id
    assert await submissions(db, opened.case_id) == {}  # nothing was filed: nothing to tell

    with pytest.raises(Conflict) as closed:
        await withdraw_dispute(
            db,
            s.client,
            again_by(opened.support),
            opened.case_id,
            reason_code="refund_received",
            comment=None,
        )
    assert "already concluded" in closed.value.message
    [withdrawn] = await audit_actions(db, opened.workflow_id, "dispute.withdrawn")
    assert withdrawn.actor_id == opened.support.actor.user_id
    assert withdrawn.details["stage"] == "evidence"


async def test_a_withdrawal_after_filing_is_sent_to_the_processor(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    await decide(s, db, await new_staff(db, "disputes_agent"), opened, "agent#evidence", "submit")
    await at_stage(db, opened.case_id, "chargeback")
    await withdraw_dispute(
        db,
        s.client,
        opened.support.actor,
        opened.case_id,
        reason_code="resolved_with_merchant",
        comment=None,
    )
    case = await concluded(db, opened.case_id)
    assert case.outcome == "withdrawn"
    assert set(await submissions(db, opened.case_id)) == {"chargeback", "withdrawal"}
    assert set(await adjustments(db, opened.case_id)) == {"provisional_credit", "credit_reversal"}
    assert len(await audit_actions(db, opened.workflow_id, "dispute.withdrawn")) == 1


# ---------------------------------------------------------------------------- 7. timers
async def test_the_merchant_window_is_a_named_timer_in_the_history(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    await decide(s, db, await new_staff(db, "disputes_agent"), opened, "agent#evidence", "submit")
    await at_stage(db, opened.case_id, "chargeback")
    handle = s.client.get_workflow_handle(opened.workflow_id)

    async def merchant_timer() -> list[HistoryEvent]:
        history = await handle.fetch_history()
        return [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            > timedelta(days=44)
        ]

    [timer] = await eventually(merchant_timer, what="merchant response timer")
    attrs = timer.timer_started_event_attributes
    assert attrs.start_to_fire_timeout.ToTimedelta() - timedelta(days=45) < timedelta(minutes=1)
    # Timer summaries go through the payload codec like every other payload.
    [summary] = await s.client.data_converter.decode([timer.user_metadata.summary], [str])
    assert summary == "chargeback merchant response window"


async def test_a_withdrawal_while_a_decision_is_being_recorded_waits_for_it(
    db: Database, skipping: Skipping
) -> None:
    s = skipping
    opened = await open_on(s, db, amount="40.00")
    agent = await new_staff(db, "disputes_agent")
    task = await task_of(db, opened.workflow_id, "agent#evidence")
    await tasks.claim_task(db, agent.actor, task.id)

    async def blocked_on_the_task_row() -> bool:
        async with db.session() as session:
            waiting = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%FROM task%FOR UPDATE%'",
                )
            ).scalar_one()
        return bool(waiting)

    # Hold the task row: the decision's activity (record_decision) waits on it, in flight.
    async with db.transaction() as session:
        await run_sql(session, "SELECT id FROM task WHERE id = :id FOR UPDATE", {"id": task.id})
        deciding = asyncio.create_task(
            tasks.decide_task(
                db, s.client, agent.actor, task.id, outcome="submit", reason=None, comment=None
            )
        )
        await eventually(blocked_on_the_task_row, what="decision in flight")
        withdrawn = await asyncio.wait_for(
            withdraw_dispute(
                db,
                s.client,
                opened.support.actor,
                opened.case_id,
                reason_code="refund_received",
                comment=None,
            ),
            # Not blocked by the decision in flight: a withdraw that waited on the row we hold
            # would never finish, so the generous limit keeps the check and survives load.
            timeout=60,
        )
        assert withdrawn.stage == "evidence"
    await deciding

    case = await concluded(db, opened.case_id)
    assert case.outcome == "withdrawn"
    assert (await task_row(db, task.id)).status == "done"  # the decision stands, recorded once
    assert len(await audit_actions(db, opened.workflow_id, "dispute.withdrawn")) == 1
