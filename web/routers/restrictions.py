"""Account restrictions during an AML case: restrict at once, propose a lift (maker-checker).

The JSON API, and the form posts of the AML case page's restrictions panel
(`partials/restriction_panel.html`). A form posted by HTMX into `#restrictions` gets the
panel back with a notice; any other HTMX post is sent to the case page; a plain form post
gets a 303. A refused form post comes back as a page holding what was typed.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from aml.commands import restrictions as restriction_service
from aml.commands.restrictions import TARGET_TYPE as RESTRICTION
from aml.commands.restrictions import RestrictionPlaced
from aml.queries import restriction_views
from aml.queries.restriction_views import AccountRestrictions
from changes.commands import requests as change_service
from models.changes import ChangeCreated
from shared.errors import Conflict, DomainError, Invalid
from web.deps import CurrentActor, HtmxRequest, ServicesDep, TemporalDep, in_path, require
from web.responses import API_ERRORS, WRITE_ERRORS
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1", tags=["restrictions"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

Restricter = Depends(
    require("account", "restrict", action="account.restrict", about=in_path("case", "case_id"))
)
LiftProposer = Depends(
    require(
        "change",
        "propose_restriction_lift",
        action="change.propose",
        about=in_path(RESTRICTION, "restriction_id"),
    )
)

PANEL_TARGET = "restrictions"  # the id of the panel an HTMX form swaps


class RestrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    reason: str = Field(default="", max_length=2000, description="Why (10 to 500 characters)")


class LiftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="", max_length=4000, description="Why it can be lifted (10 to 2000 characters)"
    )


# ----------------------------------------------------------------------------- JSON API
@api.post(
    "/cases/{case_id}/restrictions",
    status_code=status.HTTP_201_CREATED,
    response_model=RestrictionPlaced,
    dependencies=[Restricter],
    responses={
        200: {
            "model": RestrictionPlaced,
            "description": "Already restricted: the existing restriction",
        },
        **WRITE_ERRORS,
    },
)
async def restrict_account(
    services: ServicesDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    body: RestrictRequest,
    response: Response,
) -> RestrictionPlaced:
    """Block the account's outgoing payments at once, under the customer's open AML case.

    201 when placed; 200 when the account was already restricted (nothing changes).
    """
    placed = await restriction_service.restrict_account(
        services.db, actor, case_id=case_id, account_id=body.account_id, reason=body.reason
    )
    if not placed.placed:
        response.status_code = status.HTTP_200_OK
    return placed


@api.get("/accounts/{account_id}/restrictions", response_model=AccountRestrictions)
async def read_account_restrictions(
    services: ServicesDep, actor: CurrentActor, account_id: uuid.UUID
) -> AccountRestrictions:
    """Whether outgoing payments from the account are blocked, and by which restrictions."""
    return await restriction_views.account_restrictions(services.db, actor, account_id)


@api.post(
    "/restrictions/{restriction_id}/lift",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ChangeCreated,
    dependencies=[LiftProposer],
    responses=WRITE_ERRORS,
)
async def propose_lift(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    restriction_id: uuid.UUID,
    body: LiftRequest,
) -> ChangeCreated:
    """Propose lifting a restriction: a change request an MLRO other than you must approve."""
    return await change_service.propose_restriction_lift(
        services.db, temporal, services.settings, actor, restriction_id, body.reason
    )


# ----------------------------------------------------------------------------- pages
@pages.post("/cases/{case_id}/restrict", name="restrict_account_page", dependencies=[Restricter])
async def restrict_account_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    account_id: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {"account_id": account_id, "reason": reason}
    try:
        try:
            account = uuid.UUID(account_id.strip())
        except ValueError:
            # Checked by the domain like any other account id (permission first, then case).
            account = uuid.UUID(int=0)
        placed = await restriction_service.restrict_account(
            services.db, actor, case_id=case_id, account_id=account, reason=reason
        )
    except (Invalid, Conflict) as exc:
        if htmx:
            raise  # a notice above the form, which keeps what was typed
        return await _form_page(request, services, exc, form=form, case_id=case_id)
    notice = (
        f"Outgoing payments from {placed.iban} are blocked from now on."
        if placed.placed
        else f"{placed.iban} was already restricted; nothing changed."
    )
    return await _done(request, services, htmx, case_id, notice, "restricted")


@pages.post(
    "/restrictions/{restriction_id}/lift", name="propose_lift_page", dependencies=[LiftProposer]
)
async def propose_lift_page(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    restriction_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        created = await change_service.propose_restriction_lift(
            services.db, temporal, services.settings, actor, restriction_id, reason
        )
    except (Invalid, Conflict) as exc:
        if htmx:
            raise
        return await _form_page(
            request, services, exc, form={"reason": reason}, restriction_id=restriction_id
        )
    if htmx and request.headers.get("hx-target") == PANEL_TARGET:
        async with services.db.session() as session:
            found = await restriction_service.restrictions_of(
                session, restriction_ids=[restriction_id]
            )
        if found and found[0].case_id:
            notice = (
                f"The lift was proposed as {created.reference}; an MLRO other than you must "
                "approve it. The account stays blocked until then."
            )
            return await _panel(request, services, found[0].case_id, notice)
    # The change's case: the diff the checker will see, and its approval step.
    url = str(request.url_for("read_case", case_id=created.case_id)) + "?notice=proposed"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)


async def _done(
    request: Request,
    services: Services,
    htmx: bool,
    case_id: uuid.UUID,
    notice: str,
    notice_key: str,
) -> Response:
    if htmx and request.headers.get("hx-target") == PANEL_TARGET:
        return await _panel(request, services, case_id, notice)
    url = str(request.url_for("read_case", case_id=case_id)) + f"?notice={notice_key}"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)


async def _panel(request: Request, services: Services, case_id: uuid.UUID, notice: str) -> Response:
    """The case's restrictions panel, re-rendered, with an out-of-band notice."""
    async with services.db.session() as session:
        view = await restriction_views.case_restrictions(session, case_id)
    return render(
        request,
        "partials/restriction_panel.html",
        {"restrictions_view": view, "notice": notice, "oob": True},
    )


async def _form_page(
    request: Request,
    services: Services,
    error: DomainError,
    *,
    form: dict[str, str],
    case_id: uuid.UUID | None = None,
    restriction_id: uuid.UUID | None = None,
) -> Response:
    """The refused form again, with what was typed and each problem named."""
    request.state.error_reason = f"{error.code}: {error.message}"[:500]
    context: dict[str, Any] = {
        "error": error.message,
        "errors": error.fields,
        "form": form,
        "status_code": error.status_code,
        "restriction": None,
        "restrictions_view": None,
    }
    async with services.db.session() as session:
        if restriction_id is not None:
            found = await restriction_service.restrictions_of(
                session, restriction_ids=[restriction_id]
            )
            context["restriction"] = found[0] if found else None
        elif case_id is not None:
            context["restrictions_view"] = await restriction_views.case_restrictions(
                session, case_id
            )
    return render(request, "restriction_form.html", context, status_code=error.status_code)
