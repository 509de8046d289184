"""The one store for case and task writes.

Every write a case or a task goes through lives here: open a case, move its stage, raise
its priority, close it; open, claim, assign, release, expire, escalate and cancel a task;
store a decision. Each takes the caller's session and writes its audit event in that same
transaction (so a write and the event it produces commit together or not at all), except
where a case's opening is audited by `casework.starting` after its workflow starts: the
audit chain's lock is never held across a call to Temporal.

Conditional single-statement updates (`UPDATE … WHERE status = … RETURNING`) make each
operation idempotent for a retried activity and decide races in the database: of two
claimers exactly one wins, an expired task stays expired.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework.catalog import case_type as case_type_of
from casework.catalog import find_kind
from core.db import run_sql
from identity import mfa
from models.base import utcnow
from models.cases import Case, Decision, Task, TaskStatus
from models.workflow_io import DecisionResult, Origin, RecordDecisionInput, TaskSpec

OPEN_TASK = ("open", "claimed")
PRIORITY_RANK = {"normal": 0, "high": 1, "urgent": 2}


class StoreRefusal(Exception):
    """A business refusal of a write (its code is the reason code); the activity layer
    turns it into a non-retryable ApplicationError, the web layer into a DomainError."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Event:
    """The audit event a write produces (action, who, and what it says)."""

    action: str
    actor: ActorRef = SYSTEM
    origin: Origin | None = None
    details: dict[str, Any] = field(default_factory=dict)
    object_type: str = "case"
    object_id: Any = None  # defaults to the case's id
    reason: str | None = None
    workflow_id: str | None = None  # defaults to the case's workflow (the one writing it)


async def record_event(
    session: AsyncSession, event: Event, *, object_id: Any, workflow_id: str | None
) -> None:
    await audit.record(
        session,
        action=event.action,
        actor=event.actor,
        object_type=event.object_type,
        object_id=event.object_id if event.object_id is not None else object_id,
        origin=event.origin,
        workflow_id=event.workflow_id or workflow_id,
        reason=event.reason,
        details=event.details,
    )


# ---------------------------------------------------------------------------------- cases
async def next_reference(session: AsyncSession, case_type: str) -> str:
    """The next reference of a case of this type ("AML-1030": the registry's prefix)."""
    number = (await run_sql(session, "SELECT nextval('case_reference_seq')")).scalar_one()
    return case_type_of(case_type).reference(number)


async def open_case(
    session: AsyncSession,
    *,
    case_type: str,
    title: str,
    stage: str,
    subject_type: str,
    subject_id: str,
    workflow_id: str,
    reference: str | None = None,
    case_id: uuid.UUID | None = None,
    opened_by: uuid.UUID | None = None,
    opened_at: datetime | None = None,
    priority: str = "normal",
    risk_level: str = "low",
    customer_id: uuid.UUID | None = None,
    event: Event | None = None,
) -> Case:
    """Insert a case (flushed, so rows may refer to it). Its maker is `opened_by`: stored
    once here and read by segregation of duties as the case's maker, by id.

    `event` is audited at once; a case whose workflow is started next is audited by
    `casework.starting.start_case` after the start instead (pass no event)."""
    case = Case(
        id=case_id or uuid.uuid4(),
        reference=reference or await next_reference(session, case_type),
        case_type=case_type,
        title=title[:300],
        stage=stage,
        priority=priority,
        risk_level=risk_level,
        subject_type=subject_type,
        subject_id=subject_id,
        workflow_id=workflow_id,
        opened_by=opened_by,
        opened_at=opened_at or utcnow(),
        customer_id=customer_id,
    )
    session.add(case)
    await session.flush()
    if event is not None:
        await record_event(session, event, object_id=case.id, workflow_id=workflow_id)
    return case


