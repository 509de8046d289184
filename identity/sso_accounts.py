"""Who the identity provider's person is here: the staff record single sign-on links or
creates, and the roles their groups give (identity/sso.py does the OpenID Connect part).

Roles: the `sso_groups` version in force (a maker-checker document) says which roles the
person's groups give. They are written as grants with source `sso` and `change_id` = the
approved change that wrote that version (the database door, migration 0021, admits exactly
those); single-sign-on grants the groups no longer give are ended (kept, never deleted).
Grants from approved role changes are left alone. A person whose groups give no role is
refused (audited as denied) and no staff record is created for them.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, run_sql
from identity import grants
from identity.auth import USERNAME_RE
from identity.documents import in_force
from identity.policy import SsoGroupMapping
from models.sso import StaffSsoLink
from models.staff import RoleAssignment, StaffUser
from models.workflow_io import Origin
from shared.errors import Forbidden

# A staff record single sign-on creates has no usable password: no Argon2 hash
# starts with "!", so a password sign-in is always refused for it.
NO_PASSWORD = "!sso"  # noqa: S105 (a marker that matches no password)
ENDED_REASON = "single sign-on: the person's identity-provider groups no longer give this role"
ACTION = "auth.sso"


class SsoRefused(Forbidden):
    """The IdP's answer or the person it names cannot be let in; the message says why."""


@dataclass(frozen=True)
class SsoMapping:
    version: int
    change_id: uuid.UUID | None
    mapping: SsoGroupMapping


@dataclass(frozen=True)
class Identity:
    """What the validated ID token says about the person."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    username: str | None
    groups: tuple[str, ...]


async def mapping_in_force(session: AsyncSession) -> SsoMapping:
    """The `sso_groups` version in force and the approved change that wrote it (None for the
    defaults at installation, which map no group)."""
    row, mapping = await in_force(session, "sso_groups", SsoGroupMapping)
    if row is None:
        return SsoMapping(0, None, mapping)
    return SsoMapping(row.version, row.change_id, mapping)


def username_for(person: Identity) -> str:
    """A staff username from the IdP's preferred username or e-mail (USERNAME_RE)."""
    for source in (person.username, (person.email or "").split("@")[0], f"sso-{person.subject}"):
        candidate = re.sub(r"[^a-z0-9._-]+", ".", (source or "").strip().lower()).strip("._-")
        candidate = candidate[:60]
        if USERNAME_RE.match(candidate):
            return candidate
    return f"sso-{hashlib.sha256(person.subject.encode()).hexdigest()[:16]}"


async def deny(
    db: Database,
    person: Identity | None,
    origin: Origin,
    reason: str,
    user: StaffUser | None = None,
) -> None:
    async with db.transaction() as session:
        await audit.record(
            session,
            action=ACTION,
            actor=ActorRef(user.id, user.username)
            if user
            else ActorRef(None, f"sso:{person.subject}"[:100] if person else "anonymous"),
            outcome=audit.DENIED,
            reason=reason[:300],
            origin=origin,
            details={
                "issuer": person.issuer,
                "subject": person.subject,
                "groups": list(person.groups),
            }
            if person
            else None,
        )


async def _linked_user(
    session: AsyncSession, person: Identity
) -> tuple[StaffUser | None, str | None]:
    """The staff record linked to this IdP account; else one to link: the same verified
    e-mail, then the same username (only if that record has no e-mail or the same one, so an
    IdP account named like a colleague does not take their record), in each case only if it
    is not linked to another IdP account. Returns (record or None, why linking is refused)."""
    linked = (
        await session.exec(
            select(StaffUser)
            .join(StaffSsoLink, col(StaffSsoLink.user_id) == StaffUser.id)
            .where(StaffSsoLink.issuer == person.issuer, StaffSsoLink.subject == person.subject)
        )
    ).first()
    if linked is not None:
        return linked, None
    if person.email and person.email_verified:
        for user in (
            await session.exec(select(StaffUser).where(func.lower(StaffUser.email) == person.email))
        ).all():
            if await session.get(StaffSsoLink, user.id) is None:
                return user, None
    same_name = (
        await session.exec(select(StaffUser).where(StaffUser.username == username_for(person)))
    ).first()
    if same_name is None or await session.get(StaffSsoLink, same_name.id) is not None:
        return None, None  # a new record (a free username is found for it)
    if same_name.email and same_name.email.lower() != (person.email or ""):
        return None, (
            f"the staff record {same_name.username} has another e-mail address than the "
            "identity provider's account; an administrator must check who it belongs to"
        )
    return same_name, None


async def _sync_roles(
    session: AsyncSession,
    user: StaffUser,
    mapping: SsoMapping,
    wanted: Iterable[str],
    origin: Origin,
) -> tuple[list[str], list[str]]:
    """Grant the roles the groups give that the person lacks (source sso) and end the
    single-sign-on grants they no longer give. Returns (added, ended)."""
    wanted = set(wanted)
    held = await grants.active_grants(session, user.id)
    holding = {g.role for g in held}
    me = ActorRef(user.id, user.username)
    ended = []
    for grant in held:
        if grant.source == "sso" and grant.role not in wanted:
            await grants.end_grant(session, grant.id, ENDED_REASON, me, origin)
            ended.append(grant.role)
    added = sorted(wanted - holding)
    for role in added:
        session.add(
            RoleAssignment(user_id=user.id, role=role, source="sso", change_id=mapping.change_id)
        )
    await session.flush()
    if added:
        await audit.record(
            session,
            action="role.granted",
            actor=me,
            object_type="staff",
            object_id=user.id,
            origin=origin,
            details={
                "added": added,
                "source": "sso",
                "change_id": mapping.change_id,
                "sso_groups_version": mapping.version,
            },
        )
    return added, ended


async def provision(db: Database, person: Identity, origin: Origin) -> tuple[StaffUser, list[str]]:
    """Link or create the staff record for `person` and bring its single-sign-on roles in line
    with their groups; returns the record and the roles the groups give. Raises SsoRefused
    (after recording it and committing any role it ended) when the person may not sign in."""
    refusal: str | None = None
    user: StaffUser | None = None
    async with db.transaction() as session:
        # Two first sign-ins of one person at once would otherwise both create a record.
        await run_sql(
            session,
            "SELECT pg_advisory_xact_lock(hashtext(:k))",
            {"k": f"sso:{person.issuer}:{person.subject}"},
        )
        mapping = await mapping_in_force(session)
        wanted = sorted(mapping.mapping.roles_for(person.groups))
        if wanted and mapping.change_id is None:
            refusal = "the single sign-on group mapping in force was never approved"
            wanted = []
        user, conflict = await _linked_user(session, person)
        if conflict is not None:
            refusal = conflict
        elif user is None and not wanted:
            refusal = refusal or (
                "none of the person's identity-provider groups "
                f"({', '.join(person.groups) or 'none'}) gives a role here"
            )
        elif user is not None and not user.is_active:
            refusal = "the staff account is disabled"
        else:
            if user is None:
                user = await _create(session, person, origin)
            await _link(session, user, person, origin)
            await _sync_roles(session, user, mapping, wanted, origin)
            if not wanted:
                refusal = refusal or (
                    "none of the person's identity-provider groups "
                    f"({', '.join(person.groups) or 'none'}) gives a role here"
                )
    if refusal is not None:
        await deny(db, person, origin, refusal, user)
        raise SsoRefused(_refusal_message(refusal), code="sso_refused")
    assert user is not None
    return user, wanted


def _refusal_message(reason: str) -> str:
    hint = (
        " Ask an administrator to map your group to a role (the sso_groups setting)."
        if "gives a role" in reason or "never approved" in reason
        else ""
    )
    return f"Single sign-on refused: {reason}.{hint}"


async def _create(session: AsyncSession, person: Identity, origin: Origin) -> StaffUser:
    base = username_for(person)
    username, n = base, 1
    while (await session.exec(select(StaffUser.id).where(StaffUser.username == username))).first():
        n += 1
        username = f"{base[:58]}-{n}"
    user = StaffUser(
        username=username,
        display_name=(person.name or username)[:200],
        email=person.email if person.email_verified else None,
        password_hash=NO_PASSWORD,
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        action="staff.created",
        actor=ActorRef(user.id, user.username),
        object_type="staff",
        object_id=user.id,
        origin=origin,
        details={"source": "sso", "issuer": person.issuer, "subject": person.subject},
    )
    return user


async def _link(session: AsyncSession, user: StaffUser, person: Identity, origin: Origin) -> None:
    link = await session.get(StaffSsoLink, user.id)
    if link is None:
        session.add(
            StaffSsoLink(
                user_id=user.id,
                issuer=person.issuer,
                subject=person.subject,
                last_groups=list(person.groups),
            )
        )
        await session.flush()
        await audit.record(
            session,
            action="staff.sso_linked",
            actor=ActorRef(user.id, user.username),
            object_type="staff",
            object_id=user.id,
            origin=origin,
            details={"issuer": person.issuer, "subject": person.subject},
        )
    else:
        link.last_groups = list(person.groups)
        session.add(link)
