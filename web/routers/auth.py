"""Sign-in / sign-out pages and the JSON API's token endpoint."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from identity import auth, sso
from shared.errors import DomainError
from web.deps import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    CurrentActor,
    OptionalActor,
    ServicesDep,
    origin_of,
)
from web.responses import errors
from web.templating import render

router = APIRouter(tags=["auth"])
USERNAME_MAX = 64  # no staff username is longer (models.staff.StaffUser)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def _login_page(
    request: Request,
    *,
    username: str = "",
    next_url: str = "/inbox",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    settings = request.app.state.services.settings
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "username": username,
            "next_url": next_url,
            "error": error,
            # Single sign-on (web/routers/sso.py): its button, and whether passwords are on.
            "sso_name": settings.oidc_display_name if settings.sso_enabled else None,
            "local_passwords": settings.local_passwords,
        },
        status_code=status_code,
    )
    response.set_cookie(
        PRELOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        max_age=3600,
        path="/login",
    )
    return response


@router.get("/login", include_in_schema=False)
async def login_form(
    request: Request, actor: OptionalActor, next: str | None = None, switch: bool = False
) -> Response:
    """The sign-in form; `?switch=1` shows it to a signed-in user to change accounts."""
    if actor is not None and not switch:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_url=_safe_next(next))


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form(max_length=USERNAME_MAX)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=500)] = "/inbox",
) -> Response:
    settings = services.settings
    old_token = request.cookies.get(SESSION_COOKIE)
    try:
        if not settings.local_passwords:
            await sso.refuse_password(
                services.db, settings, username=username, origin=origin_of(request)
            )
        token, info = await auth.login(
            services.db,
            settings,
            username=username,
            password=password,
            origin=origin_of(request),
            user_agent=request.headers.get("user-agent"),
        )
    except DomainError as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"
        return _login_page(
            request,
            username=username,
            next_url=_safe_next(next),
            error=exc.message,
            status_code=exc.status_code,
        )
    if old_token:
        # A session that existed before sign-in is never promoted: it ends here.
        old = await auth.resolve(
            services.db, settings, old_token, kind="web", origin=origin_of(request)
        )
        if old is not None:
            await auth.logout(services.db, old.actor)
    target = _safe_next(next)
    if info.session.mfa_pending:  # the password was right: now the second factor
        target = f"/mfa/verify?next={quote(target)}"
    elif info.must_enrol:
        target = "/mfa/enrol"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
    )
    response.delete_cookie(PRELOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, services: ServicesDep, actor: CurrentActor) -> Response:
    await auth.logout(services.db, actor)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=USERNAME_MAX)
    password: str = Field(min_length=1, max_length=1000)
    totp: str | None = Field(
        default=None,
        max_length=40,
        description=(
            "The current code of your authenticator app (or a recovery code): required if "
            "you have a second factor; the token then carries the proof approvals need "
            "(step-up, for the minutes the access policy sets)."
        ),
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_in: int


# 403: credentials sent as anything but JSON (a form cannot be forged cross-site into this).
api = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=errors(401, 403, 422, 503))


@api.post("/token", response_model=TokenResponse, responses=errors(429))
async def issue_token(request: Request, services: ServicesDep, body: TokenRequest) -> TokenResponse:
    """Exchange a staff username and password (and, with a second factor, its current code
    as `totp`) for a bearer token (`Authorization: Bearer …`). Approvals that need a step-up
    answer 403 `step_up_required` once the code is older than the access policy allows:
    ask for a new token with a fresh code."""
    if not services.settings.local_passwords:
        await sso.refuse_password(
            services.db, services.settings, username=body.username, origin=origin_of(request)
        )
    token, _ = await auth.login(
        services.db,
        services.settings,
        username=body.username,
        password=body.password,
        origin=origin_of(request),
        kind="api",
        totp=body.totp,
    )
    return TokenResponse(access_token=token, expires_in=services.settings.api_token_minutes * 60)


@api.post("/logout", status_code=204)
async def revoke_token(services: ServicesDep, actor: CurrentActor) -> Response:
    """Revoke the bearer token this request presents (audited); from now on it gets 401."""
    await auth.logout(services.db, actor)
    return Response(status_code=204)
