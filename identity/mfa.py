"""The second factor: TOTP (RFC 6238) with recovery codes, and step-up freshness.

- **Enrolment**: `new_enrolment` makes a secret (kept encrypted, AES-256-GCM; the key is
  `MFA_KEYS` or, outside production, DATA_DIR/mfa.keys) and shows it as a QR code, storing
  nothing; `confirm_enrolment` takes the first code from the app (and the sealed secret the
  form carried), turns the factor on and returns ten
  recovery codes, shown once and stored hashed (each usable once).
- **Proof**: `prove` checks a code (or a recovery code) for a session: it finishes a sign-in
  waiting for its second factor and records when this session last proved it (`mfa_at`). A
  code is accepted once: the time step it belongs to is stored, and a code of that step or
  an earlier one is refused (replay).
- **Step-up**: an outcome listed in its task kind's `step_up_for` needs a proof within the
  last `AccessPolicy.step_up_minutes` (identity/policy.py): `require_step_up` asks it of the
  session deciding (web, API), `stepped_up` of the person (the kernel's decision store, for a
  decision sent straight to Temporal).

Nothing here logs a secret or a code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from audit.trail import ActorRef
from core.codec import KeyRing, ensure_dev_key_file, parse_key_list
from core.db import Database, run_sql
from core.settings import Settings
from identity.access import record_refusal, require
from identity.actors import Actor
from identity.documents import in_force
from identity.policy import AccessPolicy
from models.base import utcnow
from models.mfa import StaffMfa, StaffMfaRecovery
from models.staff import LoginAttempt, StaffSession, StaffUser
from models.workflow_io import Origin
from shared.errors import Conflict, Forbidden, Invalid, NotFound

STEP_SECONDS = 30
RECOVERY_CODES = 10
STEP_UP_REQUIRED = "step_up_required"
BAD_CODE = "bad_second_factor"
ENROL_FIRST = "enrol_second_factor"
KEY_FILE = "mfa.keys"
_AAD = b"backoffice staff_mfa v1:"


# ------------------------------------------------------------------------- the policy
async def access_policy(session: AsyncSession) -> AccessPolicy:
    """The `access` document in force (its defaults when none was ever approved)."""
    return (await in_force(session, "access", AccessPolicy))[1]


# --------------------------------------------------------------------- the secret's key
_rings: dict[str, KeyRing] = {}


def _key_ring(settings: Settings) -> KeyRing:
    if settings.mfa_keys.strip():
        return parse_key_list(settings.mfa_keys)
    if settings.environment == "production":
        raise RuntimeError("production needs MFA_KEYS (the key of stored second-factor secrets)")
    path = settings.data_dir.resolve() / KEY_FILE
    ring = _rings.get(str(path))
    if ring is None:
        ring = _rings[str(path)] = ensure_dev_key_file(Path(path))
    return ring


def seal(settings: Settings, user_id: uuid.UUID, secret: str) -> str:
    ring = _key_ring(settings)
    key_id = ring.encrypting_id
    key = ring.key(key_id)
    assert key is not None
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), _AAD + user_id.bytes)
    return f"{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(settings: Settings, user_id: uuid.UUID, stored: str) -> str:
    key_id, _, body = stored.partition(":")
    key = _key_ring(settings).key(key_id)
    if key is None:
        raise RuntimeError(f"no key {key_id!r} for second-factor secrets")
    raw = base64.b64decode(body)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], _AAD + user_id.bytes).decode()
    except InvalidTag:
        raise RuntimeError("a second-factor secret does not decrypt with its key") from None


# ------------------------------------------------------------------------------ codes
def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, one before, one after: clock drift) whose code this is."""
    totp = pyotp.TOTP(secret)
    current = _step(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_digest(code: str) -> str:
    return hashlib.sha256(f"recovery:{_normal(code)}".encode()).hexdigest()


def new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(5)).decode().lower()
    return f"{raw[:4]}-{raw[4:]}"


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code of an otpauth URI as an SVG data: URI (the CSP allows data: images)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


