"""Authentication: Argon2id passwords, throttled logins, server-side sessions and API tokens."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, run_sql
from core.settings import Settings
from identity import mfa
from identity.actors import Actor
from identity.documents import read_values, values_in_force
from identity.policy import AccessPolicy
from models.base import utcnow
from models.mfa import StaffMfa
from models.staff import LoginAttempt, RoleAssignment, StaffSession, StaffUser
from models.workflow_io import Origin
from shared.errors import Forbidden, Invalid, TooManyAttempts, Unauthenticated

# argon2-cffi's defaults are Argon2id (RFC 9106 low-memory profile); named here so a
# reader need not look them up.
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
_DUMMY_HASH = _hasher.hash("not-a-real-password-used-to-equalise-timing")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"use at least {MIN_PASSWORD} characters"
    if len(set(password)) < 5:
        return "use more varied characters"
    return None


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def _verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SessionInfo:
    session: StaffSession
    actor: Actor
    # Holds a role that needs a second factor and has none: sent to enrol before anything.
    must_enrol: bool = False


async def roles_of(db_session: AsyncSession, user_id: uuid.UUID) -> frozenset[str]:
    """The roles a person holds now: active grants only (not ended, not past their end date
    even if the expiry timer has not run yet)."""
    now = utcnow()
    rows = await db_session.exec(
        select(RoleAssignment.role).where(
            RoleAssignment.user_id == user_id,
            col(RoleAssignment.ended_at).is_(None),
            or_(col(RoleAssignment.expires_at).is_(None), col(RoleAssignment.expires_at) > now),
        )
    )
    return frozenset(rows.all())


async def throttle_wait(db: Database, settings: Settings, username: str, ip: str | None) -> int:
    """Seconds until this username / address may try again (0 = now)."""
    window_start = utcnow() - timedelta(minutes=settings.login_failure_window_minutes)
    async with db.session() as session:
        last_success = (
            await session.exec(
                select(func.max(LoginAttempt.attempted_at)).where(
                    LoginAttempt.username == username, col(LoginAttempt.succeeded).is_(True)
                )
            )
        ).one()
        since = max(window_start, last_success) if last_success else window_start
        failures = (
            await session.exec(
                select(func.count(), func.max(LoginAttempt.attempted_at)).where(
                    LoginAttempt.username == username,
                    col(LoginAttempt.succeeded).is_(False),
                    LoginAttempt.attempted_at > since,
                )
            )
        ).one()
        waits = []
        if failures[0] >= settings.login_max_failures and failures[1] is not None:
            until = failures[1] + timedelta(minutes=settings.login_lockout_minutes)
            waits.append((until - utcnow()).total_seconds())
        if ip:
            ip_failures = (
                await session.exec(
                    select(func.count(), func.max(LoginAttempt.attempted_at)).where(
                        LoginAttempt.ip == ip,
                        col(LoginAttempt.succeeded).is_(False),
                        LoginAttempt.attempted_at > window_start,
                    )
                )
            ).one()
            if ip_failures[0] >= settings.login_max_failures_per_ip and ip_failures[1] is not None:
                until = ip_failures[1] + timedelta(minutes=settings.login_lockout_minutes)
                waits.append((until - utcnow()).total_seconds())
    return max([0, *[int(w) + 1 for w in waits if w > 0]])


async def sign_in_wait(db: Database, settings: Settings, username: str) -> int:
    """Seconds until `username` may try to sign in again from anywhere (0 = not locked): the
    staff pages show it, and an admin's unlock (identity.staff.unlock) ends it."""
    return await throttle_wait(db, settings, username, None)


