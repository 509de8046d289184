"""Configuration documents: JSON API and pages (current values, version history, pending
changes, and the propose form; proposing itself goes through web.routers.changes)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from configuration import documents as config_service
from identity.access import can
from identity.access import require as domain_require
from identity.actors import Actor
from models.config import ConfigPublic
from shared.errors import NotFound
from web.deps import ServicesDep, require
from web.responses import API_ERRORS
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1/config", tags=["config"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

ConfigReader = Annotated[Actor, Depends(require("config", "read"))]


@api.get("", response_model=list[ConfigPublic])
async def list_configs(services: ServicesDep, actor: ConfigReader) -> list[ConfigPublic]:
    """Every configuration document with its current version, values and pending changes."""
    async with services.db.session() as session:
        return await config_service.list_configs(session)


@api.get("/{key}", response_model=ConfigPublic)
async def read_config(services: ServicesDep, actor: ConfigReader, key: str) -> ConfigPublic:
    """One document's current version and values; its `id` is the change target id."""
    async with services.db.session() as session:
        doc = await config_service.read_config(session, key)
    if doc is None:
        raise NotFound(f"No configuration document {key!r}.")
    return doc


@pages.get("/settings")
async def read_settings(request: Request, services: ServicesDep, actor: ConfigReader) -> Response:
    async with services.db.session() as session:
        docs = await config_service.list_configs(session)
    return render(request, "settings.html", {"docs": docs})


async def config_page(
    request: Request,
    services: Services,
    actor: Actor,
    key: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    preview: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """One document's page; also re-rendered with the maker's input when a proposal fails."""
    async with services.db.session() as session:
        doc = await config_service.read_config(session, key)
        if doc is None or doc.id is None:
            raise NotFound(f"No configuration document {key!r}.")
        versions = await config_service.config_history(session, doc.id)
    context = {
        "doc": doc,
        "versions": versions,
        "form": form or {**doc.values, "reason": "", "effective_at": ""},
        "errors": errors or {},
        "error": error,
        "preview": preview,
        "can_propose": can(actor, "change", "propose_config"),
    }
    return render(request, "settings_document.html", context, status_code=status_code)


async def config_page_by_id(
    request: Request, services: Services, actor: Actor, setting_id: uuid.UUID, **kwargs: Any
) -> Response:
    """The page a refused proposal comes back to (its form names the target by id)."""
    await domain_require(services.db, actor, "config", "read", action="config.read")
    async with services.db.session() as session:
        key = await config_service.key_of(session, setting_id)
    if key is None:
        raise NotFound(f"No configuration document with id {setting_id}.")
    return await config_page(request, services, actor, key, **kwargs)


@pages.get("/settings/{key}")
async def read_setting(
    request: Request, services: ServicesDep, actor: ConfigReader, key: str
) -> Response:
    return await config_page(request, services, actor, key)
