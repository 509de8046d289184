"""Staff accounts: creation (CLI, seed, first admin), disabling, unlocking, sessions, listing.

Invitations and password resets (one-time set-password links) are identity.invitations; who
holds which role, and how a grant starts, is identity.grants."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlmodel import col, func, or_, select

from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from core.db import Database, run_sql
from core.settings import Settings
from identity import grants
from identity.auth import (
    USERNAME_RE,
    check_password_strength,
    hash_password,
    revoke_all_sessions,
    sign_in_wait,
)
from identity.invitations import NO_PASSWORD, void_open_links
from models.base import utcnow
from models.invitations import StaffPasswordLink
from models.roles import ROLES
from models.staff import RoleAssignment, StaffPublic, StaffSession, StaffUser
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
    first_admin: bool = False,
    second_admin: uuid.UUID | None = None,
) -> StaffUser:
    """A staff record with a password. Roles given here are provisioned grants, which the
    database accepts only from its owner (test fixtures, the demo seed); `first_admin` makes
    the person the first administrator instead, only while no active admin exists (the CLI's
    bootstrap), with `second_admin` (an invited person) as the second one in the same
    transaction. Everybody else gets roles by a proposal a second admin approves."""
    username = username.strip().lower()
    roles = sorted(set(roles))
    errors = validate_new_user(username, password, roles)
    if first_admin and roles != ["admin"] and "roles" not in errors:
        errors["roles"] = (
            "the first administrator gets the admin role only; propose other roles afterwards"
        )
    if errors:
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
        if not first_admin:
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
        if first_admin:
            await grants.bootstrap_first_admin(
                session, user.id, actor=actor, origin=origin, second_id=second_admin
            )
    return user


async def set_active(
    db: Database, *, user_id: uuid.UUID, active: bool, actor: ActorRef, origin: Origin | None = None
) -> int:
    """Disable (ending every session and API token at once) or re-enable an account.

    Returns how many sessions and tokens were revoked; re-enabling revives none of them.
    Nobody disables their own account (an admin could lock everybody out)."""
    if not active and actor.id == user_id:
        raise Conflict("You cannot disable your own account.", code="own_account")
    async with db.transaction() as session:
        user = await session.get(StaffUser, user_id, with_for_update=True)
        if user is None:
            raise NotFound(f"No staff user {user_id}.")
        now = utcnow()
        user.is_active = active
        user.disabled_at = None if active else now
        session.add(user)
        ended = 0 if active else await revoke_all_sessions(session, user_id, now)
        if not active:  # an open set-password link dies with the account, not revived later
            await void_open_links(session, user_id, now)
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
    db: Database,
    *,
    username: str,
    active: bool,
    actor: ActorRef = SYSTEM,
    origin: Origin | None = None,
) -> int:
    """`set_active` for the command line, which knows people by their username."""
    user_id = await user_id_of(db, username)
    return await set_active(db, user_id=user_id, active=active, actor=actor, origin=origin)


async def user_id_of(db: Database, username: str) -> uuid.UUID:
    """The id of the staff user with this username (the command line names people so)."""
    async with db.session() as session:
        user_id = (
            await session.exec(
                select(StaffUser.id).where(StaffUser.username == username.strip().lower())
            )
        ).first()
    if user_id is None:
        raise NotFound(f"No staff user {username!r}.")
    return user_id


async def has_active_admin(db: Database) -> bool:
    async with db.session() as session:
        return await grants.has_active_admin(session)


# ----------------------------------------------------------------------------- admin actions
async def unlock(
    db: Database, *, user_id: uuid.UUID, actor: ActorRef, origin: Origin | None = None
) -> int:
    """End a sign-in lockout: the person's failed attempts stop counting (the throttle's
    working rows go; every failed attempt stays in the audit log). Returns how many."""
    async with db.transaction() as session:
        user = await session.get(StaffUser, user_id)
        if user is None:
            raise NotFound(f"No staff user {user_id}.")
        result = await run_sql(
            session,
            "DELETE FROM login_attempt WHERE username = :username AND NOT succeeded",
            {"username": user.username},
        )
        cleared = int(result.rowcount or 0)
        await audit.record(
            session,
            action="staff.unlocked",
            actor=actor,
            object_type="staff",
            object_id=user_id,
            origin=origin,
            details={"failed_attempts_cleared": cleared},
        )
    return cleared


async def revoke_session(
    db: Database,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    actor: ActorRef,
    origin: Origin | None = None,
) -> None:
    """End one of the person's sessions or API tokens now."""
    async with db.transaction() as session:
        row = await session.get(StaffSession, session_id, with_for_update=True)
        if row is None or row.user_id != user_id:
            raise NotFound(f"No session {session_id} of staff user {user_id}.")
        if row.revoked_at is not None:
            raise Conflict("This session has already ended.", code="session_ended")
        row.revoked_at = utcnow()
        session.add(row)
        await audit.record(
            session,
            action="staff.session_revoked",
            actor=actor,
            object_type="staff",
            object_id=user_id,
            origin=origin,
            details={"session_id": session_id, "kind": row.kind},
        )


