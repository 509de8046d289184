"""Expiry, SLA escalation and effective dates as durable timers, on the time-skipping server.

Time only moves when the test says so (`env.sleep`), so every deadline is checked on both
sides: just before it nothing happened, just after it the workflow acted (promise 7).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from casework import tasks
from changes.commands import requests as changes
from core.db import Database
from models.base import utcnow
from models.cases import Case, Notification, Task
from models.changes import ChangeCreate, ChangeCreated, ChangeRequest
from models.workflow_io import ChangeState
from tests.helpers import Plan, eventually, new_plan, new_staff, task_of
from tests.workflows.conftest import Skipping
from workflows.change_approval import ChangeApprovalWorkflow


async def _propose(s: Skipping, db: Database, **extra: object) -> tuple[ChangeCreated, Plan]:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    data = ChangeCreate(
        target_type="fee",
        target_id=plan.fee_id,
        changes={"fixed_amount": "3.00"},
        reason="Time-skipping test change.",
        **extra,  # type: ignore[arg-type]
    )
    created = await changes.propose_change(db, s.client, s.settings, maker.actor, data)
    return created, plan


async def _status(s: Skipping, workflow_id: str) -> str:
    state = await s.client.get_workflow_handle(workflow_id).query(
        ChangeApprovalWorkflow.current_state
    )
    return state.status


async def _result(s: Skipping, workflow_id: str) -> ChangeState:
    handle = s.client.get_workflow_handle_for(ChangeApprovalWorkflow.run, workflow_id)
    return await handle.result()


async def _db_status(db: Database, change_id: object) -> str:
    async with db.session() as session:
        change = await session.get(ChangeRequest, change_id)
        assert change is not None
        return change.status


async def test_unapproved_change_expires_after_72_hours(skipping: Skipping, db: Database) -> None:
    created, _ = await _propose(skipping, db)
    task = await task_of(db, created.workflow_id)

    await skipping.env.sleep(timedelta(hours=71, minutes=50))
    assert await _status(skipping, created.workflow_id) == "pending_approval"

    await skipping.env.sleep(timedelta(minutes=20))
    result = await _result(skipping, created.workflow_id)
    assert result.status == "expired"
    assert await _db_status(db, created.id) == "expired"
    async with db.session() as session:
        assert (await session.get(Task, task.id)).status == "expired"  # type: ignore[union-attr]
        case = await session.get(Case, created.case_id)
        assert case is not None and case.status == "closed" and case.outcome == "expired"


async def test_overdue_approval_escalates_at_its_sla(skipping: Skipping, db: Database) -> None:
    created, _ = await _propose(skipping, db)
    task = await task_of(db, created.workflow_id)
    assert task.priority == "normal" and task.escalation_level == 0

    async def level() -> tuple[int, str]:
        async with db.session() as session:
            row = await session.get(Task, task.id)
            assert row is not None
            await session.refresh(row)
            return row.escalation_level, row.priority

    await skipping.env.sleep(timedelta(hours=23, minutes=50))
    await _status(skipping, created.workflow_id)  # let the worker catch up
    assert await level() == (0, "normal")

    await skipping.env.sleep(timedelta(minutes=20))
    assert await eventually(lambda: _is(level, (1, "high")), what="first escalation")
    await skipping.env.sleep(timedelta(hours=24))
    assert await eventually(lambda: _is(level, (2, "urgent")), what="second escalation")
    async with db.session() as session:
        notes = (
            await session.exec(select(Notification).where(Notification.case_id == created.case_id))
        ).all()
    assert {n.dedupe_key for n in notes} == {f"escalation:{task.id}:1", f"escalation:{task.id}:2"}
    assert all(n.recipient_role == "ops_manager" for n in notes)


async def _is(probe, expected):  # type: ignore[no-untyped-def]
    return (await probe()) == expected


async def test_future_effective_date_is_a_durable_timer(skipping: Skipping, db: Database) -> None:
    effective = utcnow() + timedelta(days=10)
    created, _ = await _propose(skipping, db, effective_at=effective)
    task = await task_of(db, created.workflow_id)
    checker = await new_staff(db, "ops_manager")
    await tasks.claim_task(db, checker.actor, task.id)
    result = await tasks.decide_task(
        db, skipping.client, checker.actor, task.id, outcome="approve", reason=None, comment=None
    )
    assert result.case_status == "scheduled"
    assert await _db_status(db, created.id) == "scheduled"

    await skipping.env.sleep(timedelta(days=9, hours=23))
    assert await _status(skipping, created.workflow_id) == "scheduled"
    await skipping.env.sleep(timedelta(hours=2))
    final = await _result(skipping, created.workflow_id)
    assert final.status == "applied"
    async with db.session() as session:
        change = await session.get(ChangeRequest, created.id)
        assert change is not None and change.applied_version == 2


async def test_deadlines_do_not_move_with_a_skewed_application_clock(
    skipping: Skipping, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web/worker clock runs three days slow; expiry still comes 72 h after the start."""
    monkeypatch.setattr(changes, "utcnow", lambda: utcnow() - timedelta(days=3))
    created, _ = await _propose(skipping, db)
    await task_of(db, created.workflow_id)
    await skipping.env.sleep(timedelta(hours=71, minutes=50))
    assert await _status(skipping, created.workflow_id) == "pending_approval"
    await skipping.env.sleep(timedelta(minutes=20))
    assert (await _result(skipping, created.workflow_id)).status == "expired"
