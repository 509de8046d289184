"""The human-task protocol's entry points: inbox, claim, release, decide.

One choke point for the web pages, the JSON API and any background path. A decision is
checked here (permission, claim, segregation of duties) and then sent to the owning
workflow as an Update, whose validator checks the segregation rules again.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from casework import store
from casework.catalog import KIND_LABELS, find_kind
from casework.inbox import load_task, task_public, visible_to
from casework.narratives import NARRATIVE_INVALID, narrative_message, narrative_problems
from casework.refusals import refusal_from_update
from casework.registry import WORK
from casework.segregation import (
    CONFLICT,
    FORBIDDEN,
    CaseParties,
    TaskFacts,
    check_claim,
    check_decision,
)
from casework.segregation import case_parties as parties_of
from core.db import Database
from identity import mfa
from identity.access import not_found, record_refusal, require
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case, Decision, Task, TaskPublic, TaskStatus
from models.staff import StaffUser
from models.workflow_io import DecisionInput, DecisionResult
from shared.errors import Conflict, DomainError, Forbidden, Invalid, Unavailable

# Every kind of human task, as the inbox filter names it (the registry, live).
TASK_KINDS = KIND_LABELS


def task_permissions(kind: str) -> tuple[tuple[str, str], ...]:
    """Every permission a task of this kind needs (task:work, and its kind's own)."""
    entry = find_kind(kind)
    return entry.permissions if entry is not None else (WORK,)


async def case_parties(session: AsyncSession, case: Case) -> CaseParties:
    """Who acted on the case so far, as the segregation rules need it: its maker (whoever
    opened it; for a change request, its maker: propose_change opens the case as the maker)
    and the decider and step of each decided task."""
    rows = (
        await session.exec(
            select(Decision.task_id, Decision.actor_id, Task.task_key)
            .join(Task, col(Task.id) == Decision.task_id)
            .where(Decision.case_id == case.id)
        )
    ).all()
    return parties_of(case.opened_by, rows)


def task_facts(task: Task) -> TaskFacts:
    return TaskFacts(
        task_id=task.id,
        task_key=task.task_key,
        status=task.status,
        candidate_role=task.candidate_role,
        allowed_outcomes=tuple(task.allowed_outcomes),
        reason_required_for=tuple(task.reason_required_for),
        excluded_actors=frozenset(task.excluded_actors),
    )


def _as_error(code: str, message: str, kind: str) -> DomainError:
    if kind == FORBIDDEN:
        return Forbidden(message, code=code)
    if kind == CONFLICT:
        return Conflict(message, code=code)
    return Invalid(
        message, code=code, fields={"outcome" if "outcome" in code else "reason": message}
    )


async def _require_task_permission(db: Database, actor: Actor, task: Task, action: str) -> None:
    for obj, act in task_permissions(task.kind)[1:]:  # task:work is asked first, always
        await require(db, actor, obj, act, action=action, object_type="task", object_id=task.id)


async def claim_task(db: Database, actor: Actor, task_id: uuid.UUID) -> TaskPublic:
    """Atomic conditional claim: of N concurrent claimers exactly one wins."""
    await require(
        db, actor, "task", "work", action="task.claim", object_type="task", object_id=task_id
    )
    async with db.session() as session:
        loaded = await load_task(session, task_id)
        if loaded is None or not visible_to(actor, *loaded):
            raise await not_found(db, actor, "task", task_id, action="task.claim")
        task, case = loaded
        await _require_task_permission(db, actor, task, "task.claim")
        parties = await case_parties(session, case)
    refusal = check_claim(task_facts(task), parties, actor.user_id, actor.roles)
    if refusal is not None and refusal.code != "task_closed":
        error = _as_error(refusal.code, refusal.message, refusal.kind)
        await record_refusal(
            db, actor, error, action="task.claim", object_type="task", object_id=task_id
        )
        raise error

    now = utcnow()
    async with db.transaction() as session:
        won = await store.claim_task(
            session,
            task_id,
            actor.ref,
            origin=actor.origin,
            workflow_id=task.workflow_id,
            case_id=case.id,
            now=now,
        )
    if not won:  # store.claim_task answers True / False
        error = await _why_not_claimable(db, actor, task_id)
        await record_refusal(
            db, actor, error, action="task.claim", object_type="task", object_id=task_id
        )
        raise error
    # What the conditional UPDATE wrote, without reading it back.
    task.status, task.assignee_id, task.claimed_at = TaskStatus.CLAIMED, actor.user_id, now
    return task_public(task, case, actor.username, now)


async def _why_not_claimable(db: Database, actor: Actor, task_id: uuid.UUID) -> DomainError:
    async with db.session() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        if task.status == TaskStatus.CLAIMED:
            holder = await session.get(StaffUser, task.assignee_id) if task.assignee_id else None
            who = (
                "you"
                if task.assignee_id == actor.user_id
                else (holder.display_name if holder else "someone")
            )
            return Conflict(f"This task is already claimed by {who}.", code="already_claimed")
        if task.status != TaskStatus.OPEN:
            return Conflict(f"This task is already {task.status}.", code="task_closed")
        return Forbidden(
            "You are excluded from this task (segregation of duties).", code="excluded"
        )


async def release_task(db: Database, actor: Actor, task_id: uuid.UUID) -> TaskPublic:
    await require(
        db, actor, "task", "work", action="task.release", object_type="task", object_id=task_id
    )
    async with db.transaction() as session:
        loaded = await load_task(session, task_id)
        visible = loaded is not None and visible_to(actor, *loaded)
        released = visible and await store.release_task(
            session, task_id, actor.ref, origin=actor.origin
        )
    if not visible:
        raise await not_found(db, actor, "task", task_id, action="task.release")
    if not released:
        error = Conflict(
            "You do not hold this task, so there is nothing to release.", code="not_claimed"
        )
        await record_refusal(
            db, actor, error, action="task.release", object_type="task", object_id=task_id
        )
        raise error
    assert loaded is not None
    task, case = loaded
    task.status, task.assignee_id, task.claimed_at = TaskStatus.OPEN, None, None
    return task_public(task, case, None, utcnow())


async def decide_task(
    db: Database,
    temporal: Client,
    actor: Actor,
    task_id: uuid.UUID,
    *,
    outcome: str,
    reason: str | None,
    comment: str | None,
    details: dict[str, Any] | None = None,
) -> DecisionResult:
    """Decide a claimed task: checked here, then again by the workflow's update validator."""
    action = "task.decide"
    await require(db, actor, "task", "work", action=action, object_type="task", object_id=task_id)
    reason = (reason or "").strip() or None
    comment = (comment or "").strip() or None
    async with db.session() as session:
        loaded = await load_task(session, task_id)
        if loaded is None or not visible_to(actor, *loaded):
            raise await not_found(db, actor, "task", task_id, action=action)
        task, case = loaded
        parties = await case_parties(session, case)
    await _require_task_permission(db, actor, task, action)

    error: DomainError | None = None
    if reason and len(reason) > 60:
        error = Invalid("Reason codes are short.", fields={"reason": "at most 60 characters"})
    elif comment and len(comment) > 4000:
        error = Invalid("The comment is too long.", fields={"comment": "at most 4000 characters"})
    refusal = check_decision(task_facts(task), parties, actor.user_id, actor.roles, outcome, reason)
    # What the decision says: the same pure rules the workflow's validator applies.
    problems = narrative_problems(
        task.kind, outcome, reason, comment, high_risk=case.risk_level == "high"
    )
    if error is None and refusal is not None:
        error = _as_error(refusal.code, refusal.message, refusal.kind)
        if refusal.code == "reason_required":  # say at once what else it lacks (a rationale)
            error.fields = {**problems, **error.fields}
    if error is None and task.assignee_id != actor.user_id:
        error = Conflict(
            "Claim this task before deciding it."
            if task.assignee_id is None
            else "Someone else holds this task; only the claimant can decide it.",
            code="not_claimed",
        )
    if error is None and problems:
        error = Invalid(narrative_message(problems), code=NARRATIVE_INVALID, fields=problems)
    if error is not None:
        await record_refusal(
            db,
            actor,
            error,
            action=action,
            object_type="task",
            object_id=task_id,
            details={"outcome": outcome},
        )
        raise error
    kind = find_kind(task.kind)
    if kind is not None and outcome in kind.step_up_for:
        # Step-up: this outcome needs a second factor proved by this session just now.
        await mfa.require_step_up(db, actor, task_id=task_id, outcome=outcome)

    decision = DecisionInput(
        task_id=task_id,
        actor_id=actor.user_id,
        actor_name=actor.username,
        actor_roles=sorted(actor.roles),
        outcome=outcome,
        reason_code=reason,
        comment=comment,
        origin=actor.origin,
        details=details or {},
    )
    handle = temporal.get_workflow_handle(task.workflow_id)
    try:
        # A new update id per attempt: Temporal keeps a failed update's result under its
        # id, so reusing one would repeat a refusal (or a passing outage) forever. Duplicates
        # meet the validator instead: "already being recorded" or "already done".
        return await handle.execute_update(
            "decide",
            decision,
            id=f"decide-{task_id}-{uuid.uuid4().hex[:12]}",
            result_type=DecisionResult,
        )
    except WorkflowUpdateFailedError as exc:
        error = refusal_from_update(exc)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            error = Conflict("This case's workflow has already finished.", code="case_closed")
        else:
            error = Unavailable(
                "The workflow engine is unreachable; nothing was changed. Try again."
            )
    await record_refusal(
        db,
        actor,
        error,
        action=action,
        object_type="task",
        object_id=task_id,
        details={"outcome": outcome},
    )
    raise error
