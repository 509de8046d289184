"""Rules running in shadow: their alerts (recorded, never routed) and what they would have done."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from aml.queries import shadow_view
from web.deps import CurrentActor, PageParam, PerPageParam, ServicesDep
from web.responses import API_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1", tags=["aml"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)
PER_PAGE = 25


@api.get("/aml/shadow", response_model=shadow_view.ShadowPage)
async def list_shadow_alerts(
    services: ServicesDep,
    actor: CurrentActor,
    rule: Annotated[str | None, Query(max_length=120)] = None,
    page: PageParam = 1,
    per_page: PerPageParam = PER_PAGE,
) -> shadow_view.ShadowPage:
    """Alerts of rules running in shadow (stored, never routed to a case), newest first, and
    per rule what they would have done live: cases opened or joined, L1 hours."""
    return await shadow_view.shadow_alerts(
        services.db, actor, rule=rule or None, page=page, per_page=per_page
    )


@pages.get("/aml/shadow")
async def read_shadow_alerts(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    rule: Annotated[str | None, Query(max_length=120)] = None,
    page: PageParam = 1,
) -> Response:
    found = await shadow_view.shadow_alerts(
        services.db, actor, rule=rule or None, page=page, per_page=PER_PAGE
    )
    context = {
        "found": found,
        "pages": max(1, -(-found.total // PER_PAGE)),
        "rule": rule or "",
        "rest": urlencode({"rule": rule} if rule else {}),
    }
    return render(request, "aml_shadow.html", context)
