"""Opening a case by hand (investigation, complaint): the form page and its JSON twin.

`GET /manual-cases/new` shows the form: the case type (those the reader may open), the
customer (searched and chosen on the page, or passed as `customer=` from the customer 360
page), a title, a reason and a description. A plain post that is refused comes back as the
form holding what was typed, each problem beside its field; an accepted one goes to the new
case's page.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from casework import manual as manual_service
from casework.manual_rules import MANUAL_TYPES
from customers.directory import list_customers
from identity.actors import Actor
from models.onboarding import Customer
from shared.errors import Conflict, DomainError, Invalid
from web.deps import CurrentActor, OneOf, ServicesDep, TemporalDep, of_type, require_any
from web.responses import API_ERRORS, WRITE_ERRORS
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

Opener = Depends(
    require_any(
        *((f"case:{name}", "open") for name in MANUAL_TYPES),
        action="case.opened",
        about=of_type("case"),
    )
)
ManualType = Annotated[str, OneOf(MANUAL_TYPES)]


class ManualCaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_type: ManualType = Field(description="investigation (compliance) or complaint (support)")
    customer_id: uuid.UUID = Field(description="The customer the case is about")
    title: str = Field(max_length=400, description="5 to 200 characters")
    reason: str = Field(
        max_length=40,
        description="Why it is opened: "
        + "; ".join(f"{n}: {', '.join(t.reasons)}" for n, t in MANUAL_TYPES.items()),
    )
    description: str = Field(
        max_length=4000, description="20 to 2000 characters: what happened, what to look at"
    )


class ManualCaseOpenedPublic(BaseModel):
    case_id: uuid.UUID
    reference: str
    case_type: str
    workflow_id: str


@api.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ManualCaseOpenedPublic,
    dependencies=[Opener],
    responses=WRITE_ERRORS,
)
async def open_manual_case(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor, body: ManualCaseRequest
) -> ManualCaseOpenedPublic:
    """Open an investigation (compliance) or a complaint (support) on a customer by hand: it
    runs the standard steps (work, then on escalation a senior review by someone who neither
    opened nor worked it). The opener never works its steps."""
    opened = await manual_service.open_manual_case(
        services.db,
        temporal,
        services.settings.task_queue,
        actor,
        case_type=body.case_type,
        customer_id=body.customer_id,
        title=body.title,
        reason_code=body.reason,
        description=body.description,
    )
    return ManualCaseOpenedPublic(
        case_id=opened.case_id,
        reference=opened.reference,
        case_type=opened.case_type,
        workflow_id=opened.workflow_id,
    )


# ----------------------------------------------------------------------------- pages
@pages.get("/manual-cases/new", name="new_manual_case", dependencies=[Opener])
async def new_manual_case(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    case_type: Annotated[str | None, Query(alias="type", max_length=40)] = None,
    customer: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    form = {"case_type": case_type or "", "customer_id": customer or ""}
    return await _form(request, services, actor, form, q=(q or "").strip() or None)


@pages.post("/manual-cases/new", name="open_manual_case_page", dependencies=[Opener])
async def open_manual_case_page(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    case_type: Annotated[str, Form(max_length=40)] = "",
    customer_id: Annotated[str, Form(max_length=40)] = "",
    title: Annotated[str, Form(max_length=400)] = "",
    reason: Annotated[str, Form(max_length=40)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    form = {
        "case_type": case_type,
        "customer_id": customer_id,
        "title": title,
        "reason": reason,
        "description": description,
    }
    try:
        opened = await manual_service.open_manual_case(
            services.db,
            temporal,
            services.settings.task_queue,
            actor,
            case_type=case_type,
            customer_id=customer_id,
            title=title,
            reason_code=reason,
            description=description,
        )
    except (Invalid, Conflict) as exc:
        return await _form(request, services, actor, form, error=exc)
    url = str(request.url_for("read_case", case_id=opened.case_id)) + "?notice=manual-opened"
    return RedirectResponse(url, status_code=303)


async def _form(
    request: Request,
    services: Services,
    actor: Actor,
    form: dict[str, str],
    *,
    q: str | None = None,
    error: DomainError | None = None,
) -> Response:
    types = manual_service.openable_types(actor)
    if form.get("case_type") not in types and len(types) == 1:
        form["case_type"] = next(iter(types))
    chosen: Customer | None = None
    try:
        customer_ref = uuid.UUID(form.get("customer_id") or "")
    except ValueError:
        customer_ref = None
    if customer_ref is not None:
        async with services.db.session() as session:
            chosen = await session.get(Customer, customer_ref)
    found = await list_customers(services.db, actor, q=q, per_page=10) if q else None
    context: dict[str, Any] = {
        "types": types,
        "form": form,
        "chosen": chosen,
        "q": q or "",
        "found": found,
        "error": error.message if error else None,
        "errors": error.fields if error else {},
        "status_code": error.status_code if error else 200,
        "limits": manual_service,
    }
    if error is not None:
        request.state.error_reason = f"{error.code}: {error.message}"[:500]
    return render(
        request,
        "manual_case_new.html",
        context,
        status_code=error.status_code if error else 200,
    )
