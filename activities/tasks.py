"""Activities of the shared human-task protocol: open, expire, escalate, record a decision.

Thin side-effect wrappers: every write is the kernel store's (`casework.store`), in one
transaction with its audit event; a business refusal becomes a non-retryable
ApplicationError whose type is the reason code.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outage import not_committed_yet, retry_on_outage
from audit.trail import SYSTEM, ActorRef
from casework import store
from casework.notifications import queue_notification
from changes.queries.targets import target_version
from core.db import Database
from models.changes import ChangeRequest
from models.workflow_io import (
    CloseCaseInput,
    DecisionResult,
    EscalateTaskInput,
    ExpireTaskInput,
    OpenTaskInput,
    RecordDecisionInput,
)


def refuse(message: str, code: str) -> ApplicationError:
    """A business refusal: never retried, and its type reaches the caller as the reason code."""
    return ApplicationError(message, type=code, non_retryable=True)


@asynccontextmanager
async def refusals() -> AsyncIterator[None]:
    """The store's refusals, as the activity's non-retryable errors."""
    try:
        yield
    except store.StoreRefusal as exc:
        raise refuse(exc.message, exc.code) from exc


class TaskActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def open_task(self, inp: OpenTaskInput) -> None:
        """Insert the task row once per (workflow id, task key); a retry inserts nothing."""
        async with self.db.transaction() as session:
            opened = await store.open_task(
                session,
                case_id=inp.case_id,
                workflow_id=inp.workflow_id,
                spec=inp.spec,
                due_at=inp.due_at,
            )
            if opened is None:
                raise not_committed_yet(f"case {inp.case_id}")

    @activity.defn
    @retry_on_outage
    async def expire_task(self, inp: ExpireTaskInput) -> None:
        """A task whose time ran out undecided (an AML L1 SLA, a dispute deadline): expired."""
        async with self.db.transaction() as session:
            await store.expire_task(
                session, inp.task_id, case_id=inp.case_id, workflow_id=inp.workflow_id
            )

    @activity.defn
    @retry_on_outage
    async def escalate_task(self, inp: EscalateTaskInput) -> bool:
        """Raise a stale task's escalation level and priority, and notify the next tier."""
        async with self.db.transaction() as session:
            title = await store.escalate_task(
                session,
                inp.task_id,
                case_id=inp.case_id,
                workflow_id=inp.workflow_id,
                level=inp.level,
                priority=inp.priority,
                next_due_at=inp.next_due_at,
            )
            if title is None:
                return False
            await queue_notification(
                session,
                dedupe_key=f"escalation:{inp.task_id}:{inp.level}",
                role=inp.notify_role,
                subject=f"Overdue: {title}",
                body=(
                    f"The task '{title}' passed its SLA and is now escalation level "
                    f"{inp.level} ({inp.priority} priority)."
                ),
                case_id=inp.case_id,
            )
            return True

    @activity.defn
    @retry_on_outage
    async def record_decision(self, inp: RecordDecisionInput) -> DecisionResult:
        """Record a decision once: the claimant, an open task, and (for approvals) a fresh target."""
        async with self.db.transaction() as session:
            return await store_decision(session, inp)

    @activity.defn
    @retry_on_outage
    async def close_case(self, inp: CloseCaseInput) -> None:
        """Close an open case with the deciding step's outcome (its open tasks cancelled);
        a retry after our own commit changes nothing."""
        async with self.db.transaction() as session:
            await store.close_case(
                session,
                inp.case_id,
                outcome=inp.outcome,
                reason=inp.reason_code,
                stage=inp.outcome,
                only_open=True,
                workflow_id=inp.workflow_id,
                event=store.Event(
                    "case.closed",
                    actor=ActorRef(inp.decided_by, "decider") if inp.decided_by else SYSTEM,
                    details={
                        "outcome": inp.outcome,
                        "reason_code": inp.reason_code,
                        "task_id": str(inp.task_id) if inp.task_id else None,
                    },
                ),
            )


async def store_decision(session: AsyncSession, inp: RecordDecisionInput) -> DecisionResult:
    """The kernel store's decision, in the caller's transaction; an approval of a change
    first checks that its target is still the version the maker saw."""
    change_id = inp.change_id

    async def fresh_target() -> None:
        if change_id is not None and inp.decision.outcome == "approve":
            await _require_fresh_target(session, change_id)

    async with refusals():
        return await store.store_decision(session, inp, check=fresh_target)


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
    """A closing case's open tasks, cancelled (the store's `end_open_tasks`)."""
    await store.end_open_tasks(session, case_id, now)


async def close_case(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    outcome: str,
    reason: str | None,
    now: datetime,
    stage: str = "closed",
) -> None:
    """Close a case with its outcome and cancel its open tasks (the store's `close_case`)."""
    await store.close_case(session, case_id, outcome=outcome, reason=reason, now=now, stage=stage)
