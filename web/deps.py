"""FastAPI dependencies, as `Annotated` aliases: who is asking, what they may do, CSRF."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema
from temporalio.client import Client

from identity import auth
from identity.access import require as domain_require
from identity.actors import Actor
from models.workflow_io import Origin
from policies.enforcer import allowed
from shared.errors import Forbidden, Unauthenticated
from web.services import Services

SESSION_COOKIE = "bo_session"
PRELOGIN_COOKIE = "bo_prelogin"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Forms posted by someone not signed in: their CSRF token is in a pre-login cookie scoped to
# the form's path (sign-in; setting a password by a one-time link, web/routers/staff.py).
PRELOGIN_FORMS = ("/login", "/set-password")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def services_of(request: Request) -> Services:
    """`get_services` as a dependency. A coroutine on purpose: FastAPI runs a plain function
    dependency in a worker thread, a thread hop on every request that asks for it."""
    return get_services(request)


ServicesDep = Annotated[Services, Depends(services_of)]


async def get_temporal(services: ServicesDep) -> Client:
    return await services.temporal()


TemporalDep = Annotated[Client, Depends(get_temporal)]


CODEC_PATHS = ("/codec/decode", "/codec/encode")


def is_api(request: Request) -> bool:
    """JSON endpoints: our API and the Temporal codec server (web/routers/codec.py)."""
    return request.url.path.startswith(("/api/", "/codec/"))


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def htmx_of(request: Request) -> bool:  # a coroutine: see services_of
    return is_htmx(request)


HtmxRequest = Annotated[bool, Depends(htmx_of)]


def origin_of(request: Request) -> Origin:
    return Origin(
        ip=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
        channel="api" if is_api(request) else "web",
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def resolve_actor(request: Request) -> Actor | None:
    """The authenticated staff member (cached per request), by bearer token or session cookie."""
    if hasattr(request.state, "auth"):
        cached: auth.SessionInfo | None = request.state.auth
        return cached.actor if cached else None
    services = get_services(request)
    token = bearer_token(request) if is_api(request) else None
    kind = "api"
    if token is None:
        token, kind = request.cookies.get(SESSION_COOKIE, ""), "web"
    info = (
        await auth.resolve(
            services.db, services.settings, token, kind=kind, origin=origin_of(request)
        )
        if token
        else None
    )
    request.state.auth = info
    return info.actor if info else None


# What someone who must set up a second factor may still open (web/routers/mfa.py).
ENROL_PATHS = ("/mfa", "/logout", "/api/v1/auth/logout", "/notifications/badge")


async def current_actor(request: Request) -> Actor:
    actor = await resolve_actor(request)
    if actor is None:
        raise Unauthenticated("Sign in to continue.", code="login_required")
    info: auth.SessionInfo = request.state.auth
    if info.must_enrol and not request.url.path.startswith(ENROL_PATHS):
        raise Forbidden(
            "Your roles need a second factor: set it up first (Your second factor, /mfa/enrol).",
            code="enrol_second_factor",
        )
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(resolve_actor)]


async def _submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached by Starlette; the handler's Form() reads the same
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _check_codec_caller(request: Request) -> None:
    """The Temporal UI calls the codec server without our CSRF token. What stands in for it:
    a JSON body (a cross-site page cannot send one without a CORS preflight, granted only to
    TEMPORAL_UI_ORIGIN) and an Origin header, when present, that is ours or the UI's."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Forbidden("The codec server takes application/json only.", code="csrf")
    origin = request.headers.get("origin")
    if origin is None:
        return
    settings = get_services(request).settings
    ours = {f"{request.url.scheme}://{request.url.netloc}"}
    for configured in (settings.public_url, settings.temporal_ui_origin):
        if configured:
            parts = urlsplit(configured)
            ours.add(f"{parts.scheme}://{parts.netloc}")
    if origin.rstrip("/") not in ours:
        raise Forbidden(
            "The codec server answers only this site and the configured Temporal UI origin "
            "(TEMPORAL_UI_ORIGIN).",
            code="csrf",
        )


async def csrf_guard(request: Request) -> None:
    """Every state-changing request proves it came from our own page (or uses a bearer token).

    Applied to the whole app, so no route can forget it. Bearer-token API calls are exempt:
    a browser never attaches that header by itself, so a forged request cannot carry it.
    """
    if request.method not in UNSAFE_METHODS:
        return
    request.state.csrf_checked = True
    if is_api(request) and bearer_token(request):
        return
    if request.url.path in CODEC_PATHS:
        _check_codec_caller(request)
        return
    if is_api(request) and request.url.path == "/api/v1/auth/token":
        # No ambient credentials are involved; JSON bodies cannot be sent cross-site
        # without a CORS preflight, which this app never grants.
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise Forbidden("Send credentials as application/json.", code="csrf")
        return
    submitted = await _submitted_csrf(request)
    if request.url.path in PRELOGIN_FORMS:
        expected = request.cookies.get(PRELOGIN_COOKIE, "")
    elif request.url.path == "/mfa/verify":
        # The second step of signing in: the session the password opened, waiting for its code.
        services = get_services(request)
        waiting = await auth.resolve(
            services.db,
            services.settings,
            request.cookies.get(SESSION_COOKIE, ""),
            kind="web",
            origin=origin_of(request),
            waiting_for_code=True,
        )
        expected = waiting.session.csrf_token if waiting else ""
    else:
        await resolve_actor(request)
        info = getattr(request.state, "auth", None)
        if info is None:
            if is_api(request):
                raise Unauthenticated("Sign in or send a bearer token.", code="login_required")
            raise Forbidden(
                "Your session has ended, so this form was not accepted. Sign in and try again.",
                code="csrf",
            )
        expected = info.session.csrf_token
    if not expected or not submitted or not secrets.compare_digest(expected, submitted):
        raise Forbidden(
            "This form is out of date or did not come from this site (CSRF check failed). "
            "Reload the page and try again.",
            code="csrf",
        )


