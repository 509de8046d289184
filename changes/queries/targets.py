"""What a change can target, and the version each target is at now.

A change is bound to the version of its target the maker saw; an approval checks the target
still is at it. Fees, limits and configuration documents keep numbered versions; an account
restriction is version 1 while active and 2 once lifted; a person's roles (a role change) are
at their grants version (identity.grants.grants_version).
"""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.commands.restrictions import TARGET_TYPE as RESTRICTION
from aml.commands.restrictions import restriction_version
from identity.grants import TARGET_TYPE as ROLE_GRANT
from identity.grants import grants_version
from models.staff import StaffUser
from models.tariffs import TARGET_MODELS
from reconciliation.queries.source_changes import TARGET_TYPE as SOURCE
from reconciliation.queries.source_changes import source_version


async def target_version(
    session: AsyncSession, target_type: str, target_id: uuid.UUID, *, lock: bool = False
) -> int | None:
    """The target's current version (None if there is no such target); `lock` share-locks it
    until the caller's transaction ends, so it cannot move under an approval."""
    if target_type == RESTRICTION:
        return await restriction_version(session, target_id, lock=lock)
    if target_type == SOURCE:
        return await source_version(session, target_id, lock=lock)
    if target_type == ROLE_GRANT:
        if lock:  # the person's row: grants are written under its lock (identity.grants)
            await session.exec(
                select(StaffUser.id).where(StaffUser.id == target_id).with_for_update(read=True)
            )
        return await grants_version(session, target_id)
    target_cls = TARGET_MODELS[target_type].target
    query = select(target_cls.current_version).where(target_cls.id == target_id)
    if lock:
        query = query.with_for_update(read=True)
    return (await session.exec(query)).first()
