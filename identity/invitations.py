"""One-time set-password links: inviting a person, resetting a password, using the link.

An admin invites a person (a staff record with no roles and no usable password) or resets a
person's password (the old one stops working, every session ends). Either way the person
gets a link valid for 72 hours that sets their password once. The token is random (256 bits),
shown once to the admin and e-mailed to the person; only its SHA-256 is stored. The e-mail
goes through the staff notification outbox: the outbox row says what was sent, to whom and
whether it left (the link itself is never stored, so a message that could not be sent is not
retried: the admin passes the link on, or makes a new one).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, run_sql
from core.mail import MailServer, send_mail
from identity.auth import (
    USERNAME_RE,
    check_password_strength,
    hash_password,
    revoke_all_sessions,
    roles_of,
    token_digest,
)
from models.base import utcnow
from models.cases import Notification
from models.invitations import StaffPasswordLink
from models.staff import StaffUser
from models.workflow_io import Origin
from shared.errors import Conflict, Invalid, NotFound

LINK_LIFETIME = timedelta(hours=72)
# Stored instead of a password hash: argon2 cannot parse it, so no password matches it.
NO_PASSWORD = "!"  # noqa: S105 (the absence of a password, not a secret)
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
INVALID_LINK = (
    "This link is not valid: it was already used, replaced by a newer one, or it expired "
    "(links last 72 hours). Ask an administrator for a new one."
)


@dataclass(frozen=True)
class IssuedLink:
    """A link just made: the token exists only here, to be shown once and e-mailed."""

    link_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    purpose: str
    token: str
    expires_at: datetime
    sessions_ended: int = 0
    # For the person's own e-mail only, never shown to the administrator who asked for it
    # (the person holds roles: whoever saw the link could sign in as them).
    private: bool = False


@dataclass(frozen=True)
class LinkHolder:
    """Whom a valid link belongs to (for the set-password page)."""

    username: str
    display_name: str
    purpose: str
    expires_at: datetime


def validate_invitation(username: str, display_name: str, email: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        errors["username"] = (
            "2-63 characters: lower-case letters, digits, dot, dash or underscore, "
            "starting with a letter or digit"
        )
    if not display_name.strip():
        errors["display_name"] = "give the person's name"
    elif len(display_name.strip()) > 200:
        errors["display_name"] = "at most 200 characters"
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "an e-mail address such as name@bank.example (the link is sent there)"
    return errors


async def void_open_links(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    """The person's unused link stops working (a newer one, or the account disabled)."""
    await run_sql(
        session,
        "UPDATE staff_password_link SET voided_at = :now "
        "WHERE user_id = :uid AND used_at IS NULL AND voided_at IS NULL",
        {"now": now, "uid": user_id},
    )


async def _issue(
    session: AsyncSession,
    user: StaffUser,
    *,
    purpose: str,
    actor: ActorRef,
    now: datetime,
) -> tuple[StaffPasswordLink, str]:
    """A new link for `user` (voiding any open one) and its outbox message, in `session`."""
    await void_open_links(session, user.id, now)
    token = secrets.token_urlsafe(32)
    link = StaffPasswordLink(
        id=uuid.uuid4(),
        user_id=user.id,
        purpose=purpose,
        token_hash=token_digest(token),
        created_by=actor.id,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    await session.flush()
    what = "You have been invited to" if purpose == "invite" else "Your password was reset for"
    session.add(
        Notification(
            dedupe_key=f"staff-link:{link.id}",
            recipient_id=user.id,
            subject="Set your backoffice password",
            body=(
                f"{what} backoffice as {user.username} by {actor.name}. The e-mail carried a "
                f"one-time link to set your password, valid until "
                f"{link.expires_at:%Y-%m-%d %H:%M} UTC. (The link is not kept here.)"
            ),
            status="pending",
            created_at=now,
        )
    )
    await session.flush()
    return link, token


async def invite(
    db: Database,
    *,
    username: str,
    display_name: str,
    email: str,
    actor: ActorRef,
    origin: Origin | None = None,
) -> IssuedLink:
    """A new staff record with no roles and no usable password, and its invitation link.

    Roles come afterwards, by a role proposal another admin approves."""
    username = username.strip().lower()
    display_name = display_name.strip()
    email = email.strip()
    if errors := validate_invitation(username, display_name, email):
        raise Invalid("The invitation cannot be sent as given.", fields=errors)
    now = utcnow()
    async with db.transaction() as session:
        taken = (
            await session.exec(select(StaffUser.id).where(StaffUser.username == username))
        ).first()
        if taken:
            raise Conflict(
                f"A staff user named {username!r} already exists.",
                code="username_taken",
                fields={"username": "already taken"},
            )
        user = StaffUser(
            id=uuid.uuid4(),
            username=username,
            display_name=display_name,
            email=email,
            password_hash=NO_PASSWORD,
            created_at=now,
            password_changed_at=now,
        )
        session.add(user)
        await session.flush()
        link, token = await _issue(session, user, purpose="invite", actor=actor, now=now)
        await audit.record(
            session,
            action="staff.invited",
            actor=actor,
            object_type="staff",
            object_id=user.id,
            origin=origin,
            details={"username": username, "link_id": link.id, "expires_at": link.expires_at},
        )
    return IssuedLink(link.id, user.id, username, "invite", token, link.expires_at)


async def reset_password(
    db: Database,
    *,
    user_id: uuid.UUID,
    actor: ActorRef,
    origin: Origin | None = None,
    mail_ready: bool = False,
    by_operator: bool = False,
) -> IssuedLink:
    """The person's password stops working and every session and token ends; a new link lets
    them set a new one. Also how an expired invitation is sent again.

    The link of a person who holds roles goes to their own e-mail only (`private`): an admin
    who saw it could sign in as them — a second admin, say, to approve their own proposals.
    Without an address or a mail server (`mail_ready`) such a reset is refused before anything
    changes, pointing to the command line, whose operator (`by_operator`) is shown the link."""
    now = utcnow()
    async with db.transaction() as session:
        user = await session.get(StaffUser, user_id, with_for_update=True)
        if user is None:
            raise NotFound(f"No staff user {user_id}.")
        if not user.is_active:
            raise Conflict(
                f"{user.username} is disabled: enable the account before resetting its password.",
                code="staff_disabled",
            )
        held = sorted(await roles_of(session, user.id))
        private = bool(held) and not by_operator
        if private and not (user.email and mail_ready):
            missing = "has no e-mail address" if not user.email else "no mail server is set"
            raise Conflict(
                f"{user.username} holds roles ({', '.join(held)}), so their reset link goes only "
                "to their own e-mail address, never to the administrator who asks (who could "
                f"otherwise sign in as them), and {missing}. Nothing was changed. Reset it on "
                f"the server with `backoffice user reset-password {user.username}` (audited as "
                "the operating-system user).",
                code="reset_needs_email",
            )
        never_set = user.password_hash == NO_PASSWORD and not await _ever_set(session, user.id)
        purpose = "invite" if never_set else "reset"
        user.password_hash = NO_PASSWORD
        user.password_changed_at = now
        session.add(user)
        ended = await revoke_all_sessions(session, user.id, now)
        link, token = await _issue(session, user, purpose=purpose, actor=actor, now=now)
        await audit.record(
            session,
            action="staff.password_reset",
            actor=actor,
            object_type="staff",
            object_id=user.id,
            origin=origin,
            details={
                "link_id": link.id,
                "purpose": purpose,
                "expires_at": link.expires_at,
                "sessions_ended": ended,
                "link_shown_to_actor": not private,
            },
        )
    return IssuedLink(
        link.id, user.id, user.username, purpose, token, link.expires_at, ended, private
    )


async def _ever_set(session: AsyncSession, user_id: uuid.UUID) -> bool:
    used = await session.exec(
        select(StaffPasswordLink.id).where(
            StaffPasswordLink.user_id == user_id, col(StaffPasswordLink.used_at).is_not(None)
        )
    )
    return used.first() is not None


async def deliver(db: Database, mail: MailServer | None, issued: IssuedLink, url: str) -> str:
    """E-mail the link to the person, outside any transaction (a mail server may take seconds),
    and record what happened on the link and its outbox row. Returns that sentence."""
    async with db.session() as session:
        user = await session.get(StaffUser, issued.user_id)
    address = user.email if user else None
    if not address:
        outcome, status = "no e-mail address", "failed"
    elif mail is None:
        outcome, status = "no SMTP server: pass the link on yourself", "pending"
    else:
        what = "invited to" if issued.purpose == "invite" else "asked to set a new password for"
        body = (
            f"Hello {user.display_name if user else issued.username},\n\n"
            f"you have been {what} backoffice as {issued.username}.\n"
            f"Set your password here (once, before {issued.expires_at:%Y-%m-%d %H:%M} UTC):\n\n"
            f"{url}\n\nIf you did not expect this, tell your administrator.\n"
        )
        try:
            await send_mail(mail, address, "Set your backoffice password", body)
        except OSError as exc:  # smtplib errors are OSErrors too
            outcome, status = f"failed: {exc}"[:300], "failed"
        else:
            outcome, status = "sent", "sent"
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE staff_password_link SET delivery = :outcome WHERE id = :id",
            {"outcome": outcome, "id": issued.link_id},
        )
        await run_sql(
            session,
            "UPDATE notification SET status = :status WHERE dedupe_key = :key",
            {"status": status, "key": f"staff-link:{issued.link_id}"},
        )
    return outcome


