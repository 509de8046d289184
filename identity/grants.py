"""Role grants: who holds which role now, and the only ways a grant starts or ends.

A grant starts only in one of the ways the database door (trigger role_assignment_door,
migration 0021) lets through: an applied, approved role-grant change (`apply_role_change`),
the bootstrap of the first admin (`bootstrap_first_admin`), single sign-on (identity.sso), or
provisioning by the table owner (`provision_roles`: test fixtures and the demo seed, on an
owner connection). A grant ends (`end_grant`, `expire_grants`, or a removal by an approved
change) and is kept: nothing is ever deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from models.base import utcnow
from models.changes import ChangeRequest
from models.roles import ROLES
from models.staff import RoleAssignment, StaffUser
from models.workflow_io import Origin
from shared.errors import Conflict, Invalid, NotFound

TARGET_TYPE = "role_grant"  # the change target type of a role change (changes.commands.role_grants)
EXPIRED_REASON = "expired (end date reached)"


def active(now: datetime | None = None) -> list[Any]:
    """The conditions of an active grant: not ended, not past its end date."""
    moment = now or utcnow()
    return [
        col(RoleAssignment.ended_at).is_(None),
        or_(col(RoleAssignment.expires_at).is_(None), col(RoleAssignment.expires_at) > moment),
    ]


async def active_grants(session: AsyncSession, user_id: uuid.UUID) -> list[RoleAssignment]:
    rows = await session.exec(
        select(RoleAssignment)
        .where(RoleAssignment.user_id == user_id, *active())
        .order_by(col(RoleAssignment.role))
    )
    return list(rows.all())


async def grant_history(session: AsyncSession, user_id: uuid.UUID) -> list[RoleAssignment]:
    """Every grant the person ever had, newest first (ended ones included)."""
    rows = await session.exec(
        select(RoleAssignment)
        .where(RoleAssignment.user_id == user_id)
        .order_by(col(RoleAssignment.granted_at).desc())
    )
    return list(rows.all())


async def grants_version(session: AsyncSession, user_id: uuid.UUID) -> int:
    """A number that grows with every grant started or ended for the person: a role change is
    bound to the version its maker saw (grants are never deleted, so it never goes back)."""
    started, ended = (
        await session.exec(
            select(func.count(), func.count(col(RoleAssignment.ended_at))).where(
                RoleAssignment.user_id == user_id
            )
        )
    ).one()
    return int(started) + int(ended)


def check_roles(roles: Iterable[str], field: str) -> list[str]:
    chosen = sorted({r.strip() for r in roles if r and r.strip()})
    unknown = [r for r in chosen if r not in ROLES]
    if unknown:
        raise Invalid(
            "Unknown role.",
            fields={field: f"unknown role(s): {', '.join(unknown)}; known: {', '.join(ROLES)}"},
        )
    return chosen


async def provision_roles(
    session: AsyncSession,
    user_id: uuid.UUID,
    roles: Iterable[str],
    *,
    granted_by: uuid.UUID | None = None,
) -> None:
    """Grant roles directly. Only the table owner's connection may (test fixtures, the demo
    seed); the application's role is refused by the database door."""
    held = {g.role for g in await active_grants(session, user_id)}
    for role in check_roles(roles, "roles"):
        if role not in held:
            session.add(
                RoleAssignment(
                    user_id=user_id, role=role, granted_by=granted_by, source="provisioned"
                )
            )
    await session.flush()


async def has_active_admin(session: AsyncSession) -> bool:
    found = (
        await session.exec(
            select(RoleAssignment.id)
            .join(StaffUser, col(StaffUser.id) == RoleAssignment.user_id)
            .where(RoleAssignment.role == "admin", col(StaffUser.is_active).is_(True), *active())
            .limit(1)
        )
    ).first()
    return found is not None


async def bootstrap_first_admin(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    actor: ActorRef,
    origin: Origin | None = None,
    second_id: uuid.UUID | None = None,
) -> list[RoleAssignment]:
    """Make `user_id` (and `second_id`: four-eyes needs two) the first administrators, only
    while no active admin exists. The database door checks it again under an advisory lock
    (two bootstraps at once give one pair) and lets one transaction make two admins at most;
    every later admin is proposed by one and approved by another."""
    await session.exec(  # type: ignore[call-overload]
        text("SELECT pg_advisory_xact_lock(hashtext('role_assignment.bootstrap'))")
    )
    if await has_active_admin(session):
        raise Conflict(
            "An administrator already exists: roles are now granted only by a proposal that "
            "a second administrator approves (the staff page, the API, or "
            "`backoffice user propose-roles`).",
            code="admin_exists",
        )
    if second_id == user_id:
        raise Invalid(
            "The two first administrators are two different people.",
            fields={"second_admin": "name someone else"},
        )
    made = []
    for person in (user_id, second_id):
        if person is None:
            continue
        grant = RoleAssignment(
            user_id=person, role="admin", granted_by=actor.id, source="bootstrap"
        )
        session.add(grant)
        await session.flush()
        await audit.record(
            session,
            action="role.granted",
            actor=actor,
            object_type="staff",
            object_id=person,
            origin=origin,
            details={"role": "admin", "source": "bootstrap", "grant_id": grant.id},
        )
        made.append(grant)
    return made


