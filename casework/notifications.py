"""Staff notifications in the app: escalations, SAR reminders and breaches, new alerts.

Workflow activities queue them (`queue_notification`) in the `notification` outbox, addressed to a person or to a role. A
person sees those addressed to them and to the roles they hold, newest first; the ones
created since they last marked all as read are unread. (Delivery by e-mail is a separate
concern of the outbox.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from core.db import Database
from identity.access import can_see_case
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case, Notification
from models.staff import StaffUser

PER_PAGE = 25


@dataclass
class NotificationItem:
    notification: Notification
    unread: bool
    case_id: uuid.UUID | None  # only when the reader may open the case
    case_reference: str | None


@dataclass
class NotificationPage:
    items: list[NotificationItem]
    total: int
    unread: int
    page: int
    pages: int


async def queue_notification(
    session: AsyncSession,
    *,
    dedupe_key: str,
    subject: str,
    body: str,
    case_id: uuid.UUID | None,
    role: str | None = None,
    recipient: uuid.UUID | None = None,
) -> bool:
    """Queue a notification once per dedupe key, inside the caller's transaction.

    False if it was already there: a retried activity notifies nobody twice.
    """
    inserted = await session.exec(
        pg_insert(Notification)
        .values(
            id=uuid.uuid4(),
            dedupe_key=dedupe_key,
            recipient_role=role,
            recipient_id=recipient,
            subject=subject,
            body=body,
            case_id=case_id,
            status="pending",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(Notification.id))
    )
    return inserted.first() is not None


def _addressed_to(actor: Actor) -> Any:
    return or_(
        col(Notification.recipient_id) == actor.user_id,
        and_(
            col(Notification.recipient_id).is_(None),
            col(Notification.recipient_role).in_(sorted(actor.roles)),
        ),
    )


async def _seen_at(db: Database, actor: Actor) -> datetime | None:
    async with db.session() as session:
        user = await session.get(StaffUser, actor.user_id)
    return user.notifications_seen_at if user else None


async def unread_count(db: Database, actor: Actor) -> int:
    seen = await _seen_at(db, actor)
    conditions = [_addressed_to(actor)]
    if seen is not None:
        conditions.append(col(Notification.created_at) > seen)
    async with db.session() as session:
        return int(
            (
                await session.exec(
                    select(func.count()).select_from(Notification).where(*conditions)
                )
            ).one()
        )


async def list_notifications(db: Database, actor: Actor, *, page: int = 1) -> NotificationPage:
    seen = await _seen_at(db, actor)
    mine = _addressed_to(actor)
    async with db.session() as session:
        total = int(
            (await session.exec(select(func.count()).select_from(Notification).where(mine))).one()
        )
        pages = max(1, -(-total // PER_PAGE))
        page = min(max(page, 1), pages)
        rows = (
            await session.exec(
                select(Notification, Case.reference, Case.case_type)
                .outerjoin(Case, col(Case.id) == Notification.case_id)
                .where(mine)
                .order_by(col(Notification.created_at).desc(), col(Notification.id))
                .offset((page - 1) * PER_PAGE)
                .limit(PER_PAGE)
            )
        ).all()
    items = []
    for note, reference, case_type in rows:
        visible = case_type is not None and can_see_case(actor, case_type)
        items.append(
            NotificationItem(
                notification=note,
                unread=seen is None or note.created_at > seen,
                case_id=note.case_id if visible else None,
                case_reference=reference if visible else None,
            )
        )
    return NotificationPage(
        items=items, total=total, unread=await unread_count(db, actor), page=page, pages=pages
    )


async def mark_all_seen(db: Database, actor: Actor) -> None:
    now = utcnow()
    async with db.transaction() as session:
        user = await session.get(StaffUser, actor.user_id)
        assert user is not None
        user.notifications_seen_at = now
        session.add(user)
        await audit.record(
            session,
            action="notifications.seen",
            actor=actor.ref,
            object_type="staff_user",
            object_id=actor.user_id,
            origin=actor.origin,
        )
