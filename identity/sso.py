"""Single sign-on with OpenID Connect: authorization code + PKCE (authlib), ID token checked
against the identity provider's keys, IdP groups mapped to roles by the `sso_groups` document.

1. `begin` keeps the sign-in's state, nonce and PKCE verifier server-side (`sso_login`, used
   once, ten minutes) and returns the IdP's authorization URL. The browser also gets the state
   in a short-lived cookie (web/routers/sso.py) so a callback only completes in the browser
   that started it (no login CSRF).
2. `complete` takes the IdP's answer: consumes the sign-in, exchanges the code (with the
   verifier), validates the ID token (signature against the IdP's JWKS, issuer, audience,
   expiry, nonce, at_hash), then links or creates the staff record and brings its roles from
   single sign-on in line with the person's groups, all in one transaction, audited.

Roles: the `sso_groups` version in force (a maker-checker document) says which roles the
person's groups give. They are written as grants with source `sso` and `change_id` = the
approved change that wrote that version (the database door, migration 0021, admits exactly
those); single-sign-on grants the groups no longer give are ended. Grants from approved role
changes are left alone. A person whose groups give no role is refused (audited as denied) and
no staff record is created for them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, run_sql
from core.settings import Settings
from identity import grants, mfa
from identity.auth import USERNAME_RE, SessionInfo, open_session
from identity.policy import SsoGroupMapping
from models.base import utcnow
from models.config import ConfigSetting, ConfigSettingVersion
from models.sso import SsoLogin, StaffSsoLink
from models.staff import RoleAssignment, StaffUser
from models.workflow_io import Origin
from shared.errors import DomainError, Forbidden, Unavailable

log = logging.getLogger(__name__)

SIGN_IN_MINUTES = 10
HTTP_TIMEOUT_SECONDS = 10
CLOCK_LEEWAY_SECONDS = 60
# A staff record created or linked by single sign-on has no usable password: no Argon2 hash
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


@dataclass
class SignedIn:
    token: str
    info: SessionInfo
    next_url: str


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _client(settings: Settings, redirect_uri: str, **kwargs: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT_SECONDS,
        **kwargs,
    )


async def _metadata(client: AsyncOAuth2Client, settings: Settings) -> dict[str, Any]:
    """The IdP's discovery document; its issuer must be exactly the configured one."""
    url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = await client.request("GET", url, withhold_token=True)
        response.raise_for_status()
        metadata: dict[str, Any] = response.json()
    except Exception as exc:  # any transport or HTTP failure: the IdP cannot be reached
        log.warning("OpenID Connect discovery failed at %s", url, exc_info=True)
        raise Unavailable(
            f"The identity provider ({settings.oidc_display_name}) cannot be reached right now; "
            "try again in a moment.",
            code="sso_unavailable",
        ) from exc
    if metadata.get("issuer") != settings.oidc_issuer:
        raise Unavailable(
            "The identity provider's discovery document names another issuer; single sign-on "
            "is misconfigured (OIDC_ISSUER).",
            code="sso_misconfigured",
        )
    return metadata


