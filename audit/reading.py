"""Reading the audit log (filtered, paginated) for auditors and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col

from core.db import Database, fetch_page
from models.audit import AuditEvent


async def search(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditEvent], int]:
    conditions: list[Any] = []
    if actor:
        conditions.append(AuditEvent.actor == actor)
    if action:
        conditions.append(col(AuditEvent.action).startswith(action))
    if outcome:
        conditions.append(AuditEvent.outcome == outcome)
    if object_id:
        conditions.append(AuditEvent.object_id == object_id)
    if since:
        conditions.append(AuditEvent.occurred_at >= since)
    if until:
        conditions.append(AuditEvent.occurred_at < until)
    async with db.session() as session:
        return await fetch_page(
            session, AuditEvent, conditions, col(AuditEvent.id).desc(), page=page, per_page=per_page
        )
