"""Tariff plans, fees and limits: JSON API and pages (with version history and pending changes)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from configuration import tariffs as tariff_service
from identity.access import can
from identity.actors import Actor
from models.tariffs import TargetVersionPublic, TariffPlanPublic
from shared.errors import NotFound
from web.deps import ServicesDep, require
from web.responses import API_ERRORS
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1", tags=["tariffs"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

TariffReader = Annotated[Actor, Depends(require("tariff", "read"))]


@api.get("/tariffs", response_model=list[TariffPlanPublic])
async def list_tariffs(services: ServicesDep, actor: TariffReader) -> list[TariffPlanPublic]:
    """Every tariff plan with its current fees and limits (ids, versions, pending changes)."""
    async with services.db.session() as session:
        return await tariff_service.list_plans(session)


@api.get("/{target_type}s/{target_id}/versions", response_model=list[TargetVersionPublic])
async def list_target_versions(
    services: ServicesDep,
    actor: TariffReader,
    target_type: Literal["fee", "limit"],
    target_id: uuid.UUID,
) -> list[TargetVersionPublic]:
    """Every version of a fee or limit, newest first, with the change that produced it."""
    async with services.db.session() as session:
        versions = await tariff_service.history(session, target_type, target_id)
    if not versions:
        raise NotFound(f"No {target_type} with id {target_id}.")
    return versions


@pages.get("/tariffs")
async def read_tariffs(request: Request, services: ServicesDep, actor: TariffReader) -> Response:
    async with services.db.session() as session:
        plans = await tariff_service.list_plans(session)
    return render(request, "tariffs.html", {"plans": plans})


async def target_page(
    request: Request,
    services: Services,
    actor: Actor,
    target_type: str,
    target_id: uuid.UUID,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    preview: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    if target_type not in ("fee", "limit"):
        raise NotFound("There is nothing at this address.")
    async with services.db.session() as session:
        loaded = await tariff_service.load_target(session, target_type, target_id)
        if loaded is None:
            raise NotFound(f"No {target_type} with id {target_id}.")
        target, version, plan = loaded
        versions = await tariff_service.history(session, target_type, target_id)
        pending = (await tariff_service.pending_changes(session, [target_id])).get(target_id, [])
    current = tariff_service.current_values(target_type, version, target.currency)
    context = {
        "target_type": target_type,
        "target": target,
        "plan": plan,
        "label": tariff_service.target_label(target, plan),
        "current": current,
        "versions": versions,
        "pending": pending,
        "form": form or {**current, "reason": "", "effective_at": ""},
        "errors": errors or {},
        "error": error,
        "preview": preview,
        "can_propose": can(actor, "change", "propose"),
    }
    return render(request, "tariff_target.html", context, status_code=status_code)


@pages.get("/tariffs/{target_type}/{target_id}")
async def read_tariff_target(
    request: Request,
    services: ServicesDep,
    actor: TariffReader,
    target_type: str,
    target_id: uuid.UUID,
) -> Response:
    return await target_page(request, services, actor, target_type, target_id)
