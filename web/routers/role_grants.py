"""Role changes under four-eyes: the roles panel of a staff member (current grants, pending
proposals, the "Propose role change" form), its form post, and the JSON API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from changes.commands import role_grants as role_service
from identity import grants as grant_service
from identity.access import allowed
from identity.actors import Actor
from models.changes import ChangeCreated, PendingPublic
from models.roles import ROLES
from models.staff import StaffUser
from shared.errors import DomainError, Invalid, NotFound
from web.deps import CurrentActor, HtmxRequest, ServicesDep, TemporalDep, in_path, require
from web.responses import API_ERRORS, WRITE_ERRORS
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

Proposer = Depends(
    require("staff", "propose_roles", action="role.propose", about=in_path("staff", "user_id"))
)
Reader = Depends(require("staff", "read"))


class RoleChangeCreate(BaseModel):
    """Roles to add and remove for a person; a different admin approves (and a risk manager
    when the result is a conflicting combination)."""

    model_config = ConfigDict(extra="forbid")

    add: list[str] = Field(default_factory=list, max_length=len(ROLES))
    remove: list[str] = Field(default_factory=list, max_length=len(ROLES))
    reason: str = Field(max_length=2000)
    ends_at: datetime | None = Field(
        default=None, description="When the added roles end (with a time zone); empty: never"
    )


class GrantPublic(BaseModel):
    id: uuid.UUID
    role: str
    source: str
    granted_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None
    ended_reason: str | None
    change_id: uuid.UUID | None


class RoleGrantsPublic(BaseModel):
    user_id: uuid.UUID
    username: str
    active: list[GrantPublic]
    ended: list[GrantPublic]
    pending: list[PendingPublic]


async def roles_of_person(services: Services, user_id: uuid.UUID) -> RoleGrantsPublic:
    async with services.db.session() as session:
        user = await session.get(StaffUser, user_id)
        if user is None:
            raise NotFound(f"No staff user {user_id}.")
        history = await grant_service.grant_history(session, user_id)
    now = datetime.now(UTC)

    def public(g: Any) -> GrantPublic:
        return GrantPublic.model_validate(g, from_attributes=True)

    live = [
        g for g in history if g.ended_at is None and (g.expires_at is None or g.expires_at > now)
    ]
    pending = await role_service.pending_role_changes(services.db, user_id)
    return RoleGrantsPublic(
        user_id=user.id,
        username=user.username,
        active=sorted((public(g) for g in live), key=lambda g: g.role),
        ended=[public(g) for g in history if g not in live],
        pending=pending,
    )


# ----------------------------------------------------------------------------- JSON API
@api.get("/{user_id}/role-grants", response_model=RoleGrantsPublic, dependencies=[Reader])
async def read_role_grants(services: ServicesDep, user_id: uuid.UUID) -> RoleGrantsPublic:
    """A person's active and ended grants (with their source and end date) and the role
    changes awaiting approval."""
    return await roles_of_person(services, user_id)


@api.post(
    "/{user_id}/role-changes",
    status_code=status.HTTP_201_CREATED,
    response_model=ChangeCreated,
    dependencies=[Proposer],
    responses=WRITE_ERRORS,
)
async def propose_role_change(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    user_id: uuid.UUID,
    body: RoleChangeCreate,
) -> ChangeCreated:
    """Propose roles added / removed for a person (never yourself); a different admin must
    approve it (`GET /api/v1/changes/{id}` shows its approvals)."""
    return await role_service.propose_role_change(
        services.db,
        temporal,
        services.settings,
        actor,
        user_id,
        add=body.add,
        remove=body.remove,
        reason=body.reason,
        ends_at=body.ends_at,
    )


# ----------------------------------------------------------------------------- pages
def _parse_ends_at(raw: str) -> datetime | None:
    """The form's date (a day, or a day and time in UTC); the roles end at its end."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = datetime.fromisoformat(raw)
            return day.replace(hour=23, minute=59, tzinfo=UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(
            "The role change was not proposed.",
            fields={"ends_at": "a date like 2027-03-31 (or empty for no end date)"},
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _panel(
    request: Request,
    services: Services,
    actor: Actor,
    user_id: uuid.UUID,
    htmx: bool,
    **extra: Any,
) -> Response:
    grants = await roles_of_person(services, user_id)
    context = {
        "grants": grants,
        "roles": ROLES,
        "can_propose": allowed(actor.roles, "staff", "propose_roles") and actor.user_id != user_id,
        "own": actor.user_id == user_id,
        "form": {},
        "errors": {},
        **extra,
    }
    return render(
        request,
        "staff_roles.html",
        context,
        block="roles_panel" if htmx else None,
        status_code=int(extra.get("status_code", 200)),
    )


@pages.get("/admin/staff/{user_id}/roles", dependencies=[Reader])
async def read_staff_roles(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    user_id: uuid.UUID,
) -> Response:
    """The roles panel: the whole page, or (HTMX, as the staff detail page loads it) the block."""
    return await _panel(request, services, actor, user_id, htmx)


@pages.post("/admin/staff/{user_id}/role-changes", dependencies=[Proposer])
async def propose_role_change_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    user_id: uuid.UUID,
) -> Response:
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    add = [str(v) for v in form.getlist("add")]
    remove = [str(v) for v in form.getlist("remove")]
    try:
        created = await role_service.propose_role_change(
            services.db,
            temporal,
            services.settings,
            actor,
            user_id,
            add=add,
            remove=remove,
            reason=fields.get("reason", ""),
            ends_at=_parse_ends_at(fields.get("ends_at", "")),
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        # The form comes back with the admin's input and each problem named.
        request.state.error_reason = f"{exc.code}: {exc.message}"
        return await _panel(
            request,
            services,
            actor,
            user_id,
            htmx,
            form={**fields, "add": add, "remove": remove},
            errors=exc.fields,
            error=exc.message,
            status_code=exc.status_code,
        )
    url = str(request.url_for("read_case", case_id=created.case_id)) + "?notice=proposed"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)
