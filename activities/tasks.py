"""Activities of the shared human-task protocol: open, escalate, record a decision."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outage import not_committed_yet, retry_on_outage
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework.notifications import queue_notification
from changes.queries.targets import target_version
from core.db import Database, run_sql
from models.base import utcnow
from models.cases import Decision, Task, TaskStatus
from models.changes import ChangeRequest
from models.workflow_io import (
    DecisionResult,
    EscalateTaskInput,
    ExpireTaskInput,
    OpenTaskInput,
    RecordDecisionInput,
)


def refuse(message: str, code: str) -> ApplicationError:
    """A business refusal: never retried, and its type reaches the caller as the reason code."""
    return ApplicationError(message, type=code, non_retryable=True)


class TaskActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def open_task(self, inp: OpenTaskInput) -> None:
        """Insert the task row once per (workflow id, task key); a retry inserts nothing."""
        spec = inp.spec
        async with self.db.transaction() as session:
            # The case row is the rendezvous with whoever closes the case: share-locking it
            # means a task is never created for a case that was closed meanwhile.
            case_status = (
                await run_sql(
                    session,
                    'SELECT status FROM "case" WHERE id = :id FOR SHARE',
                    {"id": inp.case_id},
                )
            ).scalar_one_or_none()
            if case_status is None:
                raise not_committed_yet(f"case {inp.case_id}")
            if case_status != "open":
                return
            stmt = (
                pg_insert(Task)
                .values(
                    id=spec.task_id,
                    case_id=inp.case_id,
                    workflow_id=inp.workflow_id,
                    task_key=spec.task_key,
                    kind=spec.kind,
                    title=spec.title,
                    candidate_role=spec.candidate_role,
                    status=TaskStatus.OPEN,
                    priority=spec.priority,
                    escalation_level=0,
                    allowed_outcomes=spec.allowed_outcomes,
                    reason_required_for=spec.reason_required_for,
                    excluded_actors=spec.excluded_actors,
                    created_at=utcnow(),
                    due_at=inp.due_at,
                )
                .on_conflict_do_nothing(index_elements=["workflow_id", "task_key"])
                .returning(col(Task.id))
            )
            inserted = (await session.exec(stmt)).first()
            if inserted is None:
                return
            await audit.record(
                session,
                action="task.opened",
                actor=SYSTEM,
                object_type="task",
                object_id=spec.task_id,
                workflow_id=inp.workflow_id,
                details={
                    "case_id": inp.case_id,
                    "kind": spec.kind,
                    "candidate_role": spec.candidate_role,
                    "due_at": inp.due_at,
                },
            )

    @activity.defn
    @retry_on_outage
    async def expire_task(self, inp: ExpireTaskInput) -> None:
        """A task whose time ran out undecided (an AML L1 SLA, a dispute deadline): expired."""
        async with self.db.transaction() as session:
            expired = (
                await run_sql(
                    session,
                    "UPDATE task SET status = 'expired', completed_at = now() "
                    "WHERE id = :id AND status IN ('open', 'claimed') RETURNING id",
                    {"id": inp.task_id},
                )
            ).first()
            if expired is not None:
                await audit.record(
                    session,
                    action="task.expired",
                    actor=SYSTEM,
                    object_type="task",
                    object_id=inp.task_id,
                    workflow_id=inp.workflow_id,
                    details={"case_id": inp.case_id, "why": "time ran out undecided"},
                )

    @activity.defn
    @retry_on_outage
    async def escalate_task(self, inp: EscalateTaskInput) -> bool:
        """Raise a stale task's escalation level and priority, and notify the next tier."""
        async with self.db.transaction() as session:
            result = await run_sql(
                session,
                "UPDATE task SET escalation_level = :level, priority = :priority, due_at = :due "
                "WHERE id = :id AND status IN ('open', 'claimed') AND escalation_level < :level "
                "RETURNING title",
                {
                    "level": inp.level,
                    "priority": inp.priority,
                    "due": inp.next_due_at,
                    "id": inp.task_id,
                },
            )
            row = result.first()
            if row is None:
                return False
            await run_sql(
                session,
                'UPDATE "case" SET priority = :priority WHERE id = :case_id',
                {"priority": inp.priority, "case_id": inp.case_id},
            )
            await queue_notification(
                session,
                dedupe_key=f"escalation:{inp.task_id}:{inp.level}",
                role=inp.notify_role,
                subject=f"Overdue: {row.title}",
                body=(
                    f"The task '{row.title}' passed its SLA and is now escalation level "
                    f"{inp.level} ({inp.priority} priority)."
                ),
                case_id=inp.case_id,
            )
            await audit.record(
                session,
                action="task.escalated",
                actor=SYSTEM,
                object_type="task",
                object_id=inp.task_id,
                workflow_id=inp.workflow_id,
                details={
                    "level": inp.level,
                    "priority": inp.priority,
                    "next_due_at": inp.next_due_at,
                },
            )
            return True

    @activity.defn
    @retry_on_outage
    async def record_decision(self, inp: RecordDecisionInput) -> DecisionResult:
        """Record a decision once: the claimant, an open task, and (for approvals) a fresh target."""
        async with self.db.transaction() as session:
            return await store_decision(session, inp)


