"""Role changes under four-eyes: an admin proposes roles added and removed for a person (a
reason, an optional end date); a different admin approves, and a risk manager too when the
change creates a conflicting combination (identity.policy.AccessPolicy.conflicting_roles).

Nobody proposes or approves a change of their own roles: the grantee is refused here, and is
excluded from every approval task like the maker (the decision door, the workflow's
validator). The change runs on the maker-checker machinery (ChangeApprovalWorkflow, target
type `role_grant`, bound to the person's grants version); its apply step writes the grants
the database door lets through (migration 0021), and an end date is a durable timer.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from temporalio.client import Client

from audit import trail as audit
from audit.trail import ActorRef
from changes.commands.requests import NewChange, _open_change
from changes.rules import ROLE_GRANT, ChangePlan, plan_role_change
from configuration.documents import load_typed
from core.db import Database
from core.settings import Settings
from identity import grants
from identity.access import record_refusal, require
from identity.actors import Actor
from identity.auth import roles_of, verify_password
from identity.policy import AccessPolicy
from models.base import utcnow
from models.changes import OPEN_CHANGE_STATUSES, ChangeCreated, ChangeRequest, PendingPublic
from models.staff import StaffUser
from models.workflow_io import Origin
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthenticated

ACTION = "role.propose"


def _check_request(reason: str, ends_at: datetime | None) -> str:
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if len(reason) < 10 or len(reason) > 2000:
        errors["reason"] = "say why the person needs this change (10 to 2000 characters)"
    if ends_at is not None:
        if ends_at.tzinfo is None:
            errors["ends_at"] = "include a time zone (e.g. 2027-03-31T18:00:00Z)"
        elif ends_at <= utcnow():
            errors["ends_at"] = "must be in the future (leave empty for no end date)"
    if errors:
        raise Invalid("The role change was not proposed.", fields=errors)
    return reason


async def plan_for(
    db: Database,
    user_id: uuid.UUID,
    *,
    add: list[str],
    remove: list[str],
    ends_at: datetime | None = None,
) -> tuple[StaffUser, ChangePlan]:
    """The person and the change checked against their grants now (nothing saved)."""
    adding = grants.check_roles(add, "add")
    removing = grants.check_roles(remove, "remove")
    _, policy = await load_typed(db, "access", AccessPolicy)
    async with db.session() as session:
        user = await session.get(StaffUser, user_id)
        if user is None:
            raise NotFound(f"No staff user {user_id}.")
        held = [g.role for g in await grants.active_grants(session, user_id)]
    if adding and not user.is_active:
        raise Conflict(
            f"{user.username}'s account is disabled: enable it before granting roles.",
            code="account_disabled",
        )
    plan = plan_role_change(
        held,
        adding,
        removing,
        conflicts=policy.conflicts_in,
        ends_at=ends_at.isoformat() if ends_at else None,
    )
    return user, plan


async def propose_role_change(
    db: Database,
    temporal: Client,
    settings: Settings,
    actor: Actor,
    user_id: uuid.UUID,
    *,
    add: list[str],
    remove: list[str],
    reason: str,
    ends_at: datetime | None = None,
) -> ChangeCreated:
    """Propose roles added / removed for `user_id`; audited, refusals too.

    Refused: without `staff:propose_roles`, for one's own roles (`own_roles`), unknown roles,
    adding a role held or removing one not held, an end date in the past, a reason under 10
    characters."""
    await require(
        db, actor, "staff", "propose_roles", action=ACTION, object_type="staff", object_id=user_id
    )
    try:
        if user_id == actor.user_id:
            raise Forbidden(
                "Nobody proposes a change of their own roles: ask another administrator.",
                code="own_roles",
            )
        reason = _check_request(reason, ends_at)
        user, plan = await plan_for(db, user_id, add=add, remove=remove, ends_at=ends_at)
        async with db.transaction() as session:
            # Locked: the grants version the approval binds to cannot move under us.
            locked = await session.get(StaffUser, user_id, with_for_update=True)
            assert locked is not None
            base_version = await grants.grants_version(session, user_id)
            held = sorted(g.role for g in await grants.active_grants(session, user_id))
            if held != plan.before["roles"]:
                raise Conflict(
                    "The person's roles changed while you proposed; review and try again.",
                    code="roles_changed",
                )
            summary = ", ".join(
                [f"+{r}" for r in plan.after["add"]] + [f"-{r}" for r in plan.after["remove"]]
            )
            label = f"{user.display_name} ({user.username})"
            return await _open_change(
                session,
                temporal,
                settings,
                actor,
                NewChange(
                    target_type=ROLE_GRANT,
                    target_id=user_id,
                    base_version=base_version,
                    plan=plan,
                    label=label,
                    title=f"Roles of {user.username}: {summary}",
                    reason=reason,
                    grant_ends_at=ends_at,
                ),
            )
    except DomainError as error:
        await record_refusal(
            db,
            actor,
            error,
            action=ACTION,
            object_type="staff",
            object_id=user_id,
            details={"add": sorted(add), "remove": sorted(remove)},
        )
        raise


async def pending_role_changes(db: Database, user_id: uuid.UUID) -> list[PendingPublic]:
    """The person's role changes still awaiting approval (or their start date), newest first."""
    async with db.session() as session:
        rows = (
            await session.exec(
                select(ChangeRequest, StaffUser.username)
                .join(StaffUser, col(StaffUser.id) == ChangeRequest.maker_id)
                .where(
                    ChangeRequest.target_type == ROLE_GRANT,
                    ChangeRequest.target_id == user_id,
                    col(ChangeRequest.status).in_([s.value for s in OPEN_CHANGE_STATUSES]),
                )
                .order_by(col(ChangeRequest.created_at).desc())
            )
        ).all()
    return [
        PendingPublic(
            id=c.id,
            case_id=c.case_id,
            status=c.status,
            maker=maker,
            add=list(c.after.get("add", [])),
            remove=list(c.after.get("remove", [])),
            ends_at=c.after.get("ends_at"),
            conflicts=list(c.after.get("conflicts", [])),
            created_at=c.created_at,
        )
        for c, maker in rows
    ]


