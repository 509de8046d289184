"""The Temporal UI for people, served by the web app at /temporal/ (a read-only reverse proxy).

The dev server's UI listens on loopback only (`--ui-ip 127.0.0.1 --ui-public-path /temporal`,
see core/embedded.py); in production the UI container is reachable only from the web app.
What reaches it through here:

- only signed-in staff whose roles allow `temporal_ui` / `read` (engineer, auditor); no
  session is sent to sign-in, other roles get 403 (audited as denied);
- only reads: GET and HEAD of paths that are not a write action. Any other method, and any
  path naming a write action (terminate, cancel, reset, signal, update, start, batch
  operations, schedule changes, queries), is refused with 403 and an audit event naming the
  method, the path and the action, whatever the role;
- none of our credentials: our session cookie, CSRF token and bearer tokens stay here; the
  UI's own `_csrf` cookie and header pass, scoped to /temporal.

These are plain Starlette routes, outside FastAPI's app-wide CSRF dependency on purpose: a
write is refused here anyway, and must be audited as the write it was (named), not only as
a CSRF failure. The payloads the UI shows are decoded by our codec endpoint (/codec), which
the UI calls from the browser, same origin, with the session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from audit import trail as audit
from audit.trail import ActorRef
from identity.access import require as domain_require
from identity.actors import Actor
from policies.enforcer import allowed
from shared.errors import Forbidden
from web.deps import get_services, origin_of, resolve_actor
from web.errors import error_response
from web.temporal_links import PREFIX

UI_COOKIE = "_csrf"  # the UI server's own CSRF cookie (checked by it on its API's writes)
READ_METHODS = frozenset({"GET", "HEAD"})
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# Path segments that name a write action of Temporal's HTTP API (and the UI pages for them).
# A path holding one is refused whatever the method.
WRITE_SEGMENTS = frozenset(
    {
        "terminate",
        "cancel",
        "reset",
        "signal",
        "signal-with-start",
        "update",
        "update-options",
        "pause",
        "unpause",
        "query",
        "start-workflow",
        "execute-multi-operation",
        "patch",
        "trigger",
        "stop",
        "delete",
        "reset-sticky-task-queue",
    }
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Never forwarded to the UI: our credentials, and addressing the client controls.
REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "cookie",
    "authorization",
    "x-csrf-token",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "content-length",
}
# Not passed back: what our middleware decides (security headers) or we recompute.
RESPONSE_DROP = HOP_BY_HOP | {
    "content-security-policy",
    "x-frame-options",
    "x-xss-protection",
    "x-content-type-options",
    "strict-transport-security",
    "server",
    "date",
    "set-cookie",
}

# The UI is a SvelteKit single-page app: its boot script is inline (allowed by its hash,
# computed from each page served, as the UI's own <meta> CSP does when it is served at /;
# under a public path it sends none), Svelte sets inline styles, fonts and icons may be
# data: URLs. Everything it fetches (its API, our codec endpoint) is same-origin.
UI_CSP = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL
)
_WORKFLOW_ID = re.compile(r"/workflows/([^/?]+)")
SETTINGS_PATH = f"{PREFIX}/api/v1/settings"
IMMUTABLE = f"{PREFIX}/_app/immutable/"
FAVICON = f'<link rel="icon" href="{PREFIX}/favicon.ico">'.encode()
# Told to the UI so it offers no button this proxy would refuse anyway.
READ_ONLY_SETTINGS = {
    "DisableWriteActions": True,
    "WorkflowTerminateDisabled": True,
    "WorkflowCancelDisabled": True,
    "WorkflowSignalDisabled": True,
    "WorkflowUpdateDisabled": True,
    "WorkflowResetDisabled": True,
    "WorkflowPauseDisabled": True,
    "BatchActionsDisabled": True,
    "StartWorkflowDisabled": True,
    "ActivityCommandsDisabled": True,
}


def ui_csp(html: bytes | None = None) -> str:
    """The CSP for a /temporal/ response: a page's inline scripts are allowed by hash."""
    hashes = ""
    if html:
        digests = {
            base64.b64encode(hashlib.sha256(body).digest()).decode()
            for body in _INLINE_SCRIPT.findall(html)
        }
        hashes = "".join(f" 'sha256-{d}'" for d in sorted(digests))
    return UI_CSP.format(hashes=hashes)


