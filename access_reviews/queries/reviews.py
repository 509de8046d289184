"""Reading access reviews: the campaigns with their progress, one campaign's items (filtered,
sorted, paged), and the auditors' report as CSV.

Need-to-know: a reviewer reads only the items listed to them; admins and auditors
(`access_review:report`) read every item and export the report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from access_reviews.rules import (
    CHANGE_APPLIED,
    CHANGE_NOT_APPLIED,
    KEPT,
    REVIEWED,
    REVOKED,
    REVOKING,
    STATUS_LABELS,
    STATUSES,
)
from core.db import Database, run_sql
from identity.access import can, not_found, require
from identity.actors import Actor
from models.access_reviews import AccessReview
from models.roles import ROLES
from shared.spreadsheets import csv_text

# An item's status as it stands: a revocation whose role change has closed reads as revoked
# or kept at once (the campaign's workflow writes it down daily and at the deadline).
STATUS = (
    f"CASE WHEN i.status = '{REVOKING}' AND c.status = '{CHANGE_APPLIED}' THEN '{REVOKED}' "
    f"WHEN i.status = '{REVOKING}' AND c.status IN "
    f"({', '.join(repr(s) for s in CHANGE_NOT_APPLIED)}) THEN '{KEPT}' ELSE i.status END"
)
WITH_CHANGE = "LEFT JOIN change_request c ON c.id = i.change_id "
PER_PAGE = 50
REVIEWS_PER_PAGE = 20
ADMINS = "admins"
SORTS = {
    "role": "i.role, g.username",
    "person": "g.username, i.role",
    "status": f"{STATUS}, i.role, g.username",
    "reviewer": "coalesce(r.username, ''), i.role, g.username",
}


@dataclass
class ReviewRow:
    id: uuid.UUID
    period: str
    status: str
    trigger: str
    opened_at: datetime
    deadline: datetime
    closed_at: datetime | None
    workflow_id: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def reviewed(self) -> int:
        return sum(self.counts.get(s, 0) for s in REVIEWED)

    @property
    def percent(self) -> int:
        return round(100 * self.reviewed / self.total) if self.total else 100


@dataclass
class ItemRow:
    id: uuid.UUID
    role: str
    user_id: uuid.UUID
    username: str
    display_name: str
    reviewer: str | None  # None: the administrators
    reviewer_id: uuid.UUID | None
    status: str
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    change_id: uuid.UUID | None
    change_status: str | None
    resolved_at: datetime | None
    change_case_id: uuid.UUID | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


@dataclass
class ItemFilters:
    role: str | None = None
    reviewer: str | None = None  # a username, or "admins"
    status: str | None = None
    sort: str = "role"
    q: str | None = None  # part of the person's username or name

    @classmethod
    def clean(
        cls,
        role: str | None,
        reviewer: str | None,
        status: str | None,
        sort: str | None,
        q: str | None = None,
    ) -> ItemFilters:
        return cls(
            role=role if role in ROLES else None,
            reviewer=(reviewer or "").strip().lower()[:64] or None,
            status=status if status in STATUSES else None,
            sort=sort if sort in SORTS else "role",
            q=(q or "").strip()[:100] or None,
        )


def sees_all(actor: Actor) -> bool:
    return can(actor, "access_review", "report")


def _scope(actor: Actor, params: dict[str, Any]) -> str:
    if sees_all(actor):
        return "TRUE"
    params["me"] = actor.user_id
    return "i.reviewer_id = :me"


async def list_reviews(db: Database, actor: Actor, *, page: int = 1) -> tuple[list[ReviewRow], int]:
    await require(db, actor, "access_review", "read", action="access_review.read")
    params: dict[str, Any] = {"limit": REVIEWS_PER_PAGE, "offset": (page - 1) * REVIEWS_PER_PAGE}
    scope = _scope(actor, params)
    async with db.session() as session:
        total = (await run_sql(session, "SELECT count(*) FROM access_review")).scalar_one()
        reviews = (
            await run_sql(
                session,
                "SELECT id, period, status, trigger, opened_at, deadline, closed_at, workflow_id "
                "FROM access_review ORDER BY opened_at DESC, id LIMIT :limit OFFSET :offset",
                params,
            )
        ).all()
        rows = [ReviewRow(*r) for r in reviews]
        await _count_items(session, rows, scope, params)
    return rows, int(total)


async def _count_items(
    session: AsyncSession, rows: list[ReviewRow], scope: str, params: dict[str, Any]
) -> None:
    """Each campaign's items the reader may see, counted by status as they stand."""
    if not rows:
        return
    params["ids"] = [r.id for r in rows]
    counts = (
        await run_sql(
            session,
            f"SELECT i.review_id, {STATUS}, count(*) FROM access_review_item i "  # noqa: S608 (fixed fragments, bound values)
            f"{WITH_CHANGE}WHERE i.review_id = ANY(:ids) AND {scope} GROUP BY 1, 2",
            params,
        )
    ).all()
    by_id = {r.id: r for r in rows}
    for review_id, status, n in counts:
        by_id[review_id].counts[status] = int(n)


