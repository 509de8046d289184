"""Demo second factors: every demo person who must have one (AccessPolicy.mfa_required_roles)
or who approves (a task kind with a step-up outcome) gets the one documented demo
authenticator key, so a tester signs in as any of them (ops.olga, admin.alex, mlro.max…) with
the demo password and a code from DEMO_TOTP_SECRET. Demo mode only (`backoffice seed`).

The seed plays the people it makes decide: `stepped_up` records that the person proved their
second factor just now, as a live seed session of theirs, so the seed's approvals pass the
step-up at the decision door and in the kernel like a person's would.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta

from sqlmodel import col, select

from casework import catalog as _catalog  # noqa: F401 (registers every process's kinds)
from casework import registry
from core.db import Database, run_sql
from core.settings import Settings
from identity import mfa
from identity.actors import Actor
from identity.auth import roles_of, token_digest
from models.base import utcnow
from models.mfa import StaffMfa
from models.staff import StaffSession, StaffUser

# Base32, as authenticator apps take it: `python -c "import pyotp;
# print(pyotp.TOTP('BACKOFFICEDEMOKEYFORTESTERS23456').now())"` prints the current code.
DEMO_TOTP_SECRET = "BACKOFFICEDEMOKEYFORTESTERS23456"  # noqa: S105 (the documented demo key; seed refuses production)
SEED_SESSION = "demo seed (second factor proved by the seed)"


def _approver_roles() -> frozenset[str]:
    return frozenset(r for k in registry.kinds() if k.step_up_for for r in k.roles)


async def seed_second_factors(db: Database, settings: Settings) -> dict[str, int]:
    """The demo authenticator key for everyone who needs or approves with a second factor."""
    approvers = _approver_roles()
    enrolled = 0
    async with db.session() as session:
        users = (await session.exec(select(StaffUser).where(col(StaffUser.is_active)))).all()
        have = set((await session.exec(select(StaffMfa.user_id))).all())
        wanted = []
        for user in users:
            if user.id in have:
                continue
            roles = await roles_of(session, user.id)
            if roles & approvers or await mfa.must_enrol(session, user.id, roles):
                wanted.append(user.id)
    now = utcnow()
    async with db.transaction() as session:
        for user_id in wanted:
            session.add(
                StaffMfa(
                    user_id=user_id,
                    secret_encrypted=mfa.seal(settings, user_id, DEMO_TOTP_SECRET),
                    confirmed_at=now,
                )
            )
            enrolled += 1
    return {"second factors": enrolled}


async def stepped_up(
    db: Database,
    actor: Actor,
    *,
    lasting: timedelta = timedelta(hours=1),
    user_agent: str | None = SEED_SESSION,
) -> Actor:
    """`actor` has proved the second factor just now: their session says so, or, without
    one, a new session of theirs that has (lasting so long; the seed's by default)."""
    now = utcnow()
    async with db.transaction() as session:
        if actor.session_id is not None:
            await run_sql(
                session,
                "UPDATE staff_session SET mfa_at = :now WHERE id = :id",
                {"now": now, "id": actor.session_id},
            )
            return actor
        row = StaffSession(
            token_hash=token_digest(secrets.token_urlsafe(32)),
            kind="web",
            user_id=actor.user_id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + lasting,
            user_agent=user_agent,
            mfa_at=now,
        )
        session.add(row)
    return dataclasses.replace(actor, session_id=row.id)