def write_action(method: str, path: str) -> str | None:
    """The write action a request to the UI would be (e.g. "terminate"), or None for a read."""
    segments = [unquote(s).lower() for s in path.split("/") if s]
    named = next((s for s in segments if s in WRITE_SEGMENTS), None)
    if named:
        return named
    if method.upper() in READ_METHODS:
        return None
    if method.upper() == "DELETE":
        return "delete"
    if "batch-operations" in segments:
        return "batch-operation"
    if "schedules" in segments:
        return "schedule-change"
    if "workflows" in segments and segments[-1] != "workflows":
        return "start"  # POST /namespaces/{ns}/workflows/{id} starts a workflow
    return f"{method.lower()}-request"


def may_open(actor: Actor | None) -> bool:
    return actor is not None and allowed(actor.roles, "temporal_ui", "read")


# ----------------------------------------------------------------------------- refusals
def _is_api(path: str) -> bool:
    return path.startswith(f"{PREFIX}/api/")


async def _refuse_write(request: Request, actor: Actor | None, action: str) -> Response:
    path = request.url.path.replace("\x00", "\\0")  # PostgreSQL text holds no NUL
    message = (
        f"The Temporal UI is read-only here: {action} ({request.method} {path}) was refused. "
        "Act on a case through backoffice, where four-eyes and the audit log apply."
    )
    match = _WORKFLOW_ID.search(path)
    workflow_id = match.group(1)[:200] if match else None
    services = get_services(request)
    async with services.db.transaction() as session:
        await audit.record(
            session,
            action=f"temporal_ui.{action}",
            actor=actor.ref if actor else ActorRef(None, "anonymous"),
            outcome=audit.DENIED,
            object_type="temporal_ui",
            object_id=path[:100],
            reason=f"read_only: {message}"[:500],
            origin=actor.origin if actor else origin_of(request),
            workflow_id=workflow_id,
            details={"method": request.method, "path": path[:300], "action": action},
        )
    request.state.error_reason = f"read_only: {message}"[:500]
    return _refusal(request, 403, "read_only", message)


def _refusal(request: Request, status: int, code: str, message: str) -> Response:
    if _is_api(request.url.path) or request.method not in READ_METHODS:
        return JSONResponse({"error": code, "message": message}, status_code=status)
    return error_response(request, status=status, code=code, message=message)


# ----------------------------------------------------------------------------- the proxy
def _client(request: Request) -> httpx.AsyncClient:
    state = request.app.state
    client: httpx.AsyncClient | None = getattr(state, "temporal_ui_client", None)
    if client is None:
        client = httpx.AsyncClient(
            base_url=get_services(request).settings.temporal_ui_base,
            timeout=httpx.Timeout(30.0, connect=5.0),
            follow_redirects=False,
        )
        state.temporal_ui_client = client
    return client


async def close_client(app: Any) -> None:
    """Close the proxy's connection pool (at the app's shutdown)."""
    client: httpx.AsyncClient | None = getattr(app.state, "temporal_ui_client", None)
    if client is not None:
        app.state.temporal_ui_client = None
        await client.aclose()


def _upstream_headers(request: Request) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in REQUEST_DROP}
    ui_cookie = request.cookies.get(UI_COOKIE)
    if ui_cookie:
        headers["cookie"] = f"{UI_COOKIE}={ui_cookie}"
        # The UI sends its own cookie's value in X-CSRF-TOKEN; ours never leaves.
        if request.headers.get("x-csrf-token") == ui_cookie:
            headers["x-csrf-token"] = ui_cookie
    return headers


def _ui_cookie(value: str) -> str:
    """The UI's Set-Cookie scoped to /temporal (it says Path=/, which would reach our app)."""
    parts = [p.strip() for p in value.split(";") if not p.strip().lower().startswith("path=")]
    return "; ".join([*parts, f"Path={PREFIX}"])


