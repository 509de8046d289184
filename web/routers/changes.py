"""Maker-checker changes (fees, limits, configuration): JSON API and the propose / withdraw /
list pages."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from aml.queries.backtest_view import BacktestPublic, backtest_of_change
from changes.commands import requests as change_service
from changes.queries import views as change_views
from changes.rules import EDITABLE_FIELDS
from configuration import documents as config_service
from identity.actors import Actor
from models.changes import ChangeCreate, ChangeCreated, ChangePublic, ChangeStatus
from shared.errors import DomainError, Invalid, NotFound
from web.deps import (
    CurrentActor,
    HtmxRequest,
    PageParam,
    PerPageParam,
    ServicesDep,
    TemporalDep,
    in_body,
    in_path,
    require,
    require_any,
)
from web.errors import error_response
from web.responses import API_ERRORS, WRITE_ERRORS
from web.routers.settings import config_page, config_page_by_id
from web.routers.tariffs import target_page
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1/changes", tags=["changes"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

# Which propose permission a change needs depends on its target (read from the body); the
# guard asks for at least one of them before the body is read, the domain for the exact one.
Proposer = Depends(
    require_any(
        ("change", "propose"),
        ("change", "propose_config"),
        action="change.propose",
        about=in_body("change", "target_id", type_field="target_type"),
    )
)
Withdrawer = Depends(
    require("change", "withdraw", action="change.withdraw", about=in_path("change", "change_id"))
)


class WithdrawRequest(BaseModel):
    reason: str = Field(min_length=5, max_length=500)


class ChangeList(BaseModel):
    items: list[ChangePublic]
    total: int
    page: int
    per_page: int


# ----------------------------------------------------------------------------- JSON API
@api.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ChangeCreated,
    dependencies=[Proposer],
    responses=WRITE_ERRORS,
)
async def propose_change(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor, body: ChangeCreate
) -> ChangeCreated:
    """Propose a change to a fee, limit or configuration document (`target_type="config"`,
    `target_id` from `GET /api/v1/config/{key}`); a different person must approve it."""
    return await change_service.propose_change(
        services.db, temporal, services.settings, actor, body
    )


@api.get("", response_model=ChangeList)
async def list_changes(
    services: ServicesDep,
    actor: CurrentActor,
    status_filter: Annotated[ChangeStatus | None, Query(alias="status")] = None,
    target_id: uuid.UUID | None = None,
    page: PageParam = 1,
    per_page: PerPageParam = 25,
) -> ChangeList:
    items, total = await change_views.list_changes(
        services.db, actor, status=status_filter, target_id=target_id, page=page, per_page=per_page
    )
    return ChangeList(items=items, total=total, page=page, per_page=per_page)


@api.get("/{change_id}", response_model=ChangePublic)
async def read_change(
    services: ServicesDep, actor: CurrentActor, change_id: uuid.UUID
) -> ChangePublic:
    change = await change_views.get_change(services.db, actor, change_id)
    if change is None:
        raise NotFound(f"No change with id {change_id} that you can see.")
    return change


@api.get("/{change_id}/backtest", response_model=BacktestPublic)
async def read_change_backtest(
    services: ServicesDep, actor: CurrentActor, change_id: uuid.UUID
) -> BacktestPublic:
    """An AML rule change's backtest: progress while it runs, then the comparison with the
    rules in force (alerts, accounts, false-positive and SAR overlap, extra L1 hours). The
    change cannot be approved before it has finished."""
    return await _backtest(services, actor, change_id)


async def _backtest(services: Services, actor: Actor, change_id: uuid.UUID) -> BacktestPublic:
    change = await change_views.get_change(services.db, actor, change_id)
    found = await backtest_of_change(services.db, change_id, actor) if change else None
    if found is None:
        raise NotFound(f"No backtest of a change with id {change_id} that you can see.")
    return found


@api.post(
    "/{change_id}/withdraw",
    response_model=ChangePublic,
    dependencies=[Withdrawer],
    responses=WRITE_ERRORS,
)
async def withdraw_change(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    change_id: uuid.UUID,
    body: WithdrawRequest,
) -> ChangePublic:
    """The maker withdraws a change that is still awaiting approval."""
    return await change_service.withdraw_change(
        services.db, temporal, actor, change_id, body.reason
    )


# ----------------------------------------------------------------------------- pages
FORM_CONTROLS = {"csrf_token", "target_type", "target_id", "reason", "effective_at"}


def _form_to_change(target_type: str, target_id: str, form: dict[str, Any]) -> ChangeCreate:
    """Build the same ChangeCreate the API takes; every problem is reported per field."""
    errors: dict[str, str] = {}
    effective_raw = str(form.get("effective_at") or "").strip()
    effective_at = None
    if effective_raw:
        try:
            effective_at = datetime.fromisoformat(effective_raw)
            if effective_at.tzinfo is None:
                effective_at = effective_at.replace(tzinfo=UTC)  # the form says: times in UTC
        except ValueError:
            errors["effective_at"] = "use the date picker (YYYY-MM-DDTHH:MM, UTC)"
    if target_type == "config":
        # A document's fields are its schema's: every other form field is a proposed value,
        # and plan_config_change names any that is not a field.
        fields: Iterable[str] = [f for f in form if f not in FORM_CONTROLS]
    else:
        fields = EDITABLE_FIELDS.get(target_type, ())
    changes: dict[str, Any] = {
        f: str(form.get(f, "")).strip() for f in fields if f in form and "." not in f
    }
    # A structured setting's items come as "<field>.<item name>.<attribute>" (the screening
    # lists: "lists.UN-SC.max_age_days"): one object per item, laid over the current ones.
    for key in fields:
        if key.count(".") >= 2:
            field, rest = key.split(".", 1)
            item, attribute = rest.rsplit(".", 1)
            items = changes.setdefault(field, [])
            if isinstance(items, list):
                found = next((i for i in items if i["name"] == item), None)
                if found is None:
                    found = {"name": item}
                    items.append(found)
                found[attribute] = str(form.get(key, "")).strip()
    try:
        data = ChangeCreate(
            target_type=target_type,  # type: ignore[arg-type]
            target_id=target_id,  # type: ignore[arg-type]
            changes=changes,
            reason=str(form.get("reason") or ""),
            effective_at=effective_at,
        )
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            errors.setdefault(key, err["msg"].removeprefix("Value error, "))
        raise Invalid("The proposal is not valid.", fields=errors) from exc
    if errors:
        raise Invalid("The proposal is not valid.", fields=errors)
    return data


async def _value_errors(
    services: Services, target_type: str, target_id: str, form: dict[str, Any]
) -> dict[str, str]:
    try:
        data = _form_to_change(
            target_type, target_id, {**form, "reason": "checking values only", "effective_at": ""}
        )
        await change_service.preview_change(services.db, services.settings, data)
    except DomainError as exc:
        return {k: v for k, v in exc.fields.items() if k.startswith("changes")}
    return {}


@pages.post("/tariffs/{target_type}/{target_id}/preview")
async def preview_change(
    request: Request,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("change", "propose"))],
    htmx: HtmxRequest,
    target_type: str,
    target_id: uuid.UUID,
) -> Response:
    if target_type not in EDITABLE_FIELDS:
        raise NotFound("There is nothing at this address.")
    form = dict(await request.form())
    context = await _preview(services, target_type, target_id, form)
    if htmx:
        return render(request, "partials/change_preview.html", context)
    return await target_page(
        request, services, actor, target_type, target_id, form=form, preview=context
    )


@pages.post("/settings/{key}/preview")
async def preview_config_change(
    request: Request,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("change", "propose_config"))],
    htmx: HtmxRequest,
    key: str,
) -> Response:
    async with services.db.session() as session:
        doc = await config_service.read_config(session, key)
    if doc is None or doc.id is None:
        raise NotFound(f"No configuration document {key!r}.")
    form = {k: v for k, v in (await request.form()).items() if k != "target_id"}
    context = await _preview(services, "config", doc.id, form)
    if htmx:
        return render(request, "partials/change_preview.html", context)
    return await config_page(request, services, actor, key, form=form, preview=context)


async def _preview(
    services: Services, target_type: str, target_id: uuid.UUID, form: dict[str, Any]
) -> dict[str, Any]:
    """The before/after diff of a proposal, or its problems; nothing is saved."""
    context: dict[str, Any] = {"form": form, "target_type": target_type}
    try:
        data = _form_to_change(
            target_type, str(target_id), {**form, "reason": "preview only, not saved"}
        )
        plan, label = await change_service.preview_change(services.db, services.settings, data)
        context.update(plan=plan, label=label)
    except DomainError as exc:
        context.update(preview_error=exc.message, errors=exc.fields)
    return context


@pages.post("/changes", dependencies=[Proposer])
async def propose_change_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    target_type: Annotated[str, Form(max_length=20)],
    target_id: Annotated[str, Form(max_length=40)],
) -> Response:
    form = dict(await request.form())
    try:
        data = _form_to_change(target_type, target_id, form)
        created = await change_service.propose_change(
            services.db, temporal, services.settings, actor, data
        )
    except Invalid as exc:
        # Nothing is lost: the page comes back with the maker's input and each problem named.
        request.state.error_reason = f"{exc.code}: {exc.message}"
        try:
            parsed_id = uuid.UUID(target_id)
        except ValueError:
            return error_response(
                request, status=422, code=exc.code, message=exc.message, fields=exc.fields
            )
        errors = dict(exc.fields)
        if not any(key.startswith("changes") for key in errors):
            # The reason or date was wrong, so the values were never checked: check them
            # now, so every problem is reported at once.
            errors.update(await _value_errors(services, target_type, target_id, form))
        again: dict[str, Any] = {
            "form": form,
            "errors": errors,
            "error": exc.message,
            "status_code": 422,
        }
        if target_type == "config":
            return await config_page_by_id(request, services, actor, parsed_id, **again)
        return await target_page(request, services, actor, target_type, parsed_id, **again)
    url = str(request.url_for("read_case", case_id=created.case_id)) + "?notice=proposed"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)


@pages.post("/changes/{change_id}/withdraw", dependencies=[Withdrawer])
async def withdraw_change_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    change_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    change = await change_service.withdraw_change(services.db, temporal, actor, change_id, reason)
    url = str(request.url_for("read_case", case_id=change.case_id)) + "?notice=withdrawn"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)


@pages.get("/changes/{change_id}/backtest")
async def read_change_backtest_partial(
    request: Request, services: ServicesDep, actor: CurrentActor, change_id: uuid.UUID
) -> Response:
    """The backtest section of a rule change's page, polled while the backtest runs; once it
    has finished the whole page is asked for again (its approval form now accepts)."""
    backtest = await _backtest(services, actor, change_id)
    headers = {"HX-Refresh": "true"} if backtest.finished else None
    return render(request, "partials/aml_backtest.html", {"backtest": backtest}, headers=headers)


@pages.get("/changes")
async def read_changes(
    request: Request,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("change", "read"))],
    htmx: HtmxRequest,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    mine: bool = False,
    page: PageParam = 1,
) -> Response:
    status_filter = status_filter or None
    items, total = await change_views.list_changes(
        services.db,
        actor,
        status=status_filter,
        maker_id=actor.user_id if mine else None,
        page=page,
        per_page=25,
    )
    context = {
        "items": items,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // 25)),
        "status_filter": status_filter or "",
        "mine": mine,
        "statuses": [s.value for s in ChangeStatus],
    }
    block = "change_list" if htmx and request.headers.get("hx-target") == "change-list" else None
    return render(request, "changes.html", context, block=block)
