"""A reviewer's decision on one grant: certify it, or revoke it through the four-eyes
role-grant change (changes/commands/role_grants.py), whose approval settles the item.

Who decides: the item's reviewer (the role's owner), or for items with no owner anyone who
manages access reviews (the administrators) — never the person holding the grant. Everyone
else who may not even see the item gets the same answer as for an item that does not exist.

A revocation is a role change, which only those who may propose role changes (the
administrators) propose: a role owner who may not *requests* it, and an administrator (not
the person holding the grant) proposes it; a second administrator approves the change.
"""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from access_reviews.rules import CERTIFIED, PENDING, REQUESTED, REVOKING, STATUS_LABELS
from audit import trail as audit
from casework.notifications import queue_notification
from changes.commands.role_grants import propose_role_change
from core.db import Database
from core.settings import Settings
from identity.access import can, not_found, record_refusal, require
from identity.actors import Actor
from models.access_reviews import AccessReview, AccessReviewItem
from models.base import utcnow
from models.staff import RoleAssignment, StaffUser
from shared.errors import Conflict, DomainError, Forbidden, Invalid

MAX_COMMENT = 1000


def may_see(actor: Actor, item: AccessReviewItem) -> bool:
    """Need-to-know: a reviewer sees the items listed to them; admins and auditors all."""
    return can(actor, "access_review", "report") or item.reviewer_id == actor.user_id


def why_not(actor: Actor, reviewer_id: uuid.UUID | None, grantee_id: uuid.UUID) -> str | None:
    """Why this actor may not decide an item listed to `reviewer_id` (None: the
    administrators) about `grantee_id`'s grant, or None when they may."""
    if not can(actor, "access_review", "review"):
        return "Your roles do not allow you to review access."
    if grantee_id == actor.user_id:
        return "Nobody reviews their own access: another reviewer decides this grant."
    if reviewer_id is None:
        if not can(actor, "access_review", "manage"):
            return "This grant is reviewed by the administrators."
        return None
    if reviewer_id != actor.user_id:
        return "This grant is reviewed by its role's owner."
    return None


def why_not_propose(actor: Actor, grantee_id: uuid.UUID) -> str | None:
    """Why this actor may not propose the revocation a role owner requested, or None."""
    if not can(actor, "staff", "propose_roles"):
        return "A revocation is a role change: an administrator proposes it."
    if grantee_id == actor.user_id:
        return "Nobody proposes a change of their own roles: another administrator does."
    return None


async def _locked_item(
    session: AsyncSession,
    db: Database,
    actor: Actor,
    item_id: uuid.UUID,
    action: str,
    *,
    requested: bool = False,
) -> tuple[AccessReviewItem, AccessReview]:
    """The item, locked, if the actor may decide it now (`requested`: an administrator
    proposing a revocation its owner requested)."""
    item = (
        await session.exec(
            select(AccessReviewItem).where(AccessReviewItem.id == item_id).with_for_update()
        )
    ).first()
    if item is None or not may_see(actor, item):
        raise await not_found(db, actor, "access_review_item", item_id, action=action)
    review = await session.get(AccessReview, item.review_id)
    assert review is not None
    proposing = requested and item.status == REQUESTED
    refusal = (
        why_not_propose(actor, item.user_id)
        if proposing
        else why_not(actor, item.reviewer_id, item.user_id)
    )
    if refusal:
        raise Forbidden(refusal, code="not_your_review")
    if review.status != "open" or utcnow() >= review.deadline:
        raise Conflict(
            f"The access review {review.period} is closed (its deadline was "
            f"{review.deadline:%Y-%m-%d %H:%M} UTC): grants nobody reviewed are suspended.",
            code="review_closed",
        )
    if item.status != PENDING and not proposing:
        raise Conflict(
            f"This grant is already decided: {STATUS_LABELS[item.status].lower()}.",
            code="already_decided",
        )
    grant = await session.get(RoleAssignment, item.assignment_id)
    if grant is None or grant.ended_at is not None:
        raise Conflict(
            "This grant has ended since the campaign opened; there is nothing to decide.",
            code="grant_ended",
        )
    return item, review


def _comment(text: str | None, *, required: bool) -> str | None:
    cleaned = (text or "").strip()
    if required and len(cleaned) < 10:
        raise Invalid(
            "Say why the role is revoked (at least 10 characters): the checker reads it.",
            fields={"comment": "at least 10 characters"},
        )
    if len(cleaned) > MAX_COMMENT:
        raise Invalid(
            f"A comment has at most {MAX_COMMENT} characters.",
            fields={"comment": f"{len(cleaned)} characters"},
        )
    return cleaned or None


