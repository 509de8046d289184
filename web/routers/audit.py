"""The audit log: viewer page, chain verification (page and API), events API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from audit import reading as audit_log
from audit import trail as audit
from identity.actors import Actor
from web.deps import HtmxRequest, OneOf, PageParam, ServicesDep, require
from web.responses import API_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

AuditReader = Annotated[Actor, Depends(require("audit", "read"))]
AuditVerifier = Annotated[Actor, Depends(require("audit", "verify"))]


class VerifyResponse(BaseModel):
    ok: bool
    checked: int
    first_bad: int | None
    reason: str | None = None


class AuditEventPublic(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    action: str
    outcome: str
    object_type: str | None
    object_id: str | None
    reason: str | None
    origin_ip: str | None
    request_id: str | None
    workflow_id: str | None
    details: dict[str, Any]
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventPublic]
    total: int
    page: int
    per_page: int


async def _verify(services: Any) -> audit.VerifyResult:
    async with services.db.session() as session:
        return await audit.verify(session, checkpoint_file=services.settings.audit_checkpoint_path)


@api.get("/verify", response_model=VerifyResponse)
async def verify_audit_chain(services: ServicesDep, actor: AuditVerifier) -> VerifyResponse:
    """Recompute the hash chain; `first_bad` names the first event that does not fit."""
    result = await _verify(services)
    return VerifyResponse(
        ok=result.ok, checked=result.checked, first_bad=result.first_bad, reason=result.reason
    )


@api.get("/events", response_model=AuditPage)
async def list_audit_events(
    services: ServicesDep,
    actor: AuditReader,
    actor_name: Annotated[str | None, Query(alias="actor", max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    outcome: Annotated[str, OneOf((audit.SUCCESS, audit.DENIED, audit.FAILURE))] | None = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    page: PageParam = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    rows, total = await audit_log.search(
        services.db,
        actor=actor_name,
        action=action,
        outcome=outcome,
        object_id=object_id,
        page=page,
        per_page=per_page,
    )
    return AuditPage(
        items=[AuditEventPublic.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        page=page,
        per_page=per_page,
    )


@pages.get("/audit")
async def read_audit_log(
    request: Request,
    services: ServicesDep,
    actor: AuditReader,
    htmx: HtmxRequest,
    actor_name: Annotated[str | None, Query(alias="actor", max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    outcome: str | None = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    page: PageParam = 1,
) -> Response:
    filters = {
        "actor": actor_name or "",
        "action": action or "",
        "outcome": outcome or "",
        "object_id": object_id or "",
    }
    rows, total = await audit_log.search(
        services.db,
        actor=actor_name or None,
        action=action or None,
        outcome=outcome or None,
        object_id=object_id or None,
        page=page,
        per_page=50,
    )
    context = {
        "events": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // 50)),
        "filters": filters,
        "chain": None,
    }
    if htmx and request.headers.get("hx-target") == "audit-list":
        return render(request, "audit.html", context, block="audit_list")
    if not htmx:
        context["chain"] = await _verify(services)
    return render(request, "audit.html", context)


@pages.get("/audit/chain")
async def read_chain_status(
    request: Request, services: ServicesDep, actor: AuditVerifier
) -> Response:
    return render(request, "partials/chain_status.html", {"chain": await _verify(services)})
