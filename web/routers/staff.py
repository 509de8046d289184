"""Staff accounts (read-only here; grants become maker-checker changes in a later issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from domain import staff as staff_service
from domain.actors import Actor
from models.staff import ROLES
from web.deps import ServicesDep, require
from web.templating import render

pages = APIRouter(include_in_schema=False)


@pages.get("/admin/staff")
async def read_staff(
    request: Request,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("staff", "read"))],
) -> Response:
    staff = await staff_service.list_staff(services.db)
    return render(request, "staff.html", {"staff": staff, "roles": ROLES})
