"""Enhanced due diligence of a politically exposed person: the analyst records the source of
funds (JSON API and the form on the onboarding case page); a different senior approves next."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import RedirectResponse, Response

from casework import cases as case_service
from models.onboarding import Application
from models.workflow_io import DecisionResult
from onboarding.commands.edd import ACTION, SourceOfFundsForm, record_source_of_funds
from shared.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from web.deps import (
    CurrentActor,
    HtmxRequest,
    ServicesDep,
    TemporalDep,
    in_path,
    require,
)
from web.responses import API_ERRORS, WRITE_ERRORS
from web.routers.cases import case_page_context
from web.templating import render

api = APIRouter(prefix="/api/v1/applications", tags=["applications"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

Worker = Depends(
    require("task", "work", action=ACTION, about=in_path("application", "application_id"))
)


@api.post(
    "/{application_id}/source-of-funds",
    response_model=DecisionResult,
    dependencies=[Worker],
    responses=WRITE_ERRORS,
)
async def record_source_of_funds_api(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    application_id: uuid.UUID,
    body: SourceOfFundsForm,
) -> DecisionResult:
    """Enhanced due diligence (a politically exposed person): record the source of funds on
    the EDD task you hold, which passes it on to a senior's approval.

    `source`: employment, public_office, business, investments, inheritance, property_sale,
    pension, other. `evidence`: some of payslips, tax_return, bank_statements,
    asset_declaration, sale_contract, company_accounts, probate, other. `note`: at least 20
    characters. 422 names each field that is wrong; 403 when you may not decide the task."""
    return await record_source_of_funds(services.db, temporal, actor, application_id, body)


@pages.post("/applications/{application_id}/source-of-funds", dependencies=[Worker])
async def record_source_of_funds_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    application_id: uuid.UUID,
    task_id: Annotated[str, Form(max_length=40)] = "",
    source: Annotated[str, Form(max_length=40)] = "",
    evidence: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    typed: dict[str, Any] = {
        "task_id": task_id,
        "source": source,
        "evidence": evidence or [],
        "note": note,
    }
    error: DomainError | None = None
    try:
        form = SourceOfFundsForm(
            task_id=uuid.UUID(task_id.strip()),
            source=source.strip(),
            evidence=[e.strip() for e in evidence or []][:8],
            note=note,
        )
    except ValueError:
        error = Invalid(
            "This form does not name a task; reload the case page.",
            fields={"task_id": "reload the case page"},
        )
    else:
        try:
            result = await record_source_of_funds(
                services.db, temporal, actor, application_id, form
            )
        except (Invalid, Conflict, Unavailable) as exc:
            error = exc
        else:
            case_id = await _case_of(services, application_id)
            url = (
                str(request.url_for("read_case", case_id=case_id))
                + f"?notice=decided-{result.outcome}"
            )
            if htmx:
                return Response(status_code=200, headers={"HX-Location": url})
            return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    assert error is not None
    request.state.error_reason = f"{error.code}: {error.message}"[:500]
    return await _refused(request, services, actor, htmx, application_id, typed, error)


async def _case_of(services: ServicesDep, application_id: uuid.UUID) -> uuid.UUID:
    async with services.db.session() as session:
        application = await session.get(Application, application_id)
    if application is None:
        raise NotFound(f"No application with id {application_id}.")
    return application.case_id


async def _refused(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: bool,
    application_id: uuid.UUID,
    typed: dict[str, Any],
    error: DomainError,
) -> Response:
    """The EDD form again with what was typed and why it was refused: alone for HTMX (it swaps
    itself), otherwise the whole case page."""
    view = await case_service.get_case(services.db, actor, await _case_of(services, application_id))
    if view is None:
        raise error
    item = next((i for i in view.tasks if str(i.task.id) == typed["task_id"].strip()), None)
    if item is None or not item.can_decide:
        raise error
    context = await case_page_context(services, actor, view)
    context.update(
        {
            "edd_form": typed,
            "edd_errors": error.fields,
            "edd_error": error.message,
            "edd_status": error.status_code,
        }
    )
    if htmx:
        context.update({"item": item, "t": item.task})
        return render(
            request, "partials/onboarding_edd.html", context, status_code=error.status_code
        )
    return render(request, "case.html", context, status_code=error.status_code)
