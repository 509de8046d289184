"""The inbox: which tasks a staff member holds or may take, most urgent first."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from casework.segregation import candidate_values, holds_candidate_role
from core.db import Database, run_sql
from identity.access import can, can_see_case
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case, Task, TaskPage, TaskPublic, TaskStatus
from models.staff import StaffUser
from shared.errors import Invalid

# Which permission a task kind needs beyond "task:work" and its candidate role.
DUE_SOON = timedelta(hours=4)


def sla_state(task: Task, now: datetime) -> str:
    if task.status not in (TaskStatus.OPEN, TaskStatus.CLAIMED):
        return "closed"
    if task.due_at <= now:
        return "overdue"
    if task.due_at - now <= DUE_SOON:
        return "due_soon"
    return "ok"


def task_public(task: Task, case: Case, assignee: str | None, now: datetime) -> TaskPublic:
    return TaskPublic(
        id=task.id,
        case_id=case.id,
        case_reference=case.reference,
        case_type=case.case_type,
        case_title=case.title,
        workflow_id=task.workflow_id,
        title=task.title,
        kind=task.kind,
        candidate_role=task.candidate_role,
        status=task.status,
        priority=task.priority,
        escalation_level=task.escalation_level,
        assignee=assignee,
        assignee_id=task.assignee_id,
        due_at=task.due_at,
        created_at=task.created_at,
        allowed_outcomes=list(task.allowed_outcomes),
        reason_required_for=list(task.reason_required_for),
        sla_state=sla_state(task, now),
    )


def work_roles(actor: Actor) -> list[str]:
    """The candidate roles of the tasks this person may work (shared ones included)."""
    return candidate_values(actor.roles) if can(actor, "task", "work") else []


async def inbox(
    db: Database,
    actor: Actor,
    *,
    scope: str = "available",
    kind: str | None = None,
    priority: str | None = None,
    overdue: bool = False,
    q: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> TaskPage:
    """My claimed tasks (`mine`) or the open tasks of my roles I may take (`available`)."""
    if scope not in ("mine", "available"):
        raise Invalid("Unknown inbox scope.", fields={"scope": "mine or available"})
    page, per_page = max(page, 1), min(max(per_page, 1), 100)
    now = utcnow()
    where = []
    params: dict[str, Any] = {
        "me": actor.user_id,
        "limit": per_page,
        "offset": (page - 1) * per_page,
    }
    if scope == "mine":
        where.append("t.assignee_id = :me AND t.status = 'claimed'")
    else:
        roles = work_roles(actor)
        if not roles:
            return TaskPage(items=[], total=0, page=page, per_page=per_page)
        where.append(
            "t.status = 'open' AND t.candidate_role = ANY(:roles) AND NOT (:me = ANY(t.excluded_actors))"
        )
        params["roles"] = roles
    if kind:
        where.append("t.kind = :kind")
        params["kind"] = kind
    if priority:
        where.append("t.priority = :priority")
        params["priority"] = priority
    if overdue:
        where.append("t.due_at <= :now")
        params["now"] = now
    if q:
        where.append("(c.reference ILIKE :q OR t.title ILIKE :q)")
        params["q"] = f"%{q.strip()}%"
    clause = " AND ".join(where)
    # Only a text search needs the case row; without one the queries stay on task's indexes.
    source = 'task t JOIN "case" c ON c.id = t.case_id' if q else "task t"
    async with db.session() as session:
        total = (
            await run_sql(
                session,
                f"SELECT count(*) FROM {source} WHERE {clause}",  # noqa: S608 (fixed fragments, bound values)
                params,
            )
        ).scalar_one()
        ids = [
            row[0]
            for row in (
                await run_sql(
                    session,
                    f"SELECT t.id FROM {source} WHERE {clause} "  # noqa: S608
                    "ORDER BY t.due_at, t.id LIMIT :limit OFFSET :offset",
                    params,
                )
            ).all()
        ]
        items = await tasks_by_ids(session, ids, now)
    return TaskPage(items=items, total=int(total), page=page, per_page=per_page)


async def count_mine(db: Database, actor: Actor) -> int:
    """How many tasks the actor holds (the inbox's "My tasks" badge)."""
    async with db.session() as session:
        return int(
            (
                await run_sql(
                    session,
                    "SELECT count(*) FROM task WHERE assignee_id = :me AND status = 'claimed'",
                    {"me": actor.user_id},
                )
            ).scalar_one()
        )


async def tasks_by_ids(
    session: AsyncSession, ids: list[uuid.UUID], now: datetime
) -> list[TaskPublic]:
    if not ids:
        return []
    rows = (
        await session.exec(
            select(Task, Case, StaffUser.username)
            .join(Case, col(Case.id) == Task.case_id)
            .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
            .where(col(Task.id).in_(ids))
        )
    ).all()
    by_id = {t.id: task_public(t, c, name, now) for t, c, name in rows}
    return [by_id[i] for i in ids if i in by_id]


def visible_to(actor: Actor, task: Task, case: Case) -> bool:
    return (
        can_see_case(actor, case.case_type)
        or holds_candidate_role(task.candidate_role, actor.roles)
        or task.assignee_id == actor.user_id
    )


async def load_task(session: AsyncSession, task_id: uuid.UUID) -> tuple[Task, Case] | None:
    row = (
        await session.exec(
            select(Task, Case).join(Case, col(Case.id) == Task.case_id).where(Task.id == task_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def get_task(db: Database, actor: Actor, task_id: uuid.UUID) -> TaskPublic | None:
    async with db.session() as session:
        loaded = await load_task(session, task_id)
        if loaded is None or not visible_to(actor, *loaded):
            return None
        task, case = loaded
        name = None
        if task.assignee_id:
            user = await session.get(StaffUser, task.assignee_id)
            name = user.username if user else None
        return task_public(task, case, name, utcnow())
