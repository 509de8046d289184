"""Staff accounts: creation (CLI, seed, admin), disabling, listing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

from sqlmodel import col, or_, select

from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from core.db import Database, fetch_page
from identity.auth import USERNAME_RE, check_password_strength, hash_password, revoke_all_sessions
from models.base import utcnow
from models.roles import ROLES
from models.staff import RoleAssignment, StaffPublic, StaffUser
from models.workflow_io import Origin
from shared.errors import Conflict, Invalid, NotFound


def validate_new_user(username: str, password: str, roles: Iterable[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        errors["username"] = (
            "2-63 characters: lower-case letters, digits, dot, dash or underscore, "
            "starting with a letter or digit"
        )
    if problem := check_password_strength(password):
        errors["password"] = problem
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        errors["roles"] = f"unknown role(s): {', '.join(unknown)}; known: {', '.join(ROLES)}"
    elif not list(roles):
        errors["roles"] = "give at least one role"
    return errors


async def create_user(
    db: Database,
    *,
    username: str,
    password: str,
    roles: Iterable[str],
    display_name: str | None = None,
    email: str | None = None,
    actor: ActorRef = SYSTEM,
    origin: Origin | None = None,
) -> StaffUser:
    username = username.strip().lower()
    roles = sorted(set(roles))
    if errors := validate_new_user(username, password, roles):
        raise Invalid("The account cannot be created as given.", fields=errors)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with db.transaction() as session:
        exists = (
            await session.exec(select(StaffUser.id).where(StaffUser.username == username))
        ).first()
        if exists:
            raise Conflict(
                f"A staff user named {username!r} already exists.", code="username_taken"
            )
        user = StaffUser(
            id=uuid.uuid4(),
            username=username,
            display_name=display_name or username,
            email=email,
            password_hash=password_hash,
        )
        session.add(user)
        await session.flush()
        for role in roles:
            session.add(RoleAssignment(user_id=user.id, role=role, granted_by=actor.id))
        await session.flush()
        await audit.record(
            session,
            action="staff.created",
            actor=actor,
            object_type="staff",
            object_id=user.id,
            origin=origin,
            details={"username": username, "roles": roles},
        )
    return user


async def set_active(
    db: Database, *, user_id: uuid.UUID, active: bool, actor: ActorRef, origin: Origin | None = None
) -> int:
    """Disable (ending every session and API token at once) or re-enable an account.

    Returns how many sessions and tokens were revoked; re-enabling revives none of them."""
    async with db.transaction() as session:
        user = await session.get(StaffUser, user_id, with_for_update=True)
        if user is None:
            raise NotFound(f"No staff user {user_id}.")
        user.is_active = active
        user.disabled_at = None if active else utcnow()
        session.add(user)
        ended = 0 if active else await revoke_all_sessions(session, user_id)
        await audit.record(
            session,
            action="staff.enabled" if active else "staff.disabled",
            actor=actor,
            object_type="staff",
            object_id=user_id,
            origin=origin,
            details={"sessions_ended": ended},
        )
    return ended


async def set_active_by_username(
    db: Database, *, username: str, active: bool, actor: ActorRef = SYSTEM
) -> int:
    """`set_active` for the command line, which knows people by their username."""
    async with db.session() as session:
        user_id = (
            await session.exec(
                select(StaffUser.id).where(StaffUser.username == username.strip().lower())
            )
        ).first()
    if user_id is None:
        raise NotFound(f"No staff user {username!r}.")
    return await set_active(db, user_id=user_id, active=active, actor=actor)


async def list_staff(
    db: Database,
    *,
    role: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[StaffPublic], int]:
    """Staff accounts with their roles, filtered by role and name, one page at a time."""
    conditions: list[Any] = []
    if role:
        conditions.append(
            col(StaffUser.id).in_(select(RoleAssignment.user_id).where(RoleAssignment.role == role))
        )
    if q:
        pattern = f"%{q.strip()}%"
        conditions.append(
            or_(col(StaffUser.username).ilike(pattern), col(StaffUser.display_name).ilike(pattern))
        )
    async with db.session() as session:
        users, total = await fetch_page(
            session, StaffUser, conditions, col(StaffUser.username), page=page, per_page=per_page
        )
        grants = (
            await session.exec(
                select(RoleAssignment).where(col(RoleAssignment.user_id).in_([u.id for u in users]))
            )
        ).all()
    by_user: dict[uuid.UUID, list[str]] = {}
    for g in grants:
        by_user.setdefault(g.user_id, []).append(g.role)
    items = [
        StaffPublic(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            roles=sorted(by_user.get(u.id, [])),
            is_active=u.is_active,
        )
        for u in users
    ]
    return items, int(total)