# --------------------------------------------------------------------------- reading
async def factor_of(session: AsyncSession, user_id: uuid.UUID) -> StaffMfa | None:
    """A person's confirmed factor (None: not enrolled, or enrolment not finished)."""
    row = await session.get(StaffMfa, user_id)
    return row if row is not None and row.confirmed_at is not None else None


@dataclass(frozen=True)
class FactorStatus:
    enrolled: bool
    enrolled_at: datetime | None
    recovery_left: int
    required: bool


async def status_of(
    session: AsyncSession, user_id: uuid.UUID, roles: frozenset[str]
) -> FactorStatus:
    found = await factor_of(session, user_id)
    left = 0
    if found is not None:
        left = len(
            (
                await session.exec(
                    select(StaffMfaRecovery.id).where(
                        StaffMfaRecovery.user_id == user_id,
                        col(StaffMfaRecovery.used_at).is_(None),
                    )
                )
            ).all()
        )
    return FactorStatus(
        enrolled=found is not None,
        enrolled_at=found.confirmed_at if found else None,
        recovery_left=left,
        required=await factor_required(session, roles),
    )


async def factor_required(session: AsyncSession, roles: frozenset[str]) -> bool:
    """Whether these roles need a second factor (the `access` document in force)."""
    return bool(roles) and (await access_policy(session)).needs_second_factor(roles)


async def must_enrol(session: AsyncSession, user_id: uuid.UUID, roles: frozenset[str]) -> bool:
    """Holds a role that needs a second factor and has none yet."""
    return await factor_of(session, user_id) is None and await factor_required(session, roles)


# ------------------------------------------------------------------------- enrolment
@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr: str  # an SVG data: URI
    # The secret sealed for this person (the enrolment form carries it back with the first
    # code): showing the page writes nothing; only a confirmed factor is stored.
    token: str


def new_enrolment(settings: Settings, actor: Actor) -> Enrolment:
    """A new secret to scan, not stored until its first code confirms it."""
    return enrolment_of(settings, actor, seal(settings, actor.user_id, pyotp.random_base32()))


def enrolment_of(settings: Settings, actor: Actor, token: str) -> Enrolment:
    """The enrolment a form carried back (its sealed secret), shown again."""
    secret = unseal(settings, actor.user_id, token)
    uri = provisioning_uri(secret, actor.username, settings.mfa_issuer)
    return Enrolment(secret=secret, uri=uri, qr=qr_svg_data_uri(uri), token=token)


def _token_secret(settings: Settings, actor: Actor, token: str) -> str | None:
    if not token or len(token) > 400:
        return None
    try:
        return unseal(settings, actor.user_id, token)
    except (RuntimeError, ValueError):
        return None


async def confirm_enrolment(
    db: Database, settings: Settings, actor: Actor, code: str, token: str
) -> list[str]:
    """Turn the factor on with its first code; returns the recovery codes (shown once)."""
    code = code.strip().replace(" ", "")
    now = utcnow()
    secret = _token_secret(settings, actor, token)
    if secret is None:
        raise Invalid(
            "This enrolment form is not valid any more. Scan the new QR code.",
            code="bad_enrolment",
            fields={"code": "start again"},
        )
    async with db.transaction() as session:
        row = await session.get(StaffMfa, actor.user_id, with_for_update=True)
        if row is not None and row.confirmed_at is not None:
            raise Conflict(
                "You already have a second factor. An administrator can reset it.",
                code="already_enrolled",
            )
        step = matching_step(secret, code, now) if code.isdigit() else None
        error: Invalid | None = None
        codes: list[str] = []
        if step is None:
            error = Invalid(
                "That code does not match. Enter the 6-digit code your app shows now.",
                code=BAD_CODE,
                fields={"code": "not the current code"},
            )
        else:
            if row is None:
                row = StaffMfa(user_id=actor.user_id, secret_encrypted=token)
            row.secret_encrypted = token
            row.created_at = now
            row.confirmed_at = now
            row.last_step = step
            session.add(row)
            await run_sql(
                session,
                "DELETE FROM staff_mfa_recovery WHERE user_id = :uid",
                {"uid": actor.user_id},
            )
            codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
            for one in codes:
                session.add(StaffMfaRecovery(user_id=actor.user_id, code_hash=recovery_digest(one)))
            if actor.session_id is not None:
                await _mark_proved(session, actor.session_id, now)
        await audit.record(
            session,
            action="mfa.enrolled",
            actor=actor.ref,
            outcome=audit.DENIED if error else audit.SUCCESS,
            reason=error.message if error else None,
            object_type="staff_user",
            object_id=actor.user_id,
            origin=actor.origin,
        )
    if error is not None:
        raise error
    return codes