async def move_stage(
    session: AsyncSession,
    case_id: uuid.UUID,
    stage: str,
    *,
    raise_priority_to: str | None = None,
    only_if_changed: bool = False,
    event: Event | None = None,
    workflow_id: str | None = None,
) -> bool:
    """Move an open case to `stage` (and raise, never lower, its priority); False when the
    case is closed (or already at that stage, with `only_if_changed`)."""
    moved = (
        await run_sql(
            session,
            'UPDATE "case" SET stage = :stage, priority = CASE WHEN :rank > '
            "(CASE priority WHEN 'urgent' THEN 2 WHEN 'high' THEN 1 ELSE 0 END) "
            "THEN :priority ELSE priority END "
            "WHERE id = :id AND status = 'open' AND (NOT :changed OR stage <> :stage) "
            "RETURNING id",
            {
                "stage": stage[:40],
                "priority": raise_priority_to or "normal",
                "rank": PRIORITY_RANK.get(raise_priority_to or "normal", 0),
                "changed": only_if_changed,
                "id": case_id,
            },
        )
    ).first()
    if moved is not None and event is not None:
        await record_event(session, event, object_id=case_id, workflow_id=workflow_id)
    return moved is not None


async def make_urgent(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    task_id: uuid.UUID | None = None,
    tasks: bool = True,
) -> None:
    """A deadline at risk: the case becomes urgent, with one of its open tasks (`task_id`),
    or all of them (`tasks`), or none."""
    await run_sql(
        session, "UPDATE \"case\" SET priority = 'urgent' WHERE id = :id", {"id": case_id}
    )
    if task_id is not None:
        await run_sql(
            session,
            "UPDATE task SET priority = 'urgent' WHERE id = :id AND status IN ('open', 'claimed')",
            {"id": task_id},
        )
    elif tasks:
        await run_sql(
            session,
            "UPDATE task SET priority = 'urgent' "
            "WHERE case_id = :id AND status IN ('open', 'claimed')",
            {"id": case_id},
        )


async def close_case(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    outcome: str,
    reason: str | None,
    now: datetime | None = None,
    stage: str = "closed",
    task_fate: str = "cancelled",
    only_open: bool = False,
    customer_id: uuid.UUID | None = None,
    event: Event | None = None,
    workflow_id: str | None = None,
) -> bool:
    """Close a case with its outcome and end its open tasks (`task_fate`), in the caller's
    transaction; with `only_open`, a case already closed is left as it is (False)."""
    now = now or utcnow()
    closed = (
        await run_sql(
            session,
            "UPDATE \"case\" SET status = 'closed', stage = :stage, outcome = :outcome, "
            "outcome_reason = :reason, closed_at = :now, "
            "customer_id = COALESCE(:customer, customer_id) "
            "WHERE id = :case AND (NOT :only_open OR status = 'open') RETURNING id",
            {
                "stage": stage[:40],
                "outcome": outcome,
                "reason": reason[:500] if reason is not None else None,
                "now": now,
                "customer": customer_id,
                "only_open": only_open,
                "case": case_id,
            },
        )
    ).first()
    if closed is None:
        return False
    await end_open_tasks(session, case_id, now, fate=task_fate)
    if event is not None:
        await record_event(session, event, object_id=case_id, workflow_id=workflow_id)
    return True


# ---------------------------------------------------------------------------------- tasks
async def end_open_tasks(
    session: AsyncSession,
    case_id: uuid.UUID,
    now: datetime,
    *,
    fate: str = "cancelled",
    workflow_id: str | None = None,
) -> None:
    """A closing case's (or an ended run's) tasks still open or claimed: ended as `fate`."""
    if workflow_id is not None:
        await run_sql(
            session,
            "UPDATE task SET status = :fate, completed_at = :now "
            "WHERE workflow_id = :wid AND status IN ('open', 'claimed')",
            {"fate": fate, "now": now, "wid": workflow_id},
        )
        return
    await run_sql(
        session,
        "UPDATE task SET status = :fate, completed_at = :now "
        "WHERE case_id = :case AND status IN ('open', 'claimed')",
        {"fate": fate, "now": now, "case": case_id},
    )


