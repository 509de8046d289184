"""A case with one open human step, written as rows (no workflow behind it): enough for
the follow-up tools (snooze, tags), which act on any case type (tests only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from core.db import Database
from models.base import utcnow
from models.case_follow_up import CaseSnooze
from models.cases import Case, Task


@dataclass
class OpenCase:
    case: Case
    task: Task


async def case_with_step(
    db: Database, *, case_type: str = "aml", role: str = "aml_analyst", kind: str = "aml_l1"
) -> OpenCase:
    tag = uuid.uuid4().hex[:10]
    case = Case(
        reference=f"FUP-{tag}",
        case_type=case_type,
        title="Follow-up test case",
        subject_type="customer",
        subject_id=str(uuid.uuid4()),
        workflow_id=f"{case_type}-followup-{uuid.uuid4()}",
    )
    task = Task(
        case_id=case.id,
        workflow_id=case.workflow_id,
        task_key="review",
        kind=kind,
        title=f"Review {case.reference}",
        candidate_role=role,
        allowed_outcomes=["close", "escalate"],
        due_at=utcnow() + timedelta(days=2),
    )
    async with db.transaction() as session:
        session.add(case)
        await session.flush()
        session.add(task)
    return OpenCase(case, task)


async def snoozes(db: Database, case_id: uuid.UUID) -> list[CaseSnooze]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(CaseSnooze)
                    .where(CaseSnooze.case_id == case_id)
                    .order_by(col(CaseSnooze.snoozed_at))
                )
            ).all()
        )


async def in_force(db: Database, case_id: uuid.UUID) -> CaseSnooze | None:
    return next((s for s in await snoozes(db, case_id) if s.ended_at is None), None)
