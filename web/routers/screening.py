"""Screening against the watch lists (sanctions and PEPs): the ad-hoc check of one name or a
batch (JSON API and page), the lists' current versions, and the listed entries addressed by
list and reference."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import pycountry
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from identity.actors import Actor
from models.screening import WatchlistEntryPublic
from screening.commands import service
from screening.commands.service import MAX_BATCH, ScreeningHit, ScreeningQuery, ScreeningResult
from screening.lists import LISTS
from screening.queries.watchlists import WatchListStatus, list_status
from shared.errors import DomainError, Invalid, NotFound
from web.deps import MAX_INT4, HtmxRequest, OneOf, ServicesDep, require
from web.responses import API_ERRORS, WRITE_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/screening", tags=["screening"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

Checker = Annotated[Actor, Depends(require("screening", "check"))]
Reader = Annotated[Actor, Depends(require("screening", "read"))]
EntryNumber = Annotated[int, Path(ge=1, le=MAX_INT4, description="The list's own id.")]
ListName = Annotated[str, OneOf(LISTS), Path(description="The list: " + ", ".join(LISTS) + ".")]
Reference = Annotated[
    str,
    Path(min_length=1, max_length=80, description="The list's own reference, e.g. QDi.001."),
]
VersionParam = Annotated[
    str | None,
    Query(
        max_length=60,
        description="A version of the list, e.g. 'UN-SC 2026-02-27' (default: the current one).",
    ),
]


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


class BatchRequest(BaseModel):
    """Many names to screen at once; each is checked as `POST /check` checks one."""

    model_config = ConfigDict(extra="forbid")

    names: list[CheckRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItem(BaseModel):
    index: int  # the query's place in `names`, from 0
    name: str
    hits: list[ScreeningHit]  # best first


class BatchResult(BaseModel):
    list_version: str  # every version screened: "OFAC-SDN 2024-05-03, UN-SC 2026-02-27"
    list_versions: list[str]
    results: list[BatchItem]  # in the order of `names`


# ----------------------------------------------------------------------------- JSON API
# 409: no watch list has been imported yet.
@api.post("/check", response_model=ScreeningResult, responses=WRITE_ERRORS)
async def check_name(
    request: Request, services: ServicesDep, actor: Checker, body: CheckRequest
) -> Response:
    """Screen one name against the current version of every list screened (sanctions and
    PEPs); hits best first, each naming its list, version, reference and programmes."""
    result = await service.check(services.db, actor, body.query())
    request.state.audited = True  # service.check committed the request's audit event
    # Serialised once here: returned as a model, FastAPI would validate it again against the
    # response model first (the hot path of upstream callers; the schema stays documented).
    return Response(result.model_dump_json(), media_type="application/json")


@api.post("/check-batch", response_model=BatchResult, responses=WRITE_ERRORS)
async def check_names(
    request: Request, services: ServicesDep, actor: Checker, body: BatchRequest
) -> BatchResult:
    """Screen up to 500 names in one call, each as `/check` screens one; one audit
    event records every query with its hits. A bad item is refused with its index
    (`names.3.name`) and nothing is screened."""
    queries = [item.query() for item in body.names]
    results = await service.check_batch(services.db, actor, queries)
    request.state.audited = True
    return BatchResult(
        list_version=results[0].list_version,
        list_versions=results[0].list_versions,
        results=[
            BatchItem(index=i, name=q.name, hits=r.hits)
            for i, (q, r) in enumerate(zip(queries, results, strict=True))
        ],
    )


@api.get("/lists", response_model=list[WatchListStatus])
async def read_lists(services: ServicesDep, actor: Reader) -> list[WatchListStatus]:
    """Every list the product knows: whether it is screened, its current version, entry
    count and age against the maximum age the configuration allows."""
    return await list_status(services.db)


@api.get("/lists/{list_name}/entries/{reference}", response_model=WatchlistEntryPublic)
async def read_list_entry(
    services: ServicesDep,
    actor: Reader,
    list_name: ListName,
    reference: Reference,
    version: VersionParam = None,
) -> WatchlistEntryPublic:
    """One listed entry by its list and the list's own reference, with every name (original
    scripts and alias quality included), in the current version or the one named."""
    return await _entry_or_404(services, list_name, reference, version)


@api.get("/entries/{ent_num}", response_model=WatchlistEntryPublic)
async def read_entry(
    services: ServicesDep, actor: Reader, ent_num: EntryNumber
) -> WatchlistEntryPublic:
    """One entry of the current OFAC SDN list by its entity number (kept for callers from
    before several lists; `/lists/{list}/entries/{reference}` addresses any list)."""
    entry = await service.get_entry(services.db, ent_num)
    if entry is None:
        raise NotFound(f"No entry {ent_num} on the current OFAC SDN list.")
    return entry


async def _entry_or_404(
    services: ServicesDep, list_name: str, reference: str, version: str | None
) -> WatchlistEntryPublic:
    entry = await service.get_entry_by_reference(services.db, list_name, reference, version)
    if entry is None:
        where = version or f"the current {LISTS[list_name].label}"
        raise NotFound(f"No entry {reference!r} on {where}.")
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


def _page_context(lists: list[WatchListStatus], **context: Any) -> dict[str, Any]:
    screened = [w for w in lists if w.screened]
    return {
        "lists": lists,
        "list_version": ", ".join(w.version or "" for w in screened) or None,
        "list_labels": {w.name: w.label for w in lists},
        "form": {},
        "errors": {},
        **context,
    }


@pages.get("/screening")
async def read_screening(request: Request, services: ServicesDep, actor: Checker) -> Response:
    lists = await list_status(services.db)
    return render(request, "screening.html", _page_context(lists))


@pages.post("/screening")
async def check_name_form(
    request: Request, services: ServicesDep, actor: Checker, htmx: HtmxRequest
) -> Response:
    form = dict(await request.form())
    context: dict[str, Any] = {"form": form}
    status_code = 200
    try:
        result = await service.check(services.db, actor, _form_query(form).query())
        request.state.audited = True
        context.update(result=result)
    except DomainError as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"
        status_code = exc.status_code
        context.update(error=exc.message, errors=exc.fields)
    lists = await list_status(services.db)
    # The results block answers the HTMX form; a plain post gets the whole page back
    # (a check changes nothing but the audit log, so there is nothing to redirect to).
    return render(
        request,
        "screening.html",
        _page_context(lists, **context),
        block="results" if htmx else None,
        status_code=status_code,
    )


@pages.get("/screening/lists/{list_name}/entries/{reference}")
async def read_screening_list_entry(
    request: Request,
    services: ServicesDep,
    actor: Reader,
    list_name: ListName,
    reference: Reference,
    version: VersionParam = None,
) -> Response:
    entry = await _entry_or_404(services, list_name, reference, version)
    return render(
        request,
        "screening_entry.html",
        {"entry": entry, "list_label": LISTS[list_name].label},
    )


@pages.get("/screening/entries/{ent_num}")
async def read_screening_entry(
    request: Request, services: ServicesDep, actor: Reader, ent_num: EntryNumber
) -> Response:
    """The OFAC SDN entry by its entity number: the address hits had before several lists."""
    entry = await service.get_entry(services.db, ent_num)
    if entry is None:
        raise NotFound(f"No entry {ent_num} on the current OFAC SDN list.")
    return render(
        request, "screening_entry.html", {"entry": entry, "list_label": LISTS["OFAC-SDN"].label}
    )