async def login(
    db: Database,
    settings: Settings,
    *,
    username: str,
    password: str,
    origin: Origin,
    kind: str = "web",
    user_agent: str | None = None,
    totp: str | None = None,
) -> tuple[str, SessionInfo]:
    """Check credentials and open a new session (a fresh id every time: no fixation).

    Someone with a second factor: a web session opens waiting for the code (not usable
    until `mfa.prove` finishes it); an API token needs the code with the password (`totp`)
    and then carries the proof (`mfa_at`: step-up). Someone who must have a factor and has
    none gets no API token (they enrol in the web first)."""
    username = username.strip().lower()
    action = "auth.login" if kind == "web" else "auth.token"
    if not username or not password:
        raise Invalid(
            "Enter your username and password.",
            fields={
                k: "required" for k, v in (("username", username), ("password", password)) if not v
            },
        )
    wait = await throttle_wait(db, settings, username, origin.ip)
    if wait:
        minutes = max(1, round(wait / 60))
        async with db.transaction() as session:
            await audit.record(
                session,
                action=action,
                actor=ActorRef(None, username[:100]),
                outcome=audit.DENIED,
                reason="throttled: too many failed attempts",
                origin=origin,
            )
        raise TooManyAttempts(
            f"Too many failed sign-in attempts. Try again in about {minutes} minute(s).",
            retry_after=wait,
        )

    async with db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).first()
    ok = await verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        reason = "bad credentials" if (not ok or user is None) else "account disabled"
        async with db.transaction() as session:
            session.add(LoginAttempt(username=username, ip=origin.ip, succeeded=False))
            await audit.record(
                session,
                action=action,
                actor=ActorRef(user.id if user else None, username[:100]),
                outcome=audit.DENIED,
                reason=reason,
                origin=origin,
            )
        raise Unauthenticated(
            "Wrong username or password, or the account is disabled.", code="bad_credentials"
        )

    async with db.session() as session:
        enrolled = await mfa.factor_of(session, user.id) is not None
        must_enrol = not enrolled and await mfa.must_enrol(
            session, user.id, await roles_of(session, user.id)
        )
    second_factor = "none"
    if kind == "web":
        second_factor = "pending" if enrolled else "none"
    elif enrolled:
        code = (totp or "").strip()
        if not code:
            await _refuse(db, origin, user, action, "second factor missing")
            raise Unauthenticated(
                "This account signs in with a second factor: send the current code from "
                'the authenticator app as "totp" with the username and password.',
                code="second_factor_required",
            )
        await mfa.prove(
            db,
            settings,
            ActorRef(user.id, user.username),
            code,
            session_id=None,
            origin=origin,
            action="auth.second_factor",
        )
        second_factor = "proved"
    elif must_enrol:
        await _refuse(db, origin, user, action, "second factor not set up")
        raise Forbidden(
            "Your roles need a second factor and you have none yet: sign in to the web "
            "application and set one up, then ask for a token with it.",
            code=mfa.ENROL_FIRST,
        )

    return await open_session(
        db,
        settings,
        user,
        kind=kind,
        origin=origin,
        user_agent=user_agent,
        action=action,
        attempt_username=username,
        second_factor=second_factor,
    )


async def _refuse(db: Database, origin: Origin, user: StaffUser, action: str, reason: str) -> None:
    async with db.transaction() as session:
        await audit.record(
            session,
            action=action,
            actor=ActorRef(user.id, user.username),
            outcome=audit.DENIED,
            reason=reason,
            origin=origin,
        )