Permission = tuple[str, str]
# Where a guard finds the object a refusal is about (for the audit event): (type, id).
ObjectOf = Callable[[Request], Awaitable[tuple[str | None, Any]]]


def in_path(object_type: str, param: str) -> ObjectOf:
    """The object is named by a path parameter (as typed: it is not validated yet)."""

    async def find(request: Request) -> tuple[str | None, Any]:
        value = request.path_params.get(param)
        return object_type, str(value)[:100] if value is not None else None

    return find


def of_type(object_type: str) -> ObjectOf:
    """The refusal is about a kind of object, none in particular (one not made yet)."""

    async def find(request: Request) -> tuple[str | None, Any]:
        return object_type, None

    return find


def in_body(object_type: str, field: str, *, type_field: str | None = None) -> ObjectOf:
    """The object is named by a field of the JSON body, if the body is a JSON object."""

    async def find(request: Request) -> tuple[str | None, Any]:
        try:
            data = await request.json()
        except Exception:  # not JSON, not UTF-8, no body: the refusal names no object
            data = None
        if not isinstance(data, dict):
            return object_type, None
        kind = data.get(type_field) if type_field else None
        value = data.get(field)
        return (
            kind[:40] if isinstance(kind, str) and kind else object_type,
            str(value)[:100] if isinstance(value, str | int) else None,
        )

    return find


def require(
    obj: str, act: str, *, action: str | None = None, about: ObjectOf | None = None
) -> Callable[..., Awaitable[Actor]]:
    """Route guard: `Depends(require("change", "approve"))` — audited when refused.

    FastAPI resolves dependencies before it validates the path and the body, so a guard on
    the route refuses someone without the permission (403, audited `denied`) whatever they
    sent. `action` names the refusal in the audit log (default `obj.act`), `about` the object
    it concerns, as the domain's own check would.
    """
    return require_any((obj, act), action=action or f"{obj}.{act}", about=about)


def require_any(
    *permissions: Permission, action: str, about: ObjectOf | None = None
) -> Callable[..., Awaitable[Actor]]:
    """Route guard for a route whose exact permission depends on the body (a change to a fee
    needs `change:propose`, to a configuration document `change:propose_config`): the actor
    must hold at least one of them; the domain checks the exact one once the body is read."""

    async def guard(request: Request, actor: CurrentActor) -> Actor:
        if not any(allowed(actor.roles, obj, act) for obj, act in permissions):
            obj, act = permissions[0]
            object_type, object_id = await about(request) if about else (None, None)
            await domain_require(
                get_services(request).db,
                actor,
                obj,
                act,
                action=action,
                object_type=object_type,
                object_id=object_id,
            )
        return actor

    guard.permissions = permissions  # type: ignore[attr-defined]  # read by route_permissions
    guard.action = action  # type: ignore[attr-defined]
    return guard


def signed_in(request: Request, actor: CurrentActor) -> Actor:
    """Route guard for actions open to every signed-in person (sign out, mark as read)."""
    return actor


def route_permissions(route: object) -> list[Callable[..., Awaitable[Actor]]]:
    """The permission guards a route declares in `dependencies=[...]`."""
    dependant = getattr(route, "dependant", None)
    found = []
    for dep in getattr(dependant, "dependencies", ()):
        if hasattr(dep.call, "permissions"):
            found.append(dep.call)
    return found


async def check_route_permission(request: Request) -> None:
    """The route's permission, checked by hand: for a request refused before FastAPI ran its
    dependencies (a body that is not even JSON), so that it too is a 401 or 403 first."""
    guards = route_permissions(request.scope.get("route"))
    if not guards:
        return
    actor = await current_actor(request)
    for guard in guards:
        await guard(request, actor)


# ----------------------------------------------------------------------------- query bounds
# Every integer a client can send is bounded: an unbounded one reaches PostgreSQL as a
# bigint overflow (a 500). The refusal is a 422 naming the parameter.
MAX_PAGE = 100_000
PageParam = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
PerPageParam = Annotated[int, Query(ge=1, le=100, description="Items per page (at most 100).")]
LongPerPageParam = Annotated[int, Query(ge=1, le=200, description="Items per page (at most 200).")]
MAX_INT4 = 2_147_483_647  # PostgreSQL's integer


@dataclass(frozen=True)
class OneOf:
    """`Annotated[str, OneOf(VALUES)]`: one of a domain's closed set of values, validated and
    declared as an `enum` in the OpenAPI document (the set stays defined in one place)."""

    values: tuple[str, ...]

    def __init__(self, values: Iterable[str]) -> None:
        object.__setattr__(self, "values", tuple(values))

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.literal_schema(list(self.values))