# ------------------------------------------------------------------------------ proof
async def _mark_proved(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await run_sql(
        session,
        "UPDATE staff_session SET mfa_at = :now, mfa_pending = false WHERE id = :id",
        {"now": now, "id": session_id},
    )


async def _accept(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, code: str, now: datetime
) -> str | None:
    """'totp' or 'recovery' when the code is good and not used before (then it is used up)."""
    row = await session.get(StaffMfa, user_id, with_for_update=True)
    if row is None or row.confirmed_at is None:
        return None
    code = code.strip().replace(" ", "")
    if code.isdigit() and len(code) == 6:
        step = matching_step(unseal(settings, user_id, row.secret_encrypted), code, now)
        if step is None or step <= row.last_step:
            return None  # wrong, or already used (replay)
        row.last_step = step
        session.add(row)
        return "totp"
    if not code or len(code) > 40:
        return None
    used = await run_sql(
        session,
        "UPDATE staff_mfa_recovery SET used_at = :now WHERE user_id = :uid "
        "AND code_hash = :hash AND used_at IS NULL RETURNING id",
        {"now": now, "uid": user_id, "hash": recovery_digest(code)},
    )
    return "recovery" if used.first() is not None else None


async def prove(
    db: Database,
    settings: Settings,
    user: ActorRef,
    code: str,
    *,
    session_id: uuid.UUID | None,
    origin: Origin,
    action: str,
    details: dict[str, object] | None = None,
) -> str:
    """Check a second-factor code for `user`; when good, the session (if any) has proved it
    now. Audited either way as `action`; a wrong code counts as a failed sign-in attempt
    (the sign-in throttle applies to guessing codes too). Returns 'totp' or 'recovery'."""
    assert user.id is not None
    now = utcnow()
    async with db.transaction() as session:
        method = await _accept(session, settings, user.id, code, now)
        if method is not None and session_id is not None:
            await _mark_proved(session, session_id, now)
        if method is None:
            session.add(LoginAttempt(username=user.name[:64], ip=origin.ip, succeeded=False))
        await audit.record(
            session,
            action=action,
            actor=user,
            outcome=audit.SUCCESS if method else audit.DENIED,
            reason=None if method else "wrong or already used second-factor code",
            object_type="session" if session_id else "staff_user",
            object_id=session_id or user.id,
            origin=origin,
            details={**(details or {}), **({"method": method} if method else {})},
        )
    if method is None:
        raise Invalid(
            "That code is wrong or was already used. Enter the current code from your "
            "authenticator app (or an unused recovery code).",
            code=BAD_CODE,
            fields={"second_factor": "wrong or already used code"},
        )
    return method


async def verify_for_token(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, code: str
) -> str | None:
    """The code check of an API token request, inside the caller's transaction."""
    return await _accept(session, settings, user_id, code, utcnow())


# --------------------------------------------------------------------------- step-up
def _fresh_since(policy: AccessPolicy) -> datetime:
    return utcnow() - timedelta(minutes=policy.step_up_minutes)


async def session_stepped_up(session: AsyncSession, session_id: uuid.UUID | None) -> bool:
    """This session proved the second factor within the step-up window."""
    if session_id is None:
        return False
    policy = await access_policy(session)
    row = await session.get(StaffSession, session_id)
    return (
        row is not None
        and row.revoked_at is None
        and row.mfa_at is not None
        and row.mfa_at >= _fresh_since(policy)
    )


async def stepped_up(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Some live session of this person proved the second factor within the window (the
    kernel's check, for a decision that did not come through a session of ours)."""
    policy = await access_policy(session)
    found = (
        await session.exec(
            select(StaffSession.id).where(
                StaffSession.user_id == user_id,
                col(StaffSession.revoked_at).is_(None),
                col(StaffSession.expires_at) > utcnow(),
                col(StaffSession.mfa_at) >= _fresh_since(policy),
            )
        )
    ).first()
    return found is not None


def step_up_message(minutes: int, *, api: bool) -> str:
    how = (
        "request a new token with your username, password and current code "
        '(POST /api/v1/auth/token {"username", "password", "totp"}) and use it'
        if api
        else "enter the code from your authenticator app"
    )
    return f"This decision needs your second factor from the last {minutes} minutes: {how}."


async def require_step_up(db: Database, actor: Actor, *, task_id: uuid.UUID, outcome: str) -> None:
    """Refuse (403 step_up_required, audited) unless this session stepped up recently."""
    async with db.session() as session:
        fresh = await session_stepped_up(session, actor.session_id)
        minutes = (await access_policy(session)).step_up_minutes
        enrolled = await factor_of(session, actor.user_id) is not None
    if fresh:
        return
    api = actor.origin.channel == "api"
    message = step_up_message(minutes, api=api)
    if not enrolled:
        message = (
            "This decision needs a second factor, and you have none yet: set one up "
            "(Your second factor, /mfa/enrol) first."
        )
    error = Forbidden(message, code=STEP_UP_REQUIRED)
    async with db.transaction() as session:
        await audit.record(
            session,
            action="task.decide",
            actor=actor.ref,
            outcome=audit.DENIED,
            reason=f"{STEP_UP_REQUIRED}: no second factor in the last {minutes} minutes",
            object_type="task",
            object_id=task_id,
            origin=actor.origin,
            details={"outcome": outcome},
        )
    raise error


# ------------------------------------------------------------------------ admin reset
async def reset_factor(db: Database, actor: Actor, user_id: uuid.UUID) -> None:
    """An administrator removes a person's second factor (lost phone): they enrol again at
    their next sign-in. Their sessions' proofs end with it. Audited."""
    await require(
        db,
        actor,
        "staff",
        "manage",
        action="mfa.reset",
        object_type="staff_user",
        object_id=user_id,
    )
    if user_id == actor.user_id:
        error = Forbidden(
            "You cannot reset your own second factor: ask another administrator.",
            code="own_factor",
        )
        await record_refusal(
            db, actor, error, action="mfa.reset", object_type="staff_user", object_id=user_id
        )
        raise error
    async with db.transaction() as session:
        user = await session.get(StaffUser, user_id)
        if user is None:
            raise NotFound(f"No staff member with id {user_id}.")
        had = await session.get(StaffMfa, user_id)
        await run_sql(
            session, "DELETE FROM staff_mfa_recovery WHERE user_id = :uid", {"uid": user_id}
        )
        await run_sql(session, "DELETE FROM staff_mfa WHERE user_id = :uid", {"uid": user_id})
        await run_sql(
            session,
            "UPDATE staff_session SET mfa_at = NULL WHERE user_id = :uid",
            {"uid": user_id},
        )
        await audit.record(
            session,
            action="mfa.reset",
            actor=actor.ref,
            object_type="staff_user",
            object_id=user_id,
            origin=actor.origin,
            details={"username": user.username, "had_factor": had is not None},
        )