async def revoke_sessions(
    db: Database, *, user_id: uuid.UUID, actor: ActorRef, origin: Origin | None = None
) -> int:
    """End every session and API token of the person (the account stays enabled)."""
    async with db.transaction() as session:
        if await session.get(StaffUser, user_id) is None:
            raise NotFound(f"No staff user {user_id}.")
        ended = await revoke_all_sessions(session, user_id)
        await audit.record(
            session,
            action="staff.sessions_revoked",
            actor=actor,
            object_type="staff",
            object_id=user_id,
            origin=origin,
            details={"sessions_ended": ended},
        )
    return ended


# ----------------------------------------------------------------------------- reading
STATUSES = ("active", "invited", "disabled")
SORTS = {
    "username": col(StaffUser.username),
    "name": col(StaffUser.display_name),
    "created": col(StaffUser.created_at),
}


def _status_condition(status: str) -> Any:
    if status == "disabled":
        return col(StaffUser.is_active).is_(False)
    if status == "invited":  # no password set yet
        return and_(col(StaffUser.is_active).is_(True), col(StaffUser.password_hash) == NO_PASSWORD)
    return and_(col(StaffUser.is_active).is_(True), col(StaffUser.password_hash) != NO_PASSWORD)


def status_of(user: StaffUser) -> str:
    if not user.is_active:
        return "disabled"
    return "invited" if user.password_hash == NO_PASSWORD else "active"


async def list_staff(
    db: Database,
    *,
    role: str | None = None,
    q: str | None = None,
    status: str | None = None,
    sort: str = "username",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[StaffPublic], int]:
    """Staff accounts with their active roles, filtered by role, status and name, sorted,
    one page at a time."""
    conditions: list[Any] = []
    if role:
        conditions.append(
            col(StaffUser.id).in_(
                select(RoleAssignment.user_id).where(RoleAssignment.role == role, *grants.active())
            )
        )
    if q:
        pattern = f"%{q.strip()}%"
        conditions.append(
            or_(
                col(StaffUser.username).ilike(pattern),
                col(StaffUser.display_name).ilike(pattern),
                col(StaffUser.email).ilike(pattern),
            )
        )
    if status in STATUSES:
        conditions.append(_status_condition(status))
    order = SORTS.get(sort, SORTS["username"])
    async with db.session() as session:
        total = (
            await session.exec(select(func.count()).select_from(StaffUser).where(*conditions))
        ).one()
        users = (
            await session.exec(
                select(StaffUser)
                .where(*conditions)
                .order_by(order.desc() if descending else order, col(StaffUser.id))
                .offset((max(page, 1) - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        held = (
            await session.exec(
                select(RoleAssignment).where(
                    col(RoleAssignment.user_id).in_([u.id for u in users]), *grants.active()
                )
            )
        ).all()
    by_user: dict[uuid.UUID, list[str]] = {}
    for g in held:
        by_user.setdefault(g.user_id, []).append(g.role)
    items = [
        StaffPublic(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            roles=sorted(by_user.get(u.id, [])),
            is_active=u.is_active,
            status=status_of(u),
        )
        for u in users
    ]
    return items, int(total)


@dataclass(frozen=True)
class SessionView:
    id: uuid.UUID
    kind: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class LinkView:
    purpose: str
    created_at: datetime
    expires_at: datetime
    delivery: str | None
    expired: bool


@dataclass(frozen=True)
class StaffDetail:
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    is_active: bool
    status: str
    created_at: datetime
    disabled_at: datetime | None
    password_changed_at: datetime
    locked_seconds: int  # 0 = not locked out by the sign-in throttle
    sessions: list[SessionView]
    open_link: LinkView | None


async def staff_detail(db: Database, settings: Settings, user_id: uuid.UUID) -> StaffDetail:
    """One person's account: status, active roles, lockout, live sessions, open link."""
    now = utcnow()
    async with db.session() as session:
        user = await session.get(StaffUser, user_id)
        if user is None:
            raise NotFound(f"No staff user {user_id}.")
        roles = sorted(g.role for g in await grants.active_grants(session, user_id))
        live = (
            await session.exec(
                select(StaffSession)
                .where(
                    StaffSession.user_id == user_id,
                    col(StaffSession.revoked_at).is_(None),
                    col(StaffSession.expires_at) > now,
                )
                .order_by(col(StaffSession.last_seen_at).desc())
                .limit(100)
            )
        ).all()
        link = (
            await session.exec(
                select(StaffPasswordLink).where(
                    StaffPasswordLink.user_id == user_id,
                    col(StaffPasswordLink.used_at).is_(None),
                    col(StaffPasswordLink.voided_at).is_(None),
                )
            )
        ).first()
    return StaffDetail(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        roles=roles,
        is_active=user.is_active,
        status=status_of(user),
        created_at=user.created_at,
        disabled_at=user.disabled_at,
        password_changed_at=user.password_changed_at,
        locked_seconds=await sign_in_wait(db, settings, user.username),
        sessions=[
            SessionView(
                s.id, s.kind, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent
            )
            for s in live
        ],
        open_link=LinkView(
            link.purpose, link.created_at, link.expires_at, link.delivery, link.expires_at <= now
        )
        if link
        else None,
    )
