"""AmlCaseWorkflow timers on the time-skipping server: L1 SLA escalation, SAR reminder and breach."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import col, select

from casework import tasks
from core.db import Database
from models.aml import AmlCase
from models.cases import Case, Notification, Task
from tests.aml_cases import alerted_customer
from tests.helpers import eventually, new_staff, task_of
from tests.workflows.conftest import Skipping


async def stage_of(db: Database, case_id: uuid.UUID) -> str:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case.stage


async def test_untouched_l1_case_escalates_to_l2_at_the_sla(
    db: Database, skipping: Skipping
) -> None:
    routed = await alerted_customer(db, skipping.client, skipping.settings.task_queue)
    l1 = await task_of(db, routed.workflow_id, "l1#1")
    assert l1.candidate_role == "aml_analyst"
    assert abs(l1.due_at - l1.created_at - timedelta(hours=24)) < timedelta(minutes=1)

    await skipping.env.sleep(timedelta(hours=23))
    assert await stage_of(db, routed.case_id) == "l1"

    await skipping.env.sleep(timedelta(hours=2))
    l2 = await task_of(db, routed.workflow_id, "l2#1")
    assert (l2.candidate_role, l2.priority) == ("aml_investigator", "high")
    async with db.session() as session:
        expired = await session.get(Task, l1.id)
        case = await session.get(Case, routed.case_id)
    assert expired is not None and expired.status == "expired"
    assert case is not None and (case.stage, case.priority) == ("l2", "high")


async def test_sar_deadline_reminder_and_breach_fire_on_time(
    db: Database, skipping: Skipping
) -> None:
    routed = await alerted_customer(db, skipping.client, skipping.settings.task_queue)
    analyst = await new_staff(db, "aml_analyst")
    investigator = await new_staff(db, "aml_investigator")
    for staff, key in ((analyst, "l1#1"), (investigator, "l2#1")):
        task = await task_of(db, routed.workflow_id, key)
        await tasks.claim_task(db, staff.actor, task.id)
        await tasks.decide_task(
            db,
            skipping.client,
            staff.actor,
            task.id,
            outcome="escalate",
            reason=None,
            comment=f"{key}: the pattern needs the next tier.",
        )
    mlro_task = await task_of(db, routed.workflow_id, "mlro#1")
    assert mlro_task.candidate_role == "mlro"
    async with db.session() as session:
        aml = await session.get(AmlCase, routed.case_id)
    assert aml is not None and aml.sar_due_at - aml.detected_at == timedelta(days=30)

    async def notices() -> set[str]:
        async with db.session() as session:
            keys = (
                await session.exec(
                    select(Notification.dedupe_key).where(
                        Notification.case_id == routed.case_id,
                        col(Notification.dedupe_key).startswith("sar-"),
                    )
                )
            ).all()
        return {k.split(":")[0] for k in keys}

    # Reminder 7 days before the 30-day deadline: not at day 22, yes by day 23.
    await skipping.env.sleep(timedelta(days=22, hours=23))
    assert await notices() == set()
    await skipping.env.sleep(timedelta(hours=2))
    await eventually(notices, what="SAR reminder")
    assert await notices() == {"sar-reminder"}

    await skipping.env.sleep(timedelta(days=6, hours=22))
    assert await notices() == {"sar-reminder"}
    await skipping.env.sleep(timedelta(hours=2))

    async def breached() -> bool:
        return "sar-breach" in await notices()

    await eventually(breached, what="SAR breach")
    async with db.session() as session:
        aml = await session.get(AmlCase, routed.case_id)
        case = await session.get(Case, routed.case_id)
        task = await session.get(Task, mlro_task.id)
    assert aml is not None and aml.sar_breached_at is not None and aml.sar_decision is None
    assert case is not None and case.priority == "urgent"
    assert task is not None and task.priority == "urgent" and task.status == "open"


async def test_a_sar_decision_stops_the_clock_and_files_the_report(
    db: Database, skipping: Skipping
) -> None:
    routed = await alerted_customer(db, skipping.client, skipping.settings.task_queue)
    analyst, investigator, mlro = (
        await new_staff(db, "aml_analyst"),
        await new_staff(db, "aml_investigator"),
        await new_staff(db, "mlro"),
    )
    for staff, key in ((analyst, "l1#1"), (investigator, "l2#1")):
        task = await task_of(db, routed.workflow_id, key)
        await tasks.claim_task(db, staff.actor, task.id)
        await tasks.decide_task(
            db,
            skipping.client,
            staff.actor,
            task.id,
            outcome="escalate",
            reason=None,
            comment=f"{key}: the pattern needs the next tier.",
        )
    task = await task_of(db, routed.workflow_id, "mlro#1")
    await tasks.claim_task(db, mlro.actor, task.id)
    await tasks.decide_task(
        db,
        skipping.client,
        mlro.actor,
        task.id,
        outcome="sar",
        reason="high_risk_jurisdiction",
        comment="Large SWIFT payment to a high-risk country, no business rationale.",
    )
    result = await skipping.client.get_workflow_handle(routed.workflow_id).result()
    assert result == "sar_filed"
    async with db.session() as session:
        aml = await session.get(AmlCase, routed.case_id)
        case = await session.get(Case, routed.case_id)
        reminders = (
            await session.exec(
                select(Notification).where(
                    Notification.case_id == routed.case_id,
                    col(Notification.dedupe_key).startswith("sar-"),
                )
            )
        ).all()
    assert aml is not None and aml.sar_decision == "sar" and aml.closed_at is not None
    assert case is not None and (case.status, case.outcome) == ("closed", "sar_filed")
    assert reminders == []