async def open_task(
    session: AsyncSession,
    *,
    case_id: uuid.UUID,
    workflow_id: str,
    spec: TaskSpec,
    due_at: datetime,
) -> bool | None:
    """Insert the task once per (workflow id, task key); True when inserted, False for a
    retry (nothing inserted), None when the case is not there yet (not committed)."""
    # The case row is the rendezvous with whoever closes the case: share-locking it means
    # a task is never created for a case that was closed meanwhile.
    case_status = (
        await run_sql(
            session, 'SELECT status FROM "case" WHERE id = :id FOR SHARE', {"id": case_id}
        )
    ).scalar_one_or_none()
    if case_status is None:
        return None
    if case_status != "open":
        return False
    stmt = (
        pg_insert(Task)
        .values(
            id=spec.task_id,
            case_id=case_id,
            workflow_id=workflow_id,
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
            due_at=due_at,
        )
        .on_conflict_do_nothing(index_elements=["workflow_id", "task_key"])
        .returning(col(Task.id))
    )
    if (await session.exec(stmt)).first() is None:
        return False
    await audit.record(
        session,
        action="task.opened",
        actor=SYSTEM,
        object_type="task",
        object_id=spec.task_id,
        workflow_id=workflow_id,
        details={
            "case_id": case_id,
            "kind": spec.kind,
            "candidate_role": spec.candidate_role,
            "due_at": due_at,
        },
    )
    return True


async def claim_task(
    session: AsyncSession,
    task_id: uuid.UUID,
    actor: ActorRef,
    *,
    origin: Origin | None,
    workflow_id: str,
    case_id: uuid.UUID,
    now: datetime,
) -> bool:
    """Claim an open task for `actor` unless segregation excludes them: one conditional
    update, so of N concurrent claimers exactly one wins."""
    won = (
        await run_sql(
            session,
            "UPDATE task SET status = 'claimed', assignee_id = :me, claimed_at = :now "
            "WHERE id = :id AND status = 'open' AND NOT (:me = ANY(excluded_actors)) "
            "RETURNING id",
            {"me": actor.id, "now": now, "id": task_id},
        )
    ).first()
    if won is not None:
        await audit.record(
            session,
            action="task.claimed",
            actor=actor,
            object_type="task",
            object_id=task_id,
            origin=origin,
            workflow_id=workflow_id,
            details={"case_id": case_id},
        )
    return won is not None