async def read_review(db: Database, actor: Actor, review_id: uuid.UUID) -> ReviewRow:
    action = "access_review.read"
    await require(db, actor, "access_review", "read", action=action)
    params: dict[str, Any] = {}
    scope = _scope(actor, params)
    async with db.session() as session:
        review = await session.get(AccessReview, review_id)
        if review is None:
            raise await not_found(db, actor, "access_review", review_id, action=action)
        row = ReviewRow(
            review.id,
            review.period,
            review.status,
            review.trigger,
            review.opened_at,
            review.deadline,
            review.closed_at,
            review.workflow_id,
        )
        await _count_items(session, [row], scope, params)
    return row


_ITEMS = (
    "SELECT i.id, i.role, i.user_id, g.username, g.display_name, r.username, i.reviewer_id, "  # noqa: S608 (fixed fragments)
    f"{STATUS}, d.username, i.decided_at, i.comment, i.change_id, c.status, "
    "coalesce(i.resolved_at, CASE WHEN i.status = 'revoking' THEN c.closed_at END), c.case_id "
    "FROM access_review_item i "
    "JOIN staff_user g ON g.id = i.user_id "
    "LEFT JOIN staff_user r ON r.id = i.reviewer_id "
    "LEFT JOIN staff_user d ON d.id = i.decided_by "
    "LEFT JOIN change_request c ON c.id = i.change_id "
)


def _where(
    actor: Actor, review_id: uuid.UUID, filters: ItemFilters, item_id: uuid.UUID | None = None
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"review": review_id}
    conditions = ["i.review_id = :review", _scope(actor, params)]
    if item_id is not None:
        conditions.append("i.id = :item")
        params["item"] = item_id
    if filters.role:
        conditions.append("i.role = :role")
        params["role"] = filters.role
    if filters.status:
        conditions.append(f"{STATUS} = :status")
        params["status"] = filters.status
    if filters.reviewer == ADMINS:
        conditions.append("i.reviewer_id IS NULL")
    elif filters.reviewer:
        conditions.append("r.username = :reviewer")
        params["reviewer"] = filters.reviewer
    if filters.q:
        conditions.append("(g.username ILIKE :q OR g.display_name ILIKE :q)")
        escaped = filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["q"] = f"%{escaped}%"
    return " AND ".join(conditions), params


async def review_items(
    db: Database,
    actor: Actor,
    review_id: uuid.UUID,
    filters: ItemFilters,
    *,
    page: int = 1,
    item_id: uuid.UUID | None = None,
) -> tuple[list[ItemRow], int]:
    """One campaign's items the actor may see (call read_review first: it checks the
    campaign exists and the permission); `item_id`: only that one."""
    where, params = _where(actor, review_id, filters, item_id)
    params |= {"limit": PER_PAGE, "offset": (page - 1) * PER_PAGE}
    async with db.session() as session:
        total = (
            await run_sql(
                session,
                "SELECT count(*) FROM access_review_item i "  # noqa: S608 (fixed fragments, bound values)
                "JOIN staff_user g ON g.id = i.user_id "
                "LEFT JOIN staff_user r ON r.id = i.reviewer_id "
                f"{WITH_CHANGE}WHERE {where}",
                params,
            )
        ).scalar_one()
        rows = (
            await run_sql(
                session,
                f"{_ITEMS} WHERE {where} ORDER BY {SORTS[filters.sort]}, i.id "
                "LIMIT :limit OFFSET :offset",
                params,
            )
        ).all()
    return [ItemRow(*r) for r in rows], int(total)


async def reviewers_of(db: Database, actor: Actor, review_id: uuid.UUID) -> list[str]:
    """The reviewers' usernames in a campaign (the reviewer filter's choices)."""
    params: dict[str, Any] = {"review": review_id}
    scope = _scope(actor, params)
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT DISTINCT r.username FROM access_review_item i "  # noqa: S608 (fixed fragments, bound values)
                "JOIN staff_user r ON r.id = i.reviewer_id "
                f"WHERE i.review_id = :review AND {scope} ORDER BY 1",
                params,
            )
        ).all()
    return [r[0] for r in rows]


REPORT_HEADER = (
    "campaign",
    "role",
    "username",
    "name",
    "reviewer",
    "outcome",
    "decided_by",
    "decided_at",
    "comment",
    "change_id",
    "change_status",
    "resolved_at",
)


async def report_csv(db: Database, actor: Actor, review_id: uuid.UUID) -> tuple[str, str]:
    """(file name, CSV) of every item of a campaign: for auditors and admins."""
    action = "access_review.report"
    await require(
        db,
        actor,
        "access_review",
        "report",
        action=action,
        object_type="access_review",
        object_id=review_id,
    )
    review = await read_review(db, actor, review_id)
    where, params = _where(actor, review_id, ItemFilters())
    async with db.session() as session:
        rows = (
            await run_sql(session, f"{_ITEMS} WHERE {where} ORDER BY {SORTS['role']}, i.id", params)
        ).all()
    items = [ItemRow(*r) for r in rows]
    text = csv_text(
        REPORT_HEADER,
        (
            (
                review.period,
                i.role,
                i.username,
                i.display_name,
                i.reviewer or ADMINS,
                i.status,
                i.decided_by,
                i.decided_at.isoformat() if i.decided_at else "",
                i.comment,
                i.change_id,
                i.change_status,
                i.resolved_at.isoformat() if i.resolved_at else "",
            )
            for i in items
        ),
    )
    return f"access-review-{review.period}-{str(review.id)[:8]}.csv", text
