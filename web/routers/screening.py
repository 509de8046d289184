"""Sanctions screening: the ad-hoc check (JSON API and page) and the listed entries."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import pycountry
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from identity.actors import Actor
from models.screening import WatchlistEntryPublic
from screening.commands import service
from screening.commands.service import ScreeningQuery, ScreeningResult
from shared.errors import DomainError, Invalid, NotFound
from web.deps import MAX_INT4, HtmxRequest, ServicesDep, require
from web.responses import API_ERRORS, WRITE_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/screening", tags=["screening"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

Checker = Annotated[Actor, Depends(require("screening", "check"))]
Reader = Annotated[Actor, Depends(require("screening", "read"))]
EntryNumber = Annotated[int, Path(ge=1, le=MAX_INT4, description="The list's own id.")]


class CheckRequest(BaseModel):
    """One name to screen; the optional facts raise or lower the score."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=300)
    kind: Literal["person", "entity"] | None = None
    date_of_birth: date | None = None
    nationality: str | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. IR")

    @field_validator("name")
    @classmethod
    def _has_letters(cls, value: str) -> str:
        value = " ".join(value.split())
        if not any(c.isalnum() for c in value):
            raise ValueError("give a name with letters in it")
        return value

    @field_validator("nationality")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        code = value.strip().upper()
        if code != "XK" and (len(code) != 2 or pycountry.countries.get(alpha_2=code) is None):
            raise ValueError("use an ISO 3166-1 alpha-2 country code, e.g. IR")
        return code

    @field_validator("date_of_birth")
    @classmethod
    def _past(cls, value: date | None) -> date | None:
        if value is not None and (value > date.today() or value.year < 1850):
            raise ValueError("give a date of birth in the past")
        return value

    def query(self) -> ScreeningQuery:
        return ScreeningQuery(self.name, self.kind, self.date_of_birth, self.nationality)


# ----------------------------------------------------------------------------- JSON API
# 409: no watch list has been imported yet.
@api.post("/check", response_model=ScreeningResult, responses=WRITE_ERRORS)
async def check_name(
    request: Request, services: ServicesDep, actor: Checker, body: CheckRequest
) -> ScreeningResult:
    """Screen one name against the current version of every list screened (sanctions and
    PEPs); hits best first, each naming its list, version, reference and programmes."""
    result = await service.check(services.db, actor, body.query())
    request.state.audited = True  # service.check committed the request's audit event
    return result


@api.get("/entries/{ent_num}", response_model=WatchlistEntryPublic)
async def read_entry(
    services: ServicesDep, actor: Reader, ent_num: EntryNumber
) -> WatchlistEntryPublic:
    """One listed entry of the current list (by the list's own id) with all its names."""
    entry = await service.get_entry(services.db, ent_num)
    if entry is None:
        raise NotFound(f"No entry {ent_num} on the current watch list.")
    return entry


# ----------------------------------------------------------------------------- pages
def _form_query(form: dict[str, Any]) -> CheckRequest:
    data = {k: str(form.get(k) or "").strip() or None for k in CheckRequest.model_fields}
    try:
        return CheckRequest.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "form"
            fields.setdefault(key, err["msg"].removeprefix("Value error, "))
        raise Invalid("The check is not valid.", fields=fields) from exc


@pages.get("/screening")
async def read_screening(request: Request, services: ServicesDep, actor: Checker) -> Response:
    version = await service.current_list_version(services.db)
    return render(request, "screening.html", {"form": {}, "list_version": version, "errors": {}})


@pages.post("/screening")
async def check_name_form(
    request: Request, services: ServicesDep, actor: Checker, htmx: HtmxRequest
) -> Response:
    form = dict(await request.form())
    context: dict[str, Any] = {"form": form, "errors": {}}
    status_code = 200
    try:
        result = await service.check(services.db, actor, _form_query(form).query())
        context.update(result=result, list_version=result.list_version)
    except DomainError as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"
        status_code = exc.status_code
        context.update(error=exc.message, errors=exc.fields)
        context["list_version"] = await service.current_list_version(services.db)
    # The results block answers the HTMX form; a plain post gets the whole page back
    # (a check changes nothing but the audit log, so there is nothing to redirect to).
    return render(
        request,
        "screening.html",
        context,
        block="results" if htmx else None,
        status_code=status_code,
    )


@pages.get("/screening/entries/{ent_num}")
async def read_screening_entry(
    request: Request, services: ServicesDep, actor: Reader, ent_num: EntryNumber
) -> Response:
    entry = await service.get_entry(services.db, ent_num)
    if entry is None:
        raise NotFound(f"No entry {ent_num} on the current watch list.")
    return render(request, "screening_entry.html", {"entry": entry})