async def _open_link(
    session: AsyncSession, token: str, *, lock: bool = False
) -> tuple[StaffPasswordLink, StaffUser] | None:
    if not token or len(token) > 200:
        return None
    query = (
        select(StaffPasswordLink, StaffUser)
        .join(StaffUser, col(StaffUser.id) == StaffPasswordLink.user_id)
        .where(
            StaffPasswordLink.token_hash == token_digest(token),
            col(StaffPasswordLink.used_at).is_(None),
            col(StaffPasswordLink.voided_at).is_(None),
            col(StaffPasswordLink.expires_at) > utcnow(),
            col(StaffUser.is_active).is_(True),
        )
    )
    if lock:
        query = query.with_for_update()
    row = (await session.exec(query)).first()
    return (row[0], row[1]) if row else None


async def link_holder(db: Database, token: str) -> LinkHolder | None:
    """Whose valid link this is, or None (unknown, used, replaced, expired, disabled)."""
    async with db.session() as session:
        found = await _open_link(session, token)
    if found is None:
        return None
    link, user = found
    return LinkHolder(user.username, user.display_name, link.purpose, link.expires_at)


async def set_password(
    db: Database, *, token: str, password: str, repeat: str, origin: Origin
) -> str:
    """Use a link: the person's password is set, the link is spent, any session ends.

    Returns the username. A refused link is audited (denied); a weak password is not (the
    person just tries again, the link stays valid)."""
    errors: dict[str, str] = {}
    if problem := check_password_strength(password):
        errors["password"] = problem
    elif password != repeat:
        errors["repeat"] = "the two passwords differ"
    async with db.session() as session:
        found = await _open_link(session, token)
    if found is None:
        async with db.transaction() as session:
            await audit.record(
                session,
                action="staff.password_set",
                actor=ActorRef(None, "anonymous"),
                outcome=audit.DENIED,
                reason="invalid, used, replaced or expired link",
                object_type="password_link",
                origin=origin,
            )
        raise NotFound(INVALID_LINK, code="invalid_link")
    if errors:
        raise Invalid("Choose another password.", fields=errors)
    password_hash = await asyncio.to_thread(hash_password, password)
    now = utcnow()
    async with db.transaction() as session:
        locked = await _open_link(session, token, lock=True)
        if locked is None:  # used by a concurrent request meanwhile
            raise NotFound(INVALID_LINK, code="invalid_link")
        link, user = locked
        link.used_at = now
        user.password_hash = password_hash
        user.password_changed_at = now
        session.add_all([link, user])
        await revoke_all_sessions(session, user.id, now)
        details: dict[str, Any] = {"link_id": link.id, "purpose": link.purpose}
        await audit.record(
            session,
            action="staff.password_set",
            actor=ActorRef(user.id, user.username),
            object_type="staff",
            object_id=user.id,
            origin=origin,
            details=details,
        )
    return user.username