async def open_session(
    db: Database,
    settings: Settings,
    user: StaffUser,
    *,
    kind: str,
    origin: Origin,
    user_agent: str | None = None,
    action: str = "auth.login",
    attempt_username: str | None = None,
    details: dict[str, Any] | None = None,
    second_factor: str = "none",
) -> tuple[str, SessionInfo]:
    """A new session (web) or API token for `user`, once they proved who they are (a
    password, single sign-on); a fresh random id every time (no fixation), audited as
    `action` in the same transaction. `attempt_username` records a successful sign-in
    attempt for the throttle. `second_factor`: "pending" (a web session waiting for the
    code: not usable until `mfa.prove`), "proved" (the code came with the password: the
    session carries the step-up proof now) or "none"."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = (
        timedelta(hours=settings.session_absolute_hours)
        if kind == "web"
        else timedelta(minutes=settings.api_token_minutes)
    )
    async with db.transaction() as session:
        staff_session = StaffSession(
            token_hash=token_digest(token),
            kind=kind,
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            ip=origin.ip,
            user_agent=(user_agent or "")[:300] or None,
            mfa_pending=second_factor == "pending",
            mfa_at=now if second_factor == "proved" else None,
        )
        session.add(staff_session)
        if attempt_username:
            session.add(LoginAttempt(username=attempt_username, ip=origin.ip, succeeded=True))
        await session.flush()
        await audit.record(
            session,
            action=action,
            actor=ActorRef(user.id, user.username),
            object_type="session",
            object_id=staff_session.id,
            origin=origin,
            details={
                **(details or {}),
                **({"second_factor": second_factor} if second_factor != "none" else {}),
            }
            or None,
        )
        roles = await roles_of(session, user.id)
        must_enrol = second_factor == "none" and await mfa.must_enrol(session, user.id, roles)
    actor = Actor(user.id, user.username, user.display_name, roles, origin, staff_session.id)
    return token, SessionInfo(staff_session, actor, must_enrol)


# What every request asks, built once (its construction and cache key are then reused): the
# session, its person, their factor (enrolled or not: every request asks whether they must
# enrol first, and most who must are enrolled), and in the same round trip the roles they
# hold now (as roles_of reads them) with the access policy in force, as [roles, values] (one
# column: sqlmodel's select types four).
_ROLES_HELD = (
    select(func.array_agg(RoleAssignment.role))
    .where(
        RoleAssignment.user_id == StaffSession.user_id,
        col(RoleAssignment.ended_at).is_(None),
        or_(
            col(RoleAssignment.expires_at).is_(None),
            col(RoleAssignment.expires_at) > bindparam("now"),
        ),
    )
    .scalar_subquery()
)
_LIVE_SESSION = (
    select(
        StaffSession,
        StaffUser,
        StaffMfa.confirmed_at,
        func.json_build_array(_ROLES_HELD, values_in_force("access")),
    )
    .join(StaffUser, col(StaffUser.id) == StaffSession.user_id)
    .outerjoin(StaffMfa, col(StaffMfa.user_id) == StaffSession.user_id)
    .where(
        col(StaffSession.token_hash) == bindparam("token_hash"),
        col(StaffSession.kind) == bindparam("kind"),
    )
)


async def resolve(
    db: Database,
    settings: Settings,
    token: str,
    *,
    kind: str,
    origin: Origin,
    waiting_for_code: bool = False,
) -> SessionInfo | None:
    """The live session behind a token, or None (unknown, revoked, idle, expired, disabled,
    or still waiting for its second factor). `waiting_for_code`: the opposite: only a
    session waiting for its second factor (the code page)."""
    if not token or len(token) > 200:
        return None
    now = utcnow()
    async with db.session() as session:
        row = (
            await session.exec(
                _LIVE_SESSION, params={"token_hash": token_digest(token), "kind": kind, "now": now}
            )
        ).first()
        if row is None:
            return None
        staff_session, user, enrolled_at, (held, access_values) = row
        idle_limit = timedelta(minutes=settings.session_idle_minutes)
        if (
            staff_session.revoked_at is not None
            or staff_session.expires_at <= now
            or not user.is_active
            or (kind == "web" and now - staff_session.last_seen_at > idle_limit)
            or staff_session.mfa_pending != waiting_for_code
        ):
            return None
    roles = frozenset(held or ())
    # As mfa.factor_required decides it, from the policy read above.
    must_enrol = (
        enrolled_at is None
        and bool(roles)
        and read_values(access_values, AccessPolicy).needs_second_factor(roles)
    )
    if now - staff_session.last_seen_at > timedelta(seconds=60):
        async with db.transaction() as session:
            await run_sql(
                session,
                "UPDATE staff_session SET last_seen_at = :now WHERE id = :id",
                {"now": now, "id": staff_session.id},
            )
    actor = Actor(user.id, user.username, user.display_name, roles, origin, staff_session.id)
    return SessionInfo(staff_session, actor, must_enrol)


async def logout(db: Database, actor: Actor) -> None:
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE staff_session SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
            {"now": utcnow(), "id": actor.session_id},
        )
        await audit.record(
            session,
            action="auth.logout",
            actor=actor.ref,
            object_type="session",
            object_id=actor.session_id,
            origin=actor.origin,
        )


async def revoke_all_sessions(
    db_session: AsyncSession, user_id: uuid.UUID, now: datetime | None = None
) -> int:
    result = await run_sql(
        db_session,
        "UPDATE staff_session SET revoked_at = :now WHERE user_id = :uid AND revoked_at IS NULL",
        {"now": now or utcnow(), "uid": user_id},
    )
    return int(result.rowcount or 0)
