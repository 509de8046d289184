"""Liveness and readiness for orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from core import status
from web.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"description": "The database and Temporal answer (components: each one's state)."},
        503: {"description": "The database or Temporal does not answer (named in the body)."},
    },
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """The database and Temporal answer; `components` names each component of the status
    page with its state only (`ok`, `degraded` or `unavailable`): no details, unauthenticated.
    Only the database and Temporal decide 200 or 503: a web process serves without a worker.
    """
    components = await status.collect(services.settings, services.db, services.temporal)
    by_kind: dict[str, list[str]] = {kind: [] for kind in status.KINDS}
    for component in components:
        by_kind.setdefault(component.kind, []).append(component.state)
    states = {kind: _public(status.worst(found)) for kind, found in by_kind.items() if found}
    # As before: reachable or not (a slow database is `degraded` in components only).
    checks = {
        "database": "unavailable" if states["postgresql"] == "unavailable" else "ok",
        "temporal": "unavailable" if states["temporal"] == "unavailable" else "ok",
    }
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", **checks, "components": states},
        status_code=200 if ok else 503,
    )


def _public(state: status.State) -> str:
    return "unavailable" if state == "down" else state
