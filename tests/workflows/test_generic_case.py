"""The generic case workflow (manual cases) on the time-skipping server: resolved at work,
escalated to a senior who is neither the opener nor the analyst (and may return it), a step
past its SLA escalated by a durable timer, and a recorded history that replays.

The case type is this test's own, declared with `casework.generic_case.standard_case` as a
manual case type (investigation, complaint) is; it is opened through the kernel's store and
started through `casework.starting.start_case`, as the manual-case command does.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select
from temporalio.client import WorkflowHistory

import casework.catalog  # noqa: F401 - every process's case types declared
from casework import tasks
from casework.generic_case import WORK_STAGE, plan_for, standard_case
from casework.registry import RegistryError
from casework.starting import start_case
from casework.store import Event, open_case
from core.db import Database
from models.audit import AuditEvent
from models.cases import Case, Notification, Task
from models.generic_case_io import GenericCaseInput
from shared.errors import DomainError
from tests.codec_keys import readable_without_key
from tests.helpers import Staff, eventually, new_staff, task_of
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import HISTORIES, replayer

CASE_TYPE = "test_inquiry"
standard_case(
    CASE_TYPE,
    "TIQ",
    "Test inquiry",
    analyst_role="kyc_analyst",
    senior_role="kyc_senior",
    work_sla_hours=24,
    senior_sla_hours=8,
)
ESCALATION_COMMENT = "Pattern of complaints points at a product defect; senior call needed."
RETURN_COMMENT = "Ask the customer for the statement of March before deciding this."


async def _open(s: Skipping, db: Database, opener: Staff) -> tuple[uuid.UUID, str]:
    case_id = uuid.uuid4()
    workflow_id = f"{CASE_TYPE}-{case_id}"
    async with db.transaction() as session:
        case = await open_case(
            session,
            case_type=CASE_TYPE,
            title="Test inquiry",
            stage=WORK_STAGE,
            subject_type="customer",
            subject_id=str(uuid.uuid4()),
            workflow_id=workflow_id,
            case_id=case_id,
            opened_by=opener.actor.user_id,
        )
        await start_case(
            session,
            s.client,
            case,
            GenericCaseInput(
                case_id=case.id,
                case_type=CASE_TYPE,
                reference=case.reference,
                opened_by=opener.actor.user_id,
            ),
            task_queue=s.settings.task_queue,
            event=Event("case.opened", actor=opener.actor.ref),
            summary=f"{case.reference} test inquiry",
        )
    return case_id, workflow_id


async def _task(db: Database, workflow_id: str, key: str) -> Task:
    return await task_of(db, workflow_id, key)


async def _decide(
    s: Skipping,
    db: Database,
    who: Staff,
    workflow_id: str,
    key: str,
    outcome: str,
    *,
    reason: str | None = None,
    comment: str | None = None,
) -> str:
    task = await _task(db, workflow_id, key)
    await tasks.claim_task(db, who.actor, task.id)
    result = await tasks.decide_task(
        db, s.client, who.actor, task.id, outcome=outcome, reason=reason, comment=comment
    )
    return result.case_status


async def _case(db: Database, case_id: uuid.UUID) -> Case:
    async with db.session() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case


async def test_analyst_resolves_and_the_case_closes_with_that_outcome(
    skipping: Skipping, db: Database
) -> None:
    opener = await new_staff(db, "kyc_senior")
    analyst = await new_staff(db, "kyc_analyst")
    case_id, wid = await _open(skipping, db, opener)

    status = await _decide(
        skipping, db, analyst, wid, "work#1", "resolve", reason="customer_satisfied"
    )
    assert status == "closed"
    assert await skipping.client.get_workflow_handle(wid).result() == "resolve"
    case = await _case(db, case_id)
    assert (case.status, case.outcome, case.outcome_reason) == (
        "closed",
        "resolve",
        "customer_satisfied",
    )
    async with db.session() as session:
        closed = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.workflow_id == wid, AuditEvent.action == "case.closed"
                )
            )
        ).all()
        assert [e.actor_id for e in closed] == [analyst.actor.user_id]
        keys = (await session.exec(select(Task.task_key).where(Task.workflow_id == wid))).all()
        assert keys == ["work#1"]  # no senior step without an escalation


async def test_escalation_goes_to_a_senior_who_neither_opened_nor_worked_it(
    skipping: Skipping, db: Database
) -> None:
    opener = await new_staff(db, "kyc_senior")
    analyst = await new_staff(db, "kyc_analyst", "kyc_senior")
    senior = await new_staff(db, "kyc_senior")
    case_id, wid = await _open(skipping, db, opener)

    # An escalation says why (the kind's narrative rule), at the door and in the validator.
    with pytest.raises(DomainError):
        await _decide(skipping, db, analyst, wid, "work#1", "escalate", comment="too short")
    assert (
        await tasks.decide_task(
            db,
            skipping.client,
            analyst.actor,
            (await _task(db, wid, "work#1")).id,
            outcome="escalate",
            reason=None,
            comment=ESCALATION_COMMENT,
        )
    ).case_status == "senior_review"
    review = await _task(db, wid, "senior#1")
    assert review.candidate_role == "kyc_senior" and review.priority == "high"
    assert set(review.excluded_actors) == {opener.actor.user_id, analyst.actor.user_id}
    assert (await _task(db, wid, "work#1")).excluded_actors == [opener.actor.user_id]
    assert (await _case(db, case_id)).stage == "senior_review"

    # Four eyes: neither the analyst (though a senior too) nor the opener may take it.
    for barred in (analyst, opener):
        with pytest.raises(DomainError):
            await tasks.claim_task(db, barred.actor, review.id)

    # The senior sends it back; the analyst works it again and closes it.
    assert (
        await _decide(skipping, db, senior, wid, "senior#1", "return", comment=RETURN_COMMENT)
        == "work"
    )
    await _decide(skipping, db, analyst, wid, "work#2", "escalate", comment=ESCALATION_COMMENT)
    status = await _decide(
        skipping, db, senior, wid, "senior#2", "no_further_action", reason="unfounded"
    )
    assert status == "closed"
    handle = skipping.client.get_workflow_handle(wid)
    assert await handle.result() == "no_further_action"
    case = await _case(db, case_id)
    assert (case.status, case.outcome) == ("closed", "no_further_action")

    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    text = history.to_json()
    clear, unsealed = readable_without_key(text)
    assert unsealed == []
    for secret in (ESCALATION_COMMENT, RETURN_COMMENT, analyst.username, senior.username):
        assert secret not in clear
    if os.environ.get("RECORD_HISTORIES") == "1":
        for old in HISTORIES.glob("sealed-generic-case__*.json"):
            old.unlink()
        (HISTORIES / f"sealed-generic-case__{wid}.json").write_text(text)


async def test_a_step_past_its_sla_escalates_by_a_durable_timer(
    skipping: Skipping, db: Database
) -> None:
    opener = await new_staff(db, "kyc_senior")
    _, wid = await _open(skipping, db, opener)
    task = await _task(db, wid, "work#1")
    assert (task.escalation_level, task.priority) == (0, "normal")

    async def level() -> tuple[int, str]:
        async with db.session() as session:
            row = await session.get(Task, task.id)
            assert row is not None
            await session.refresh(row)
            return row.escalation_level, row.priority

    await skipping.env.sleep(timedelta(hours=23, minutes=50))
    await skipping.client.get_workflow_handle(wid).query("current_state")  # worker caught up
    assert await level() == (0, "normal")
    await skipping.env.sleep(timedelta(minutes=20))

    async def escalated() -> bool:
        return await level() == (1, "high")

    assert await eventually(escalated, what="the work step escalated at its SLA")
    async with db.session() as session:
        notes = (
            await session.exec(select(Notification).where(Notification.case_id == task.case_id))
        ).all()
    assert [(n.dedupe_key, n.recipient_role) for n in notes] == [
        (f"escalation:{task.id}:1", "kyc_lead")
    ]
    state = await skipping.client.get_workflow_handle(wid).query("current_state")
    assert state["stage"] == "work" and state["open_tasks"] == [str(task.id)]


async def test_recorded_generic_case_history_replays() -> None:
    files = sorted(HISTORIES.glob("sealed-generic-case__*.json"))
    assert files, "a history of the generic case workflow is kept in tests/workflows/histories"
    for path in files:
        workflow_id = path.stem.split("__", 1)[1]
        history = WorkflowHistory.from_json(workflow_id, path.read_text())
        await replayer().replay_workflow(history)


def test_a_plan_is_read_only_for_case_types_the_generic_workflow_runs() -> None:
    plan = plan_for(CASE_TYPE)
    assert (plan.work_kind, plan.senior_kind) == ("test_inquiry_work", "test_inquiry_senior_review")
    assert plan.escalation_role == "kyc_lead"  # the lead of the senior role's team
    with pytest.raises(RegistryError):
        plan_for("aml")  # run by its own workflow
    with pytest.raises(RegistryError):
        plan_for("no_such_type")
