"""The status page for engineers and admins: every component's state, sentence and details.

`GET /status` is the page (an HTMX request for `#status-components` gets that block only,
which the page itself asks for every 15 s); `GET /api/v1/status` is the same as JSON.
Reads are not audited (as for the other operational views); a refusal is, by the guard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from core import status
from identity.actors import Actor
from web.deps import HtmxRequest, ServicesDep, require
from web.responses import API_ERRORS
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1/status", tags=["status"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

StatusReader = Annotated[Actor, Depends(require("status", "read"))]
REFRESH_SECONDS = 15


class StatusReport(BaseModel):
    state: status.State
    checked_at: datetime
    components: list[status.Component]


async def status_report(services: Services) -> StatusReport:
    components = await status.collect(services.settings, services.db, services.temporal)
    return StatusReport(
        state=status.worst([c.state for c in components]),
        checked_at=datetime.now(UTC),
        components=components,
    )


@api.get("", response_model=StatusReport)
async def read_status_api(services: ServicesDep, actor: StatusReader) -> StatusReport:
    """PostgreSQL, Temporal, worker pollers per task queue, schedules, the last audit
    checkpoint and the customer outbox: each `ok`, `degraded` or `down`, with a sentence."""
    return await status_report(services)


@pages.get("/status")
async def read_status(
    request: Request, services: ServicesDep, actor: StatusReader, htmx: HtmxRequest
) -> Response:
    context = {"report": await status_report(services), "refresh_seconds": REFRESH_SECONDS}
    if htmx and request.headers.get("hx-target") == "status-components":
        return render(request, "status.html", context, block="components")
    return render(request, "status.html", context)