async def _refused(
    db: Database, actor: Actor, error: DomainError, action: str, item_id: uuid.UUID
) -> None:
    if isinstance(error, Forbidden | Conflict | Invalid):
        await record_refusal(
            db, actor, error, action=action, object_type="access_review_item", object_id=item_id
        )


async def _require_review(db: Database, actor: Actor, action: str, item_id: uuid.UUID) -> None:
    await require(
        db,
        actor,
        "access_review",
        "review",
        action=action,
        object_type="access_review_item",
        object_id=item_id,
    )


async def _record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    item: AccessReviewItem,
    review: AccessReview,
    **details: object,
) -> None:
    """The audit event of a decision on the item (its campaign and role, and `details`)."""
    await audit.record(
        session,
        action=action,
        actor=actor.ref,
        object_type="access_review_item",
        object_id=item.id,
        origin=actor.origin,
        workflow_id=review.workflow_id,
        details={"review_id": str(review.id), "role": item.role, **details},
    )


async def certify_item(
    db: Database, actor: Actor, item_id: uuid.UUID, *, comment: str | None = None
) -> AccessReviewItem:
    action = "access_review.certified"
    await _require_review(db, actor, action, item_id)
    try:
        text = _comment(comment, required=False)
        async with db.transaction() as session:
            item, review = await _locked_item(session, db, actor, item_id, action)
            now = utcnow()
            item.status, item.decided_by, item.decided_at = CERTIFIED, actor.user_id, now
            item.comment, item.resolved_at = text, now
            session.add(item)
            await _record(session, actor, action, item, review, user_id=str(item.user_id))
            return item
    except DomainError as error:
        await _refused(db, actor, error, action, item_id)
        raise


async def revoke_item(
    db: Database,
    temporal: Client,
    settings: Settings,
    actor: Actor,
    item_id: uuid.UUID,
    *,
    comment: str | None,
) -> AccessReviewItem:
    """Propose removing the role (four-eyes: another admin approves); the item waits as
    'revoking' until that change is applied (revoked) or refused (kept). A role owner who
    may not propose role changes requests it instead ('requested', the admins are told); an
    administrator revoking a requested item proposes it (the owner's words are the reason
    unless they add their own)."""
    if not can(actor, "staff", "propose_roles"):
        return await _request_revocation(db, actor, item_id, comment)
    action = "access_review.revocation_proposed"
    await _require_review(db, actor, action, item_id)
    proposing = False  # the role-grant change audits its own refusals
    try:
        given = _comment(comment, required=False)
        async with db.transaction() as session:
            # The item stays locked while the change is proposed: a concurrent certify or
            # revoke waits, then finds it decided.
            item, review = await _locked_item(session, db, actor, item_id, action, requested=True)
            requested = item.status == REQUESTED
            text = given or (item.comment if requested else None)
            if text is None or len(text) < 10:
                _comment(text, required=True)  # raises: say why
            assert text is not None
            grantee = await session.get(StaffUser, item.user_id)
            who = grantee.username if grantee else str(item.user_id)
            proposing = True
            created = await propose_role_change(
                db,
                temporal,
                settings,
                actor,
                item.user_id,
                add=[],
                remove=[item.role],
                reason=f"Access review {review.period}: {text}",
            )
            proposing = False
            if not requested:  # a requested item keeps its owner's decision and words
                item.decided_by, item.decided_at, item.comment = actor.user_id, utcnow(), text
            item.status, item.change_id = REVOKING, created.id
            session.add(item)
            await _record(
                session,
                actor,
                action,
                item,
                review,
                username=who,
                change_id=str(created.id),
                requested=requested,
            )
            return item
    except DomainError as error:
        if not proposing:
            await _refused(db, actor, error, action, item_id)
        raise


async def _request_revocation(
    db: Database, actor: Actor, item_id: uuid.UUID, comment: str | None
) -> AccessReviewItem:
    action = "access_review.revocation_requested"
    await _require_review(db, actor, action, item_id)
    try:
        text = _comment(comment, required=True)
        async with db.transaction() as session:
            item, review = await _locked_item(session, db, actor, item_id, action)
            item.status, item.decided_by, item.decided_at = REQUESTED, actor.user_id, utcnow()
            item.comment = text
            session.add(item)
            await queue_notification(
                session,
                dedupe_key=f"access-review:{item.id}:requested",
                subject=f"Access review {review.period}: a revocation to propose",
                body=(
                    f"{actor.username} asks to revoke a {item.role} grant: propose the role "
                    "change from the campaign's page (Access reviews) before its deadline."
                ),
                case_id=None,
                role="admin",
            )
            await _record(session, actor, action, item, review, user_id=str(item.user_id))
            return item
    except DomainError as error:
        await _refused(db, actor, error, action, item_id)
        raise
