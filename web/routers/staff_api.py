"""Staff administration in the JSON API: the same actions and rules as the staff pages
(web/routers/staff.py). Roles are proposed at `/api/v1/staff/{user_id}/role-changes`."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from identity import invitations
from identity import staff as staff_service
from models.roles import ROLES
from models.staff import StaffPublic
from web.deps import (
    CurrentActor,
    OneOf,
    PageParam,
    PerPageParam,
    ServicesDep,
    in_path,
    of_type,
    require,
)
from web.responses import API_ERRORS, WRITE_ERRORS
from web.routers.staff import deliver, reset_password

api = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses=API_ERRORS)

Reader = Depends(require("staff", "read", about=in_path("staff", "user_id")))
Manager = Depends(require("staff", "manage", about=in_path("staff", "user_id")))
Inviter = Depends(require("staff", "manage", action="staff.invited", about=of_type("staff")))


class StaffPage(BaseModel):
    items: list[StaffPublic]
    total: int
    page: int
    per_page: int


class SessionOut(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="`web` (a browser session) or `api` (a bearer token)")
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None


class LinkOut(BaseModel):
    purpose: str = Field(description="`invite` or `reset`")
    created_at: datetime
    expires_at: datetime
    delivery: str | None
    expired: bool


class StaffOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    is_active: bool
    status: str = Field(description="`active`, `invited` (no password set yet) or `disabled`")
    created_at: datetime
    disabled_at: datetime | None
    password_changed_at: datetime
    locked_seconds: int = Field(description="Seconds the sign-in lockout lasts (0: none)")
    sessions: list[SessionOut]
    open_link: LinkOut | None


class InvitationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=100)
    display_name: str = Field(max_length=300)
    email: str = Field(max_length=300, description="Where the one-time link is e-mailed")


class IssuedLinkOut(BaseModel):
    user_id: uuid.UUID
    username: str
    purpose: str = Field(description="`invite` or `reset`")
    set_password_url: str | None = Field(
        description=(
            "The one-time link, shown this once (only its hash is kept); null when it went "
            "only to the person's e-mail (a reset for someone who holds roles)"
        )
    )
    expires_at: datetime
    delivery: str = Field(description="What became of the e-mail carrying the link")
    sessions_ended: int = 0


class SessionsEnded(BaseModel):
    sessions_ended: int


class Unlocked(BaseModel):
    failed_attempts_cleared: int


async def _detail(services: Any, user_id: uuid.UUID) -> StaffOut:
    person = await staff_service.staff_detail(services.db, services.settings, user_id)
    return StaffOut.model_validate(asdict(person))


@api.get("", response_model=StaffPage, dependencies=[Depends(require("staff", "read"))])
async def list_staff(
    services: ServicesDep,
    role: Annotated[str, OneOf(ROLES)] | None = None,
    status: Annotated[str, OneOf(staff_service.STATUSES)] | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[str, OneOf(tuple(staff_service.SORTS))] = "username",
    desc: bool = False,
    page: PageParam = 1,
    per_page: PerPageParam = 50,
) -> StaffPage:
    """Staff accounts with their active roles: filter by role, status and name or e-mail."""
    items, total = await staff_service.list_staff(
        services.db,
        role=role,
        status=status,
        q=q or None,
        sort=sort,
        descending=desc,
        page=page,
        per_page=per_page,
    )
    return StaffPage(items=items, total=total, page=page, per_page=per_page)


@api.get("/{user_id}", response_model=StaffOut, dependencies=[Reader])
async def read_staff_member(services: ServicesDep, user_id: uuid.UUID) -> StaffOut:
    """One account: status, active roles, lockout, live sessions and tokens, open link."""
    return await _detail(services, user_id)


@api.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedLinkOut,
    dependencies=[Inviter],
    responses=WRITE_ERRORS,
)
async def invite_staff(
    request: Request, services: ServicesDep, actor: CurrentActor, body: InvitationRequest
) -> IssuedLinkOut:
    """Invite a person: an account with no roles and no usable password, and a one-time link
    (72 h) to set the password, e-mailed to them and returned here once."""
    issued = await invitations.invite(
        services.db,
        username=body.username,
        display_name=body.display_name,
        email=body.email,
        actor=actor.ref,
        origin=actor.origin,
    )
    url, delivery = await deliver(request, services, issued)
    return IssuedLinkOut(
        user_id=issued.user_id,
        username=issued.username,
        purpose=issued.purpose,
        set_password_url=url,
        expires_at=issued.expires_at,
        delivery=delivery,
    )


@api.post(
    "/{user_id}/reset-password",
    response_model=IssuedLinkOut,
    dependencies=[Manager],
    responses=WRITE_ERRORS,
)
async def reset_staff_password(
    request: Request, services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> IssuedLinkOut:
    """The password stops working, every session and token ends, and a new one-time link
    (72 h) lets the person set a new one (returned here once)."""
    issued, url, delivery = await reset_password(request, services, actor, user_id)
    return IssuedLinkOut(
        user_id=issued.user_id,
        username=issued.username,
        purpose=issued.purpose,
        set_password_url=None if issued.private else url,
        expires_at=issued.expires_at,
        delivery=delivery,
        sessions_ended=issued.sessions_ended,
    )


@api.post(
    "/{user_id}/disable",
    response_model=SessionsEnded,
    dependencies=[Manager],
    responses=WRITE_ERRORS,
)
async def disable_staff(
    services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> SessionsEnded:
    """Disable the account: every session and API token ends at once."""
    ended = await staff_service.set_active(
        services.db, user_id=user_id, active=False, actor=actor.ref, origin=actor.origin
    )
    return SessionsEnded(sessions_ended=ended)


@api.post(
    "/{user_id}/enable", response_model=StaffOut, dependencies=[Manager], responses=WRITE_ERRORS
)
async def enable_staff(services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID) -> StaffOut:
    """Let a disabled person sign in again (ended sessions stay ended)."""
    await staff_service.set_active(
        services.db, user_id=user_id, active=True, actor=actor.ref, origin=actor.origin
    )
    return await _detail(services, user_id)


@api.post("/{user_id}/unlock", response_model=Unlocked, dependencies=[Manager])
async def unlock_staff(services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID) -> Unlocked:
    """End a sign-in lockout after too many failed attempts."""
    cleared = await staff_service.unlock(
        services.db, user_id=user_id, actor=actor.ref, origin=actor.origin
    )
    return Unlocked(failed_attempts_cleared=cleared)


@api.post(
    "/{user_id}/sessions/{session_id}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Manager],
    responses=WRITE_ERRORS,
)
async def revoke_staff_session(
    services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID, session_id: uuid.UUID
) -> None:
    """End one session or API token of the person now."""
    await staff_service.revoke_session(
        services.db, user_id=user_id, session_id=session_id, actor=actor.ref, origin=actor.origin
    )


@api.post("/{user_id}/sessions/revoke-all", response_model=SessionsEnded, dependencies=[Manager])
async def revoke_staff_sessions(
    services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> SessionsEnded:
    """End every session and API token of the person (the account stays enabled)."""
    ended = await staff_service.revoke_sessions(
        services.db, user_id=user_id, actor=actor.ref, origin=actor.origin
    )
    return SessionsEnded(sessions_ended=ended)