async def store_decision(session: AsyncSession, inp: RecordDecisionInput) -> DecisionResult:
    """The decision row, the task done, tier separation and the audit event, in the caller's
    transaction; a retry after our own commit returns the decision already stored."""
    d = inp.decision
    task = (await session.exec(select(Task).where(Task.id == d.task_id).with_for_update())).first()
    if task is None:
        raise refuse("No such task.", "unknown_task")
    existing = (await session.exec(select(Decision).where(Decision.task_id == d.task_id))).first()
    if existing is not None:
        if existing.actor_id == d.actor_id and existing.outcome == d.outcome:
            # A retry after our own commit: the decision stands, nothing more to do.
            return DecisionResult(
                task_id=d.task_id, decision_id=existing.id, outcome=existing.outcome
            )
        raise refuse("This task has already been decided.", "already_decided")
    if task.status != TaskStatus.CLAIMED or task.assignee_id != d.actor_id:
        raise refuse("Claim the task before deciding it (it is not claimed by you).", "not_claimed")
    if inp.change_id is not None and d.outcome == "approve":
        await _require_fresh_target(session, inp.change_id)

    now = utcnow()
    decision = Decision(
        id=uuid.uuid4(),
        case_id=inp.case_id,
        task_id=d.task_id,
        outcome=d.outcome,
        reason_code=d.reason_code,
        comment=d.comment,
        actor_id=d.actor_id,
        decided_at=now,
        details={"channel": d.origin.channel, **d.details},
    )
    session.add(decision)
    task.status = TaskStatus.DONE
    task.outcome = d.outcome
    task.completed_at = now
    session.add(task)
    if inp.sibling_task_ids:
        # Tier separation: whoever decided one step may not take another of this case.
        await run_sql(
            session,
            "UPDATE task SET excluded_actors = array_append(excluded_actors, :actor), "
            "assignee_id = CASE WHEN assignee_id = :actor THEN NULL ELSE assignee_id END, "
            "status = CASE WHEN assignee_id = :actor THEN 'open' ELSE status END, "
            "claimed_at = CASE WHEN assignee_id = :actor THEN NULL ELSE claimed_at END "
            "WHERE id = ANY(:ids) AND status IN ('open', 'claimed') "
            "AND NOT (:actor = ANY(excluded_actors))",
            {"actor": d.actor_id, "ids": list(inp.sibling_task_ids)},
        )
    await session.flush()
    await audit.record(
        session,
        action="task.decided",
        actor=ActorRef(d.actor_id, d.actor_name),
        object_type="task",
        object_id=d.task_id,
        origin=d.origin,
        workflow_id=inp.workflow_id,
        details={
            "case_id": inp.case_id,
            "outcome": d.outcome,
            "reason_code": d.reason_code,
            "decision_id": decision.id,
        },
    )
    return DecisionResult(task_id=d.task_id, decision_id=decision.id, outcome=d.outcome)


async def _require_fresh_target(session: AsyncSession, change_id: uuid.UUID) -> None:
    change = await session.get(ChangeRequest, change_id)
    if change is None:
        raise refuse("No such change request.", "unknown_change")
    current = await target_version(session, change.target_type, change.target_id, lock=True)
    if current != change.base_version:
        raise refuse(
            f"The {change.target_type} changed since this request was made (it was version "
            f"{change.base_version} and is now version {current}); the approval would apply "
            "to values the maker never saw. The request is closed as superseded.",
            "stale_target",
        )


async def cancel_open_tasks(session: AsyncSession, case_id: uuid.UUID, now: datetime) -> None:
    """A closing case's tasks still open or claimed: cancelled (in the closing transaction)."""
    await run_sql(
        session,
        "UPDATE task SET status = 'cancelled', completed_at = :now "
        "WHERE case_id = :case AND status IN ('open', 'claimed')",
        {"now": now, "case": case_id},
    )


async def close_case(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    outcome: str,
    reason: str | None,
    now: datetime,
    stage: str = "closed",
) -> None:
    """Close a case with its outcome and cancel its open tasks, in the caller's transaction."""
    await run_sql(
        session,
        "UPDATE \"case\" SET status = 'closed', stage = :stage, outcome = :outcome, "
        "outcome_reason = :reason, closed_at = :now WHERE id = :case",
        {
            "stage": stage,
            "outcome": outcome,
            "reason": reason[:500] if reason is not None else None,
            "now": now,
            "case": case_id,
        },
    )
    await cancel_open_tasks(session, case_id, now)
