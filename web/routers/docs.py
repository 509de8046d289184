"""/docs: Swagger UI served from our own static files (the CDN default breaks offline and the CSP)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

from web.templating import render

pages = APIRouter(include_in_schema=False)


@pages.get("/docs")
async def read_api_docs(request: Request) -> Response:
    return render(request, "api_docs.html", {"openapi_url": request.app.openapi_url})


def bearer_openapi(app: FastAPI) -> dict[str, Any]:
    """The schema with the bearer scheme declared, so the docs' Authorize button works."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /api/v1/auth/token",
        }
    }
    for path, operations in schema.get("paths", {}).items():
        if path == "/api/v1/auth/token" or not path.startswith("/api/"):
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema
