"""Bulk actions on AML tasks: assign, release, or close many L1 cases with one reason.

Every item goes through the same door as a single action (casework.tasks claim / release /
decide, casework.assignment.assign_task): the same permissions, segregation of duties,
narrative rules and Temporal Update, each audited there. Each item reports its own result
(done, or refused and why); a refusal or an outage on one item never undoes or stops the
others. After a bulk close, a share of the closed cases opens a quality review by a second
analyst (casework/quality.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlmodel import col, func, or_, select
from temporalio.client import Client

from audit import trail as audit
from casework import quality
from casework.assignment import assign_task
from casework.catalog import kind
from casework.segregation import candidate_values
from casework.tasks import claim_task, decide_task, release_task
from casework.teams import TEAMS, team_roles
from core.db import Database
from identity import grants
from identity.access import can, record_refusal, require
from identity.actors import Actor
from models.cases import OPEN_TASK_STATUSES, Case, Task, TaskStatus
from models.staff import RoleAssignment, StaffUser
from shared.errors import DomainError, Invalid

BulkAction = Literal["close", "release", "assign"]
ACTIONS: dict[str, str] = {
    "close": "Close (L1)",
    "release": "Release",
    "assign": "Assign to",
}
L1_KIND = "aml_l1_review"
# The closing reasons of an L1 review, as its kind declares them (registry).
CLOSE_REASONS = kind(L1_KIND).reasons["close"]
AML_KINDS = ("aml_l1_review", "aml_l2_review", "aml_closure_approval", "aml_mlro_decision")
MAX_ITEMS = 200
# Items in flight at once: each waits mostly on its workflow's Update round trip.
CONCURRENCY = 4
log = logging.getLogger(__name__)
PER_PAGE = 50


@dataclass
class ItemResult:
    task_id: uuid.UUID
    reference: str
    case_id: uuid.UUID | None
    done: bool
    message: str
    code: str = "done"


@dataclass
class BulkSummary:
    action: str
    done: int
    refused: int
    quality_reviews: list[quality.Opened] = field(default_factory=list)
    quality_review_failures: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class BulkRequest:
    action: str
    task_ids: tuple[uuid.UUID, ...]
    reason: str | None = None
    comment: str | None = None
    assignee: str | None = None


async def check_request(db: Database, actor: Actor, req: BulkRequest) -> None:
    """Refuse the request as a whole (audited) when it cannot be run at all."""
    action = f"bulk.{req.action}" if req.action in ACTIONS else "bulk"
    await require(db, actor, "aml", "bulk", action=action)
    fields: dict[str, str] = {}
    if req.action not in ACTIONS:
        fields["action"] = f"choose one of: {', '.join(ACTIONS)}"
    if not req.task_ids:
        fields["task_id"] = "select at least one task"
    elif len(req.task_ids) > MAX_ITEMS:
        fields["task_id"] = f"at most {MAX_ITEMS} tasks at once ({len(req.task_ids)} selected)"
    if req.action == "close" and (req.reason or "") not in CLOSE_REASONS:
        fields["reason"] = f"choose a closing reason: {', '.join(CLOSE_REASONS)}"
    if req.comment and len(req.comment) > 4000:
        fields["comment"] = "at most 4000 characters"
    if req.action == "assign" and not (req.assignee or "").strip():
        fields["assignee"] = "choose the person to assign the tasks to"
    if fields:
        error = Invalid(
            "The bulk action cannot run: " + "; ".join(fields.values()) + ".",
            code="bulk_invalid",
            fields=fields,
        )
        await record_refusal(db, actor, error, action=action)
        raise error


async def _references(
    db: Database, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, uuid.UUID]]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Task.id, Case.reference, Case.id)
                .join(Case, col(Case.id) == Task.case_id)
                .where(col(Task.id).in_(list(ids)))
            )
        ).all()
    return {tid: (ref, cid) for tid, ref, cid in rows}


async def _close_one(
    db: Database, temporal: Client, actor: Actor, task_id: uuid.UUID, req: BulkRequest
) -> None:
    """Claim (unless held already) and decide `close`; a refused decision gives back the claim."""
    async with db.session() as session:
        task = await session.get(Task, task_id)
    if task is not None and task.kind != L1_KIND:
        raise Invalid(
            "Only L1 triage tasks can be closed in bulk; open the case to decide this one.",
            code="not_l1",
        )
    claimed_here = False
    if task is None or not (
        task.status == TaskStatus.CLAIMED and task.assignee_id == actor.user_id
    ):
        await claim_task(db, actor, task_id)
        claimed_here = True
    try:
        await decide_task(
            db, temporal, actor, task_id, outcome="close", reason=req.reason, comment=req.comment
        )
    except DomainError:
        if claimed_here:
            with contextlib.suppress(DomainError):
                await release_task(db, actor, task_id)
        raise


async def _one(
    db: Database,
    temporal: Client,
    actor: Actor,
    req: BulkRequest,
    task_id: uuid.UUID,
    reference: str,
    case_id: uuid.UUID | None,
) -> ItemResult:
    """One item through its door; a refusal or an outage is its result, never an exception."""
    try:
        if req.action == "close":
            await _close_one(db, temporal, actor, task_id, req)
            message = f"Closed ({CLOSE_REASONS[req.reason or '']})."
        elif req.action == "release":
            await release_task(db, actor, task_id)
            message = "Released."
        else:
            held = await assign_task(db, actor, task_id, req.assignee or "")
            message = f"Assigned to {held.assignee}."
    except DomainError as exc:
        return ItemResult(task_id, reference, case_id, False, exc.message, exc.code)
    except Exception:  # an outage on one item: reported, and the others are still tried
        log.exception("bulk %s: item %s failed", req.action, task_id)
        return ItemResult(
            task_id,
            reference,
            case_id,
            False,
            "Could not be completed just now (a service was unavailable); open the case to "
            "see where it stands, and try it again.",
            "unavailable",
        )
    return ItemResult(task_id, reference, case_id, True, message)


async def run_bulk(
    db: Database,
    temporal: Client,
    actor: Actor,
    req: BulkRequest,
    *,
    task_queue: str,
    qa_percent: int,
    qa_sla_hours: int,
    concurrency: int = CONCURRENCY,
) -> AsyncIterator[ItemResult | BulkSummary]:
    """Each item's result as soon as it is known (up to `concurrency` items in flight, each
    through its own door), then the summary (call `check_request` first)."""
    refs = await _references(db, req.task_ids)
    closed: list[uuid.UUID] = []
    done = refused = 0
    gate = asyncio.Semaphore(max(1, concurrency))

    async def guarded(task_id: uuid.UUID) -> ItemResult:
        reference, case_id = refs.get(task_id, ("?", None))
        async with gate:
            return await _one(db, temporal, actor, req, task_id, reference, case_id)

    pending = [asyncio.ensure_future(guarded(t)) for t in dict.fromkeys(req.task_ids)]
    try:
        for next_done in asyncio.as_completed(pending):
            result = await next_done
            if result.done:
                done += 1
                if req.action == "close" and result.case_id is not None:
                    closed.append(result.case_id)
            else:
                refused += 1
            yield result
    finally:
        # Items already in flight finish (a claim is never left without its decision).
        await asyncio.gather(*pending, return_exceptions=True)
    summary = BulkSummary(req.action, done, refused)
    for reviewed in quality.sample(closed, qa_percent) if req.action == "close" else []:
        try:
            summary.quality_reviews.append(
                await quality.open_review(
                    db, temporal, actor, reviewed, task_queue=task_queue, sla_hours=qa_sla_hours
                )
            )
        except Exception:  # the closes stand; the sampled case is named so it can be retried
            log.exception("bulk close: quality review of case %s not opened", reviewed)
            summary.quality_review_failures.append(reviewed)
    async with db.transaction() as session:
        await audit.record(
            session,
            action=f"bulk.{req.action}",
            actor=actor.ref,
            origin=actor.origin,
            details={
                "items": len(req.task_ids),
                "done": done,
                "refused": refused,
                "reason_code": req.reason,
                "quality_reviews": [q.case_id for q in summary.quality_reviews],
                "quality_review_failures": summary.quality_review_failures,
            },
        )
    yield summary


# ----------------------------------------------------------------------------- the worklist
@dataclass
class BulkRow:
    task: Task
    case: Case
    holder: str | None


@dataclass
class BulkPage:
    rows: list[BulkRow]
    total: int
    page: int
    pages: int
    is_lead: bool
    assignees: list[tuple[str, str]]  # username, display name (a lead's team)


async def worklist(db: Database, actor: Actor, *, page: int = 1, l1_only: bool = False) -> BulkPage:
    """Open and claimed AML tasks the actor may act on in bulk: their own and those open to
    their roles; a lead sees all of their team's. Most urgent first (due time)."""
    lead_roles = team_roles(actor.roles)
    kinds = (L1_KIND,) if l1_only else AML_KINDS
    mine = or_(
        col(Task.assignee_id) == actor.user_id,
        (col(Task.status) == TaskStatus.OPEN)
        & col(Task.candidate_role).in_(candidate_values(actor.roles)),
    )
    visible = or_(mine, col(Task.candidate_role).in_(sorted(lead_roles))) if lead_roles else mine
    where = [
        col(Task.kind).in_(kinds),
        col(Task.status).in_([s.value for s in OPEN_TASK_STATUSES]),
        visible,
    ]
    async with db.session() as session:
        total = int(
            (await session.exec(select(func.count()).select_from(Task).where(*where))).one()
        )
        pages = max(1, -(-total // PER_PAGE))
        page = min(max(page, 1), pages)
        rows = (
            await session.exec(
                select(Task, Case, StaffUser.username)
                .join(Case, col(Case.id) == Task.case_id)
                .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
                .where(*where)
                .order_by(col(Task.due_at), col(Task.id))
                .offset((page - 1) * PER_PAGE)
                .limit(PER_PAGE)
            )
        ).all()
        assignees: list[tuple[str, str]] = []
        if lead_roles and can(actor, "task", "assign"):
            people = (
                await session.exec(
                    select(StaffUser.username, StaffUser.display_name)
                    .join(RoleAssignment, col(RoleAssignment.user_id) == StaffUser.id)
                    .where(
                        col(RoleAssignment.role).in_(sorted(lead_roles & set(TEAMS["aml_lead"]))),
                        *grants.active(),
                    )
                    .where(col(StaffUser.is_active).is_(True))
                    .distinct()
                    .order_by(col(StaffUser.display_name))
                )
            ).all()
            assignees = [(u, n) for u, n in people]
    return BulkPage(
        rows=[BulkRow(t, c, h) for t, c, h in rows],
        total=total,
        page=page,
        pages=pages,
        is_lead=bool(lead_roles),
        assignees=assignees,
    )