async def assign_task(
    session: AsyncSession,
    task_id: uuid.UUID,
    assignee: ActorRef,
    *,
    by: ActorRef,
    origin: Origin | None,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> str | None:
    """Give an open or claimed task to `assignee` (a lead's assignment), unless they are
    excluded from it; the task's workflow id when done, None when it could not be."""
    row = (
        await run_sql(
            session,
            "UPDATE task SET status = 'claimed', assignee_id = :who, claimed_at = :now "
            "WHERE id = :id AND status IN ('open', 'claimed') "
            "AND NOT (:who = ANY(excluded_actors)) RETURNING workflow_id",
            {"who": assignee.id, "now": now, "id": task_id},
        )
    ).first()
    if row is None:
        return None
    await audit.record(
        session,
        action="task.assigned",
        actor=by,
        object_type="task",
        object_id=task_id,
        origin=origin,
        workflow_id=row[0],
        details={"assignee_id": assignee.id, "assignee": assignee.name, **(details or {})},
    )
    return str(row[0])


async def release_task(
    session: AsyncSession, task_id: uuid.UUID, actor: ActorRef, *, origin: Origin | None
) -> bool:
    """Give back a task `actor` holds (open again for the role)."""
    released = (
        await run_sql(
            session,
            "UPDATE task SET status = 'open', assignee_id = NULL, claimed_at = NULL "
            "WHERE id = :id AND status = 'claimed' AND assignee_id = :me RETURNING workflow_id",
            {"id": task_id, "me": actor.id},
        )
    ).first()
    if released is not None:
        await audit.record(
            session,
            action="task.released",
            actor=actor,
            object_type="task",
            object_id=task_id,
            origin=origin,
            workflow_id=released[0],
        )
    return released is not None


async def expire_task(
    session: AsyncSession, task_id: uuid.UUID, *, case_id: uuid.UUID, workflow_id: str
) -> bool:
    """A task whose time ran out undecided (an AML L1 SLA, a dispute deadline): expired."""
    expired = (
        await run_sql(
            session,
            "UPDATE task SET status = 'expired', completed_at = now() "
            "WHERE id = :id AND status IN ('open', 'claimed') RETURNING id",
            {"id": task_id},
        )
    ).first()
    if expired is not None:
        await audit.record(
            session,
            action="task.expired",
            actor=SYSTEM,
            object_type="task",
            object_id=task_id,
            workflow_id=workflow_id,
            details={"case_id": case_id, "why": "time ran out undecided"},
        )
    return expired is not None


async def escalate_task(
    session: AsyncSession,
    task_id: uuid.UUID,
    *,
    case_id: uuid.UUID,
    workflow_id: str,
    level: int,
    priority: str,
    next_due_at: datetime,
) -> str | None:
    """Raise a stale task's escalation level and priority (and its case's priority); the
    task's title when raised, None for a retry or a task no longer open."""
    row = (
        await run_sql(
            session,
            "UPDATE task SET escalation_level = :level, priority = :priority, due_at = :due "
            "WHERE id = :id AND status IN ('open', 'claimed') AND escalation_level < :level "
            "RETURNING title",
            {"level": level, "priority": priority, "due": next_due_at, "id": task_id},
        )
    ).first()
    if row is None:
        return None
    await run_sql(
        session,
        'UPDATE "case" SET priority = :priority WHERE id = :case_id',
        {"priority": priority, "case_id": case_id},
    )
    await audit.record(
        session,
        action="task.escalated",
        actor=SYSTEM,
        object_type="task",
        object_id=task_id,
        workflow_id=workflow_id,
        details={"level": level, "priority": priority, "next_due_at": next_due_at},
    )
    return str(row.title)


async def store_decision(
    session: AsyncSession,
    inp: RecordDecisionInput,
    *,
    check: Callable[[], Awaitable[None]] | None = None,
) -> DecisionResult:
    """The decision row, the task done, tier separation and the audit event, in the caller's
    transaction; a retry after our own commit returns the decision already stored. `check`
    runs once the task is known to be claimed by the decider and not yet decided (a change's
    approval: is its target still the version the maker saw?)."""
    d = inp.decision
    task = (await session.exec(select(Task).where(Task.id == d.task_id).with_for_update())).first()
    if task is None:
        raise StoreRefusal("No such task.", "unknown_task")
    existing = (await session.exec(select(Decision).where(Decision.task_id == d.task_id))).first()
    if existing is not None:
        if existing.actor_id == d.actor_id and existing.outcome == d.outcome:
            # A retry after our own commit: the decision stands, nothing more to do.
            return DecisionResult(
                task_id=d.task_id, decision_id=existing.id, outcome=existing.outcome
            )
        raise StoreRefusal("This task has already been decided.", "already_decided")
    if task.status != TaskStatus.CLAIMED or task.assignee_id != d.actor_id:
        raise StoreRefusal(
            "Claim the task before deciding it (it is not claimed by you).", "not_claimed"
        )
    kind = find_kind(task.kind)
    # Step-up at the kernel: whichever door the decision came through (even straight to
    # Temporal), its decider proved a second factor within the last few minutes.
    if (
        kind is not None
        and d.outcome in kind.step_up_for
        and not await mfa.stepped_up(session, d.actor_id)
    ):
        raise StoreRefusal(
            "This decision needs the decider's second factor from the last few minutes "
            "(step-up); none was entered.",
            mfa.STEP_UP_REQUIRED,
        )
    if check is not None:
        await check()
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
