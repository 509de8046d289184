"""The change requests still open on some targets (fees, limits, configuration documents)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.cases import Case
from models.changes import OPEN_CHANGE_STATUSES, ChangeRequest
from models.staff import StaffUser


async def open_changes(
    session: AsyncSession, target_ids: Sequence[uuid.UUID]
) -> list[tuple[ChangeRequest, str, str]]:
    """Each open change with its case reference and its maker's username, oldest first."""
    if not target_ids:
        return []
    rows = await session.exec(
        select(ChangeRequest, Case.reference, StaffUser.username)
        .join(Case, col(Case.id) == ChangeRequest.case_id)
        .join(StaffUser, col(StaffUser.id) == ChangeRequest.maker_id)
        .where(
            col(ChangeRequest.target_id).in_(target_ids),
            col(ChangeRequest.status).in_([s.value for s in OPEN_CHANGE_STATUSES]),
        )
        .order_by(col(ChangeRequest.created_at))
    )
    return list(rows.all())
