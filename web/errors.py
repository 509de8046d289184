"""Refusals and failures as readable pages, readable fragments and JSON bodies."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.db import is_outage
from shared.errors import DomainError, TooManyAttempts
from web.deps import UNSAFE_METHODS, check_route_permission, is_api, is_htmx
from web.templating import render

log = logging.getLogger("backoffice.web")

BODY_UNREADABLE = "There was an error parsing the body"  # FastAPI's HTTPException detail
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
DB_DOWN = "The database is unavailable right now; nothing was changed. Try again in a moment."


def _fields_from_validation(exc: RequestValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        key = ".".join(loc) or "request"
        if err.get("type") == "json_invalid":
            key = "body"  # its location is a character offset, which names nothing
        fields.setdefault(key, err.get("msg", "invalid"))
    return fields


def error_response(
    request: Request,
    *,
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    request.state.error_reason = f"{code}: {message}"[:500]
    if is_api(request):
        body: dict[str, Any] = {"error": code, "message": message}
        if fields:
            body["fields"] = fields
        return JSONResponse(body, status_code=status, headers=headers)
    if code == "enrol_second_factor" and request.method == "GET" and not is_htmx(request):
        return RedirectResponse("/mfa/enrol", status_code=303)
    if status == 401 and request.method == "GET":
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    context = {"status": status, "code": code, "message": message, "fields": fields or {}}
    if is_htmx(request):
        hx = {"HX-Retarget": "#notices", "HX-Reswap": "innerHTML", **(headers or {})}
        return render(request, "partials/notice.html", context, status_code=status, headers=hx)
    return render(request, "error.html", context, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        headers = {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(
            request,
            status=exc.status_code,
            code=exc.code,
            message=exc.message,
            fields=exc.fields,
            headers=headers,
        )

    async def permission_first(request: Request) -> Response | None:
        """A body that is not even JSON is refused before the route's permission guard runs:
        who is asking, and whether they may, is still answered first."""
        if request.method not in UNSAFE_METHODS:
            return None
        try:
            await check_route_permission(request)
        except DomainError as refused:
            return await domain_error(request, refused)
        return None

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if (refused := await permission_first(request)) is not None:
            return refused
        fields = _fields_from_validation(exc)
        return error_response(
            request,
            status=422,
            code="invalid",
            message="Some fields are not valid: "
            + "; ".join(f"{k}: {v}" for k, v in fields.items()),
            fields=fields,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        form_body = request.headers.get("content-type", "").startswith(FORM_TYPES)
        if exc.status_code == 400 and (exc.detail == BODY_UNREADABLE or form_body):
            # (A form Starlette cannot parse, e.g. broken multipart, is a 400 with its reason.)
            # FastAPI's answer to a body it cannot even decode (not UTF-8, a broken form):
            # bad input like any other, so a 422 naming the body (after the permission).
            if (refused := await permission_first(request)) is not None:
                return refused
            return error_response(
                request,
                status=422,
                code="invalid",
                message="The request body could not be read: send UTF-8 JSON (or the form).",
                fields={"body": "not readable"},
            )
        messages = {
            404: "There is nothing at this address.",
            405: "That method is not allowed here.",
        }
        return error_response(
            request,
            status=exc.status_code,
            code="not_found" if exc.status_code == 404 else "http_error",
            message=messages.get(exc.status_code, str(exc.detail)),
        )

    async def database_down(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", exc)
        return error_response(
            request,
            status=503,
            code="database_unavailable",
            message=DB_DOWN,
            headers={"Retry-After": "5"},
        )

    async def database_error(request: Request, exc: Exception) -> Response:
        if is_outage(exc):  # the same test the activities use to retry
            return await database_down(request, exc)
        log.exception("database error", exc_info=exc)
        return error_response(
            request,
            status=500,
            code="internal_error",
            message="Something went wrong on our side; nothing was changed.",
        )

    for exc_type in (DBAPIError, PoolTimeout, psycopg.OperationalError):
        app.add_exception_handler(exc_type, database_error)