async def begin(
    db: Database, settings: Settings, *, redirect_uri: str, next_url: str
) -> tuple[str, str]:
    """Start a sign-in: returns (the IdP's authorization URL, the state for the browser)."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 allows 43 to 128
    async with _client(settings, redirect_uri) as client:
        metadata = await _metadata(client, settings)
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
    now = utcnow()
    async with db.transaction() as session:
        await run_sql(session, "DELETE FROM sso_login WHERE expires_at < :now", {"now": now})
        session.add(
            SsoLogin(
                state_hash=digest(state),
                nonce=nonce,
                code_verifier=verifier,
                next_url=next_url[:500],
                created_at=now,
                expires_at=now + timedelta(minutes=SIGN_IN_MINUTES),
            )
        )
    return url, state


async def _consume(db: Database, state: str) -> SsoLogin | None:
    """The sign-in this state belongs to, marked used (a replayed or stale state gets None)."""
    async with db.transaction() as session:
        row = (
            await run_sql(
                session,
                "UPDATE sso_login SET used_at = :now WHERE state_hash = :h AND used_at IS NULL "
                "AND expires_at > :now RETURNING id, nonce, code_verifier, next_url",
                {"now": utcnow(), "h": digest(state)},
            )
        ).first()
    if row is None:
        return None
    return SsoLogin(id=row[0], state_hash="", nonce=row[1], code_verifier=row[2], next_url=row[3])


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(g for g in re.split(r"[\s,]+", value) if g)
    if isinstance(value, list):
        return tuple(str(g) for g in value if isinstance(g, str | int) and str(g))
    return ()


async def _identity(
    client: AsyncOAuth2Client,
    settings: Settings,
    metadata: dict[str, Any],
    token: dict[str, Any],
    nonce: str,
) -> Identity:
    """The ID token, validated: signed by a key of the IdP's JWKS with an algorithm it
    announces, issued by it to us, not expired, with our nonce and a matching at_hash."""
    id_token = token.get("id_token")
    if not id_token:
        raise SsoRefused("The identity provider sent no ID token.", code="sso_bad_token")
    response = await client.request("GET", metadata["jwks_uri"], withhold_token=True)
    response.raise_for_status()
    keys = KeySet.import_key_set(response.json())
    algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in algorithms if a != "none"]
    try:
        decoded = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=algorithms))
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "values": [settings.oidc_issuer]}},
            {
                "nonce": nonce,
                "client_id": settings.oidc_client_id,
                "access_token": token.get("access_token"),
            },
        )
        claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
    except (JoseError, AuthlibBaseError, ValueError) as exc:
        raise SsoRefused(
            f"The identity provider's ID token was not valid ({exc}).", code="sso_bad_token"
        ) from exc
    values = dict(claims)
    group_claim = settings.oidc_groups_claim
    if (
        group_claim not in values
        and metadata.get("userinfo_endpoint")
        and token.get("access_token")
    ):
        # Some IdPs give groups only at the userinfo endpoint; its subject must match.
        info = await client.request(
            "GET",
            metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
            withhold_token=True,
        )
        if info.status_code == 200 and info.json().get("sub") == values["sub"]:
            values.setdefault(group_claim, info.json().get(group_claim))
    email = values.get("email")
    return Identity(
        issuer=settings.oidc_issuer,
        subject=str(values["sub"]),
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=values.get("email_verified") is not False,
        name=values.get("name") if isinstance(values.get("name"), str) else None,
        username=values.get("preferred_username")
        if isinstance(values.get("preferred_username"), str)
        else None,
        groups=_groups(values.get(group_claim)),
    )


async def mapping_in_force(session: AsyncSession) -> SsoMapping:
    """The `sso_groups` version in force and the approved change that wrote it (None for the
    defaults at installation, which map no group)."""
    row = (
        await session.exec(
            select(ConfigSettingVersion)
            .join(ConfigSetting, col(ConfigSetting.id) == ConfigSettingVersion.setting_id)
            .where(
                ConfigSetting.key == "sso_groups",
                col(ConfigSettingVersion.version) == ConfigSetting.current_version,
            )
        )
    ).first()
    if row is None:
        return SsoMapping(0, None, SsoGroupMapping.model_validate({}))
    fields = SsoGroupMapping.model_fields
    values = {k: v for k, v in row.values.items() if k in fields}
    return SsoMapping(row.version, row.change_id, SsoGroupMapping.model_validate(values))


def username_for(person: Identity) -> str:
    """A staff username from the IdP's preferred username or e-mail (USERNAME_RE)."""
    for source in (person.username, (person.email or "").split("@")[0], f"sso-{person.subject}"):
        candidate = re.sub(r"[^a-z0-9._-]+", ".", (source or "").strip().lower()).strip("._-")
        candidate = candidate[:60]
        if USERNAME_RE.match(candidate):
            return candidate
    return f"sso-{digest(person.subject)[:16]}"


async def _deny(
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
        await _deny(db, person, origin, refusal, user)
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


async def complete(
    db: Database,
    settings: Settings,
    *,
    state: str,
    code: str | None,
    error: str | None,
    redirect_uri: str,
    origin: Origin,
    user_agent: str | None = None,
) -> SignedIn:
    """Finish a sign-in from the IdP's redirect: a new web session, or SsoRefused /
    Unavailable with the reason (every refusal is audited as denied)."""
    pending = await _consume(db, state) if state else None
    if pending is None:
        await _deny(db, None, origin, "unknown, used or expired sign-in state")
        raise SsoRefused(
            "This sign-in link has expired or was already used. Start again from the sign-in page.",
            code="sso_state",
        )
    if error or not code:
        reason = f"the identity provider answered: {error or 'no code'}"
        await _deny(db, None, origin, reason[:300])
        raise SsoRefused(f"Single sign-on did not complete ({reason}).", code="sso_error")
    async with _client(settings, redirect_uri) as client:
        metadata = await _metadata(client, settings)
        try:
            token = await client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
                redirect_uri=redirect_uri,
            )
            person = await _identity(client, settings, metadata, dict(token), pending.nonce)
        except DomainError as exc:
            await _deny(db, None, origin, exc.message)
            raise
        except (AuthlibBaseError, OSError, ValueError) as exc:
            await _deny(db, None, origin, f"code exchange failed: {exc}")
            raise SsoRefused(
                "The identity provider did not accept the sign-in; start again.",
                code="sso_exchange",
            ) from exc
    user, roles = await provision(db, person, origin)
    async with db.session() as session:
        enrolled = await mfa.factor_of(session, user.id) is not None
    # Our own second-factor rules hold whatever the IdP checked: someone enrolled enters
    # the code next (the session is not usable before); someone who must enrol, enrols.
    token_value, info = await open_session(
        db,
        settings,
        user,
        kind="web",
        origin=origin,
        user_agent=user_agent,
        action=ACTION,
        details={"issuer": person.issuer, "groups": list(person.groups), "roles": roles},
        second_factor="pending" if enrolled else "none",
    )
    return SignedIn(token_value, info, pending.next_url)


async def refuse_password(
    db: Database, settings: Settings, *, username: str, origin: Origin
) -> None:
    """LOCAL_PASSWORDS=false: a password sign-in (form or token endpoint) is refused, audited."""
    async with db.transaction() as session:
        await audit.record(
            session,
            action="auth.login" if origin.channel != "api" else "auth.token",
            actor=ActorRef(None, (username.strip().lower() or "anonymous")[:100]),
            outcome=audit.DENIED,
            reason="local passwords are switched off",
            origin=origin,
        )
    raise Forbidden(
        "Passwords are switched off here: sign in with "
        f"{settings.oidc_display_name} (single sign-on).",
        code="local_passwords_off",
    )
