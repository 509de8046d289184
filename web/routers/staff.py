"""Staff accounts (read-only here; grants become maker-checker changes in a later issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from identity import staff as staff_service
from identity.actors import Actor
from models.roles import ROLES
from web.deps import HtmxRequest, PageParam, ServicesDep, require
from web.templating import render

pages = APIRouter(include_in_schema=False)


@pages.get("/admin/staff")
async def read_staff(
    request: Request,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("staff", "read"))],
    htmx: HtmxRequest,
    role: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: PageParam = 1,
) -> Response:
    role = role if role in ROLES else None
    staff, total = await staff_service.list_staff(services.db, role=role, q=q or None, page=page)
    context = {
        "staff": staff,
        "roles": ROLES,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // 50)),
        "filters": {"role": role or "", "q": q or ""},
    }
    block = "staff_list" if htmx and request.headers.get("hx-target") == "staff-list" else None
    return render(request, "staff.html", context, block=block)
