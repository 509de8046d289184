"""Cross-cutting HTTP behaviour: request ids, security headers, one audit event per change."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from audit import trail as audit
from audit.trail import ActorRef
from core.db import run_sql
from web.deps import UNSAFE_METHODS, get_services, origin_of
from web.errors import error_response

log = logging.getLogger("backoffice.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def security_headers(response: Response, *, secure: bool, csp: str = CSP) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = csp
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")
    if secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    vary = headers.get("Vary")
    if not vary:
        headers["Vary"] = "HX-Request"
    elif "hx-request" not in vary.lower():
        headers["Vary"] = f"{vary}, HX-Request"


def _loggable(path: str) -> str:
    """The path as logged: a one-time set-password link's token never reaches the logs."""
    return "/set-password/…" if path.startswith("/set-password/") else path


async def _ensure_audited(request: Request, response: Response) -> None:
    """Every state-changing request leaves exactly one audit event.

    Domain functions write the event with the business detail; when a request ended
    before reaching one (bad input, CSRF refusal, unknown route...), this writes it.
    """
    services = get_services(request)
    request_id = request.state.request_id
    try:
        async with services.db.transaction() as session:
            seen: int = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM audit_event WHERE request_id = :rid",
                    {"rid": request_id},
                )
            ).scalar_one()
            if seen:
                return
            info = getattr(request.state, "auth", None)
            actor = info.actor.ref if info else ActorRef(None, "anonymous")
            route = request.scope.get("route")
            # An unknown address may hold anything, even a NUL PostgreSQL cannot store.
            path = getattr(route, "path", request.url.path).replace("\x00", "\\0")
            await audit.record(
                session,
                action=f"http.{request.method.lower()}",
                actor=actor,
                outcome=audit.outcome_for_status(response.status_code),
                object_type="route",
                object_id=path[:100],
                reason=(
                    getattr(request.state, "error_reason", None) or f"HTTP {response.status_code}"
                ).replace("\x00", "\\0"),
                origin=origin_of(request),
                details={
                    "status": response.status_code,
                    "path": request.url.path.replace("\x00", "\\0")[:300],
                },
            )
    except Exception:  # the database may be the reason the request failed
        log.warning("could not write the audit event for request %s", request_id, exc_info=True)


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = uuid.uuid4().hex
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            # Never a stack trace to the user; the log has it under the request id.
            log.exception("unhandled error", extra={"request_id": request.state.request_id})
            response = error_response(
                request,
                status=500,
                code="internal_error",
                message="Something went wrong on our side; the error was logged with request id "
                f"{request.state.request_id}.",
            )
        # A handler that committed its own audit event says so (request.state.audited) and
        # spares the request a look-up on the audit table (the screening check's hot path).
        if (
            request.method in UNSAFE_METHODS
            and not request.url.path.startswith("/static")
            and not getattr(request.state, "audited", False)
        ):
            await _ensure_audited(request, response)
        settings = get_services(request).settings
        # Only the Temporal UI proxy sets its own (web/routers/temporal_ui.py); ours elsewhere.
        csp = (
            getattr(request.state, "csp", None)
            if request.url.path.startswith("/temporal")
            else None
        )
        security_headers(response, secure=settings.secure_cookies, csp=csp or CSP)
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["X-Request-ID"] = request.state.request_id
        log.info(
            "%s %s -> %s in %.1f ms",
            request.method,
            _loggable(request.url.path),
            response.status_code,
            (time.perf_counter() - started) * 1000,
            extra={"request_id": request.state.request_id},
        )
        return response