async def propose_as(
    db: Database,
    temporal: Client,
    settings: Settings,
    *,
    admin_username: str,
    password: str,
    username: str,
    add: list[str],
    remove: list[str],
    reason: str,
    ends_at: datetime | None = None,
    os_user: str | None = None,
) -> ChangeCreated:
    """`backoffice user propose-roles`: the admin proves who they are with their password,
    then proposes as on the web (the same checks and audit; the origin says cli and names
    the operating-system user). A wrong password is refused and audited."""
    # The audit keeps the request id: it says the CLI and names the operating-system user.
    origin = Origin(channel="cli", request_id=f"cli:os:{os_user or '?'}"[:64])
    async with db.session() as session:
        admin = (
            await session.exec(
                select(StaffUser).where(StaffUser.username == admin_username.strip().lower())
            )
        ).first()
        person = (
            await session.exec(
                select(StaffUser).where(StaffUser.username == username.strip().lower())
            )
        ).first()
        roles = await roles_of(session, admin.id) if admin else frozenset()
    if not await verify_password(admin.password_hash if admin else None, password) or (
        admin is None or not admin.is_active
    ):
        async with db.transaction() as session:
            await audit.record(
                session,
                action=ACTION,
                actor=ActorRef(admin.id if admin else None, admin_username[:100]),
                outcome=audit.DENIED,
                reason="bad credentials",
                origin=origin,
            )
        raise Unauthenticated(
            "Wrong username or password, or the account is disabled.", code="bad_credentials"
        )
    if person is None:
        raise NotFound(f"No staff user {username!r}.")
    actor = Actor(admin.id, admin.username, admin.display_name, roles, origin)
    return await propose_role_change(
        db,
        temporal,
        settings,
        actor,
        person.id,
        add=add,
        remove=remove,
        reason=reason,
        ends_at=ends_at,
    )