async def end_grant(
    session: AsyncSession,
    assignment_id: uuid.UUID,
    reason: str,
    actor: ActorRef,
    origin: Origin | None = None,
    *,
    workflow_id: str | None = None,
) -> RoleAssignment:
    """End one active grant (kept, never deleted), audited in the caller's transaction.

    Used for suspensions (access reviews) and removals by an approved change. Ending a grant
    that already ended is refused (`already_ended`)."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Say why the grant ends.", fields={"reason": "required"})
    grant = await session.get(RoleAssignment, assignment_id, with_for_update=True)
    if grant is None:
        raise NotFound(f"No role grant {assignment_id}.")
    if grant.ended_at is not None:
        raise Conflict(
            f"This grant of {grant.role} already ended ({grant.ended_reason}).",
            code="already_ended",
        )
    grant.ended_at = utcnow()
    grant.ended_reason = reason[:300]
    grant.ended_by = actor.id
    session.add(grant)
    await session.flush()
    await audit.record(
        session,
        action="role.ended",
        actor=actor,
        object_type="staff",
        object_id=grant.user_id,
        reason=reason[:300],
        origin=origin,
        workflow_id=workflow_id,
        details={"role": grant.role, "grant_id": grant.id, "source": grant.source},
    )
    return grant


@dataclass(frozen=True)
class RoleChangeApplied:
    applied: bool
    new_version: int | None = None
    stale_reason: str | None = None


async def check_role_change(
    session: AsyncSession, change: ChangeRequest
) -> RoleChangeApplied | None:
    """Before applying an approved role change: None to go ahead, else what to answer (a
    retry of an apply that committed, or stale: the grants the maker saw changed since)."""
    await session.exec(  # type: ignore[call-overload]
        text("SELECT id FROM staff_user WHERE id = :id FOR UPDATE").bindparams(id=change.target_id)
    )
    if change.applied_version is not None:
        return RoleChangeApplied(applied=True, new_version=change.applied_version)  # a retry
    version = await grants_version(session, change.target_id)
    if version != change.base_version:
        return RoleChangeApplied(
            applied=False,
            stale_reason=(
                "the person's roles changed after this change was proposed "
                f"(grants version {version}, not {change.base_version} that was approved)"
            ),
        )
    return None


async def write_role_change(session: AsyncSession, change: ChangeRequest, workflow_id: str) -> int:
    """Grant the added roles (with the change's end date) and end the removed ones; audited.
    The change must already be marked applied in this transaction: the database door checks
    it. Returns the person's new grants version."""
    user_id = change.target_id
    held = {g.role: g for g in await active_grants(session, user_id)}
    ends_at = change.after.get("ends_at")
    expires_at = datetime.fromisoformat(ends_at) if ends_at else None
    added = [r for r in change.after.get("add", []) if r not in held]
    for role in added:
        session.add(
            RoleAssignment(
                user_id=user_id,
                role=role,
                granted_by=change.maker_id,
                source="change",
                change_id=change.id,
                expires_at=expires_at,
            )
        )
    await session.flush()
    removed = [r for r in change.after.get("remove", []) if r in held]
    for role in removed:
        await end_grant(
            session,
            held[role].id,
            f"removed by an approved role change ({change.id})",
            SYSTEM,
            workflow_id=workflow_id,
        )
    await audit.record(
        session,
        action="role.granted" if added else "role.changed",
        actor=SYSTEM,
        object_type="staff",
        object_id=user_id,
        workflow_id=workflow_id,
        details={
            "change_id": change.id,
            "added": added,
            "removed": removed,
            "expires_at": expires_at,
        },
    )
    return await grants_version(session, user_id)


async def expire_grants(
    session: AsyncSession, change_id: uuid.UUID, *, workflow_id: str | None = None
) -> list[str]:
    """End the still-active grants with an end date that a change gave: called by the change
    workflow's timer at that date (the timer, on the server's clock, decides: not this
    machine's clock, which may be skewed). Idempotent. Returns the roles ended."""
    due = (
        await session.exec(
            select(RoleAssignment).where(
                RoleAssignment.change_id == change_id,
                col(RoleAssignment.ended_at).is_(None),
                col(RoleAssignment.expires_at).is_not(None),
            )
        )
    ).all()
    ended = []
    for grant in due:
        await end_grant(session, grant.id, EXPIRED_REASON, SYSTEM, workflow_id=workflow_id)
        ended.append(grant.role)
    return ended