def _downstream_headers(upstream: httpx.Response, base: str) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in RESPONSE_DROP]
    for cookie in upstream.headers.get_list("set-cookie"):
        headers.append(("set-cookie", _ui_cookie(cookie)))
    fixed = []
    for key, value in headers:
        if key.lower() == "location" and value.startswith(base):
            value = value[len(base) :] or "/"
        fixed.append((key, value))
    return fixed


async def proxy(request: Request) -> Response:
    path = request.url.path
    actor = await resolve_actor(request)
    action = write_action(request.method, path)
    if action is not None:
        return await _refuse_write(request, actor, action)
    if actor is None:
        if _is_api(path):
            return _refusal(request, 401, "login_required", "Sign in to continue.")
        target = quote(path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    if not may_open(actor):
        try:
            await domain_require(
                get_services(request).db,
                actor,
                "temporal_ui",
                "read",
                action="temporal_ui.read",
                object_type="temporal_ui",
                object_id=path.replace("\x00", "\\0")[:100],
            )
        except Forbidden as exc:
            return _refusal(request, 403, exc.code, exc.message)
    return await _forward(request)


async def _forward(request: Request) -> Response:
    client = _client(request)
    base = str(client.base_url).rstrip("/")
    # The path as the browser sent it (a workflow id may hold an encoded "/"), not re-encoded.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    url = httpx.URL(path=raw_path.decode("latin-1"), query=request.scope.get("query_string", b""))
    try:
        upstream = await client.send(
            client.build_request(request.method, url, headers=_upstream_headers(request)),
            stream=True,
        )
    except httpx.TransportError:
        return _refusal(
            request,
            502,
            "temporal_ui_unavailable",
            "The Temporal UI is not reachable right now. Try again shortly.",
        )
    headers = _downstream_headers(upstream, base)
    content_type = upstream.headers.get("content-type", "")
    if request.url.path == SETTINGS_PATH and upstream.status_code == 200:
        try:
            settings = json.loads(await upstream.aread())
        finally:
            await upstream.aclose()
        request.state.csp = ui_csp()
        settings.update(READ_ONLY_SETTINGS)
        answer = JSONResponse(settings)
        _set_headers(answer, [(k, v) for k, v in headers if k.lower() == "set-cookie"])
        return answer
    if content_type.startswith("text/html"):
        # A page: read it whole (it is small) to allow its inline boot script by hash.
        try:
            body = await upstream.aread()
        finally:
            await upstream.aclose()
        if b'rel="icon"' not in body:
            # Built to be served at /, the page names no icon: the browser would ask our
            # /favicon.ico (a 404 on every load) instead of the UI's own.
            body = body.replace(b"</head>", FAVICON + b"</head>", 1)
        request.state.csp = ui_csp(body)
        kept = [
            (k, v) for k, v in headers if k.lower() not in {"content-length", "content-encoding"}
        ]
        response = Response(body, status_code=upstream.status_code)
        _set_headers(response, kept)
        return response
    request.state.csp = ui_csp()
    if request.url.path.startswith(IMMUTABLE) and upstream.status_code == 200:
        # Named by their content's hash: kept by this browser only (they sit behind sign-in).
        headers = [(k, v) for k, v in headers if k.lower() != "cache-control"]
        headers.append(("cache-control", "private, max-age=604800, immutable"))

    async def body_stream() -> AsyncIterator[bytes]:
        async for chunk in upstream.aiter_raw():
            yield chunk

    streamed = StreamingResponse(
        body_stream(),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    _set_headers(streamed, headers)
    return streamed


def _set_headers(response: Response, headers: list[tuple[str, str]]) -> None:
    for key in {k.lower() for k, _ in headers}:
        if key in response.headers:
            del response.headers[key]
    for key, value in headers:
        response.headers.append(key, value)


routes: list[BaseRoute] = [
    Route(PREFIX, proxy, methods=ALL_METHODS, include_in_schema=False),
    Route(PREFIX + "/{path:path}", proxy, methods=ALL_METHODS, include_in_schema=False),
]
