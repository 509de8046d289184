"""A campaign's life: opened (every active grant listed to its reviewer), suspended at the
deadline (grants nobody reviewed), revocations settled as their changes close, closed.

The workflow (workflows/access_review.py) calls these through activities/access_review.py;
an admin starts one by hand with `start_campaign_now`. Each write is audited in its own
transaction; each is idempotent, so a retried activity changes nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes

from access_reviews.rules import (
    ENDED,
    OPEN_AT_DEADLINE,
    REQUESTED,
    REVOKING,
    SUSPENDED,
    SUSPENSION_REASON,
    period_of,
    reviewer_for,
    revocation_outcome,
)
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework.notifications import queue_notification
from casework.starting import start_process
from casework.store import Event
from configuration.documents import load_typed
from core.db import Database, run_sql
from core.schedules import ACCESS_REVIEW_WORKFLOW
from core.settings import Settings
from identity.access import require
from identity.actors import Actor
from identity.grants import end_grant
from identity.policy import AccessPolicy, parse_owners
from models.access_review_io import (
    AccessReviewInput,
    OpenedReview,
    OpenReviewInput,
    ReviewProgress,
    ReviewStepInput,
)
from models.access_reviews import AccessReview, AccessReviewItem
from models.base import utcnow
from models.staff import StaffUser
from models.workflow_io import Origin
from shared.errors import Conflict

WORKFLOW_ORIGIN = Origin(channel="system")


async def _actor_ref(session: AsyncSession, user_id: uuid.UUID | None) -> ActorRef:
    if user_id is None:
        return SYSTEM
    user = await session.get(StaffUser, user_id)
    return ActorRef(id=user_id, name=user.username if user else str(user_id))


async def _owner_ids(session: AsyncSession, policy: AccessPolicy) -> dict[str, uuid.UUID]:
    """Each role's configured owner, by id (an owner who left or is disabled owns nothing:
    the administrators review that role)."""
    owners = parse_owners(policy.review_owners)
    if not owners:
        return {}
    rows = (
        await session.exec(
            select(StaffUser.username, StaffUser.id).where(
                col(StaffUser.username).in_(set(owners.values())), col(StaffUser.is_active)
            )
        )
    ).all()
    by_name = dict(rows)
    return {role: by_name[name] for role, name in owners.items() if name in by_name}


async def progress(session: AsyncSession, review_id: uuid.UUID) -> ReviewProgress:
    rows = (
        await session.exec(
            select(AccessReviewItem.status, func.count())
            .where(AccessReviewItem.review_id == review_id)
            .group_by(col(AccessReviewItem.status))
        )
    ).all()
    return ReviewProgress(counts={status: int(n) for status, n in rows})


async def open_review(db: Database, inp: OpenReviewInput) -> OpenedReview:
    """The campaign of this workflow run: every active grant of an active person, listed to
    the role's owner or to the administrators. A second call finds it and adds nothing."""
    _, policy = await load_typed(db, "access", AccessPolicy)
    async with db.transaction() as session:
        found = (
            await session.exec(
                select(AccessReview).where(AccessReview.workflow_id == inp.workflow_id)
            )
        ).first()
        if found is not None:
            counted = await progress(session, found.id)
            return OpenedReview(
                review_id=found.id, deadline=found.deadline, items=sum(counted.counts.values())
            )
        review = AccessReview(
            period=period_of(inp.opened_at),
            workflow_id=inp.workflow_id,
            trigger=inp.trigger,
            started_by=inp.started_by,
            opened_at=inp.opened_at,
            deadline=inp.opened_at + timedelta(days=policy.review_days),
        )
        session.add(review)
        await session.flush()
        owners = await _owner_ids(session, policy)
        grants = (
            await run_sql(
                session,
                "SELECT ra.id, ra.user_id, ra.role FROM role_assignment ra "
                "JOIN staff_user su ON su.id = ra.user_id "
                "WHERE ra.ended_at IS NULL AND (ra.expires_at IS NULL OR ra.expires_at > now()) "
                "AND su.is_active AND (CAST(:people AS uuid[]) IS NULL OR ra.user_id = ANY(:people)) "
                "ORDER BY ra.role, su.username",
                {"people": inp.user_ids},
            )
        ).all()
        listed: dict[uuid.UUID | None, int] = {}
        for assignment_id, user_id, role in grants:
            reviewer = reviewer_for(role, user_id, owners)
            listed[reviewer] = listed.get(reviewer, 0) + 1
            session.add(
                AccessReviewItem(
                    review_id=review.id,
                    assignment_id=assignment_id,
                    user_id=user_id,
                    role=role,
                    reviewer_id=reviewer,
                )
            )
        for reviewer, count in listed.items():
            await queue_notification(
                session,
                dedupe_key=f"access-review:{review.id}:opened:{reviewer or 'admins'}",
                subject=f"Access review {review.period}: {count} grant(s) to review",
                body=(
                    f"Certify or revoke each grant listed to you by {review.deadline:%Y-%m-%d} "
                    "(Access reviews). Grants nobody reviewed by then are suspended."
                ),
                case_id=None,
                role=None if reviewer else "admin",
                recipient=reviewer,
            )
        await audit.record(
            session,
            action="access_review.opened",
            actor=await _actor_ref(session, inp.started_by),
            object_type="access_review",
            object_id=review.id,
            origin=WORKFLOW_ORIGIN,
            workflow_id=inp.workflow_id,
            details={
                "period": review.period,
                "items": len(grants),
                "deadline": review.deadline.isoformat(),
                "trigger": inp.trigger,
                "targeted": inp.user_ids is not None,
            },
        )
        return OpenedReview(review_id=review.id, deadline=review.deadline, items=len(grants))


async def settle_revocations(db: Database, inp: ReviewStepInput) -> ReviewProgress:
    """Revoking items whose role-grant change has closed: revoked (applied) or kept."""
    async with db.transaction() as session:
        rows = (
            await run_sql(
                session,
                "SELECT i.id, c.status FROM access_review_item i "
                "JOIN change_request c ON c.id = i.change_id "
                "WHERE i.review_id = :review AND i.status = :revoking FOR UPDATE OF i",
                {"review": inp.review_id, "revoking": REVOKING},
            )
        ).all()
        now = utcnow()
        for item_id, change_status in rows:
            outcome = revocation_outcome(change_status)
            if outcome is None:
                continue
            item = await session.get(AccessReviewItem, item_id)
            assert item is not None
            item.status, item.resolved_at = outcome, now
            session.add(item)
            await audit.record(
                session,
                action=f"access_review.{outcome}",
                actor=SYSTEM,
                object_type="access_review_item",
                object_id=item.id,
                origin=WORKFLOW_ORIGIN,
                workflow_id=inp.workflow_id,
                details={
                    "review_id": str(inp.review_id),
                    "role": item.role,
                    "change_id": str(item.change_id),
                    "change_status": change_status,
                },
            )
        await session.flush()
        return await progress(session, inp.review_id)


async def suspend_unreviewed(db: Database, inp: ReviewStepInput) -> ReviewProgress:
    """At the deadline: every grant still awaiting review is suspended (ended, kept on
    record) and reported; a grant that ended meanwhile is marked so."""
    async with db.transaction() as session:
        rows = (
            await run_sql(
                session,
                "SELECT i.id, ra.ended_at IS NOT NULL FROM access_review_item i "
                "JOIN role_assignment ra ON ra.id = i.assignment_id "
                "WHERE i.review_id = :review AND i.status = ANY(:open) "
                "ORDER BY i.id FOR UPDATE OF i",
                {"review": inp.review_id, "open": list(OPEN_AT_DEADLINE)},
            )
        ).all()
        now = utcnow()
        for item_id, already_ended in rows:
            item = await session.get(AccessReviewItem, item_id)
            assert item is not None
            why = (
                "Its revocation was requested and nobody proposed it by the campaign's deadline."
                if item.status == REQUESTED
                else "Not reviewed by the campaign's deadline."
            )
            if not already_ended:
                await end_grant(
                    session,
                    item.assignment_id,
                    SUSPENSION_REASON,
                    SYSTEM,
                    WORKFLOW_ORIGIN,
                    workflow_id=inp.workflow_id,
                )
            item.status = ENDED if already_ended else SUSPENDED
            item.resolved_at = now
            session.add(item)
            await audit.record(
                session,
                action=f"access_review.{item.status}",
                actor=SYSTEM,
                object_type="access_review_item",
                object_id=item.id,
                origin=WORKFLOW_ORIGIN,
                workflow_id=inp.workflow_id,
                reason=None if already_ended else why,
                details={
                    "review_id": str(inp.review_id),
                    "role": item.role,
                    "user_id": str(item.user_id),
                },
            )
        await session.flush()
        suspended = sum(1 for _, already_ended in rows if not already_ended)
        if suspended:
            review = await session.get(AccessReview, inp.review_id)
            assert review is not None
            await queue_notification(
                session,
                dedupe_key=f"access-review:{inp.review_id}:suspended",
                subject=f"Access review {review.period}: {suspended} grant(s) suspended",
                body=(
                    "Grants nobody reviewed by the deadline were suspended; the campaign's report "
                    "(CSV) lists them for the auditors."
                ),
                case_id=None,
                role="admin",
            )
        return await progress(session, inp.review_id)


async def close_review(db: Database, inp: ReviewStepInput) -> ReviewProgress:
    async with db.transaction() as session:
        review = (
            await session.exec(
                select(AccessReview).where(AccessReview.id == inp.review_id).with_for_update()
            )
        ).one()
        counted = await progress(session, review.id)
        if review.status == "closed":
            return counted
        review.status, review.closed_at = "closed", utcnow()
        session.add(review)
        await audit.record(
            session,
            action="access_review.closed",
            actor=SYSTEM,
            object_type="access_review",
            object_id=review.id,
            origin=WORKFLOW_ORIGIN,
            workflow_id=inp.workflow_id,
            details={"period": review.period, "counts": counted.counts},
        )
        return counted


async def start_campaign_now(
    db: Database, temporal: Client, settings: Settings, actor: Actor
) -> str:
    """An admin opens a campaign outside the quarterly schedule (one open campaign at a
    time). Returns the campaign's workflow id; the workflow writes the campaign itself."""
    action = "access_review.started"
    await require(db, actor, "access_review", "manage", action=action, object_type="access_review")
    async with db.transaction() as session:
        # One starter at a time: the check below stays true until the workflow is started.
        await run_sql(session, "SELECT pg_advisory_xact_lock(hashtext('access_review.start'))")
        running = (
            await session.exec(select(AccessReview).where(AccessReview.status == "open"))
        ).first()
        if running is not None:
            raise Conflict(
                f"The access review {running.period} is still open (deadline "
                f"{running.deadline:%Y-%m-%d}); a new campaign starts once it has closed.",
                code="review_open",
            )
        workflow_id = f"access-review-{uuid.uuid4().hex[:12]}"
        await start_process(
            session,
            temporal,
            ACCESS_REVIEW_WORKFLOW,
            AccessReviewInput(trigger="manual", started_by=actor.user_id),
            workflow_id=workflow_id,
            task_queue=settings.task_queue,
            search_attributes=TypedSearchAttributes([]),
            summary="Access review started by hand",
            what="the access review",
            event=Event(action, actor=actor.ref, origin=actor.origin, object_type="access_review"),
        )
    return workflow_id
