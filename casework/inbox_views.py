"""Saved inbox views: each person names a filter and sort of their inbox, lists and deletes
them. A view holds the inbox's query string (validated by InboxQuery, page dropped), so
opening it is opening a URL; saving and deleting are audited."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from audit import trail as audit
from casework.inbox import InboxQuery
from core.db import Database, run_sql
from identity.access import not_found, require
from identity.actors import Actor
from models.base import utcnow
from models.inbox_views import InboxView, InboxViewPublic
from shared.errors import Conflict, Invalid

MAX_VIEWS = 20
NAME_MAX = 60
QUERY_MAX = 1000
FIELDS = ("scope", "kind", "priority", "sla", "role", "assignee", "q", "sort")


def normalize(query: str) -> InboxQuery:
    """The inbox query a query string stands for (unknown keys and the page are dropped)."""
    values = {k: v for k, v in parse_qsl(query.lstrip("?")) if k in FIELDS or k == "overdue"}
    overdue = values.pop("overdue", "") in ("true", "1", "on")
    return InboxQuery.of(overdue=overdue, **values)


def _public(view: InboxView) -> InboxViewPublic:
    return InboxViewPublic(
        id=view.id,
        name=view.name,
        query=view.query,
        url=f"/inbox?{view.query}",
        created_at=view.created_at,
    )


async def list_views(db: Database, actor: Actor) -> list[InboxViewPublic]:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(InboxView)
                .where(InboxView.owner_id == actor.user_id)
                .order_by(col(InboxView.name))
            )
        ).all()
    return [_public(v) for v in rows]


async def held_and_views(db: Database, actor: Actor) -> tuple[int, list[InboxViewPublic]]:
    """What the inbox page shows besides the list, in one round trip: how many tasks I hold
    (the "My tasks" badge) and my saved views."""
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT (SELECT count(*) FROM task WHERE assignee_id = :me AND status = 'claimed'),"
                " v.id, v.name, v.query, v.created_at FROM (SELECT 1) AS one"
                " LEFT JOIN inbox_view v ON v.owner_id = :me ORDER BY v.name",
                {"me": actor.user_id},
            )
        ).all()
    views = [
        InboxViewPublic(id=i, name=n, query=q, url=f"/inbox?{q}", created_at=c)
        for _, i, n, q, c in rows
        if i is not None
    ]
    return (int(rows[0][0]) if rows else 0), views


async def save_view(db: Database, actor: Actor, name: str, query: str) -> InboxViewPublic:
    """Name the inbox query `query` (a query string); 409 if the name is taken."""
    await require(db, actor, "task", "read", action="inbox.view_saved")
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise Invalid("A view needs a name.", fields={"name": f"1 to {NAME_MAX} characters"})
    try:
        normalized = normalize(query).view_string()
    except Invalid as exc:
        raise Invalid(
            exc.message,
            fields={"query": "; ".join(f"{k}: {v}" for k, v in (exc.fields or {}).items())},
        ) from exc
    if len(normalized) > QUERY_MAX:
        raise Invalid("This view is too long to save.", fields={"query": "a shorter search"})
    view = InboxView(owner_id=actor.user_id, name=name, query=normalized, created_at=utcnow())
    try:
        async with db.transaction() as session:
            count = len(
                (
                    await session.exec(
                        select(InboxView.id).where(InboxView.owner_id == actor.user_id)
                    )
                ).all()
            )
            if count >= MAX_VIEWS:
                raise Conflict(
                    f"You have {MAX_VIEWS} saved views; delete one first.", code="too_many_views"
                )
            session.add(view)
            await session.flush()
            await audit.record(
                session,
                action="inbox.view_saved",
                actor=actor.ref,
                object_type="inbox_view",
                object_id=view.id,
                origin=actor.origin,
                details={"name": name, "query": normalized},
            )
    except IntegrityError as exc:
        raise Conflict(f"You already have a view called “{name}”.", code="view_name_taken") from exc
    return _public(view)


async def delete_view(db: Database, actor: Actor, view_id: uuid.UUID) -> None:
    """Delete one of my views (someone else's is not found)."""
    await require(db, actor, "task", "read", action="inbox.view_deleted")
    async with db.transaction() as session:
        view = await session.get(InboxView, view_id)
        if view is not None and view.owner_id == actor.user_id:
            await session.delete(view)
            await audit.record(
                session,
                action="inbox.view_deleted",
                actor=actor.ref,
                object_type="inbox_view",
                object_id=view_id,
                origin=actor.origin,
                details={"name": view.name},
            )
            return
    raise await not_found(db, actor, "saved view", view_id, action="inbox.view_deleted")
