"""Single sign-on pages: `/auth/oidc/start` sends the browser to the identity provider,
`/auth/oidc/callback` takes it back (identity/sso.py does the OpenID Connect work)."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from core.settings import Settings
from identity import auth, sso
from shared.errors import DomainError, NotFound
from web.deps import SESSION_COOKIE, ServicesDep, origin_of
from web.routers.auth import _safe_next as safe_next
from web.templating import render

router = APIRouter(prefix="/auth/oidc", tags=["auth"], include_in_schema=False)
# Binds a sign-in to the browser that started it: the callback completes only when this
# cookie holds the state the IdP sends back (an attacker's callback link signs nobody in).
STATE_COOKIE = "bo_sso_state"
STATE_COOKIE_PATH = "/auth/oidc"


def _redirect_uri(request: Request, settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/auth/oidc/callback"
    return str(request.url_for("oidc_callback"))


def _enabled(settings: Settings) -> None:
    if not settings.sso_enabled:
        raise NotFound("Single sign-on is not configured here.", code="sso_off")


def _refused(request: Request, exc: DomainError) -> Response:
    request.state.error_reason = f"{exc.code}: {exc.message}"
    response = render(
        request,
        "sso_refused.html",
        {"message": exc.message, "code": exc.code},
        status_code=exc.status_code,
    )
    response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
    return response


@router.get("/start", name="oidc_start")
async def start_sign_in(
    request: Request, services: ServicesDep, next: str | None = None
) -> Response:
    """Off to the identity provider (authorization code + PKCE)."""
    settings = services.settings
    _enabled(settings)
    try:
        url, state = await sso.begin(
            services.db,
            settings,
            redirect_uri=_redirect_uri(request, settings),
            next_url=safe_next(next),
        )
    except DomainError as exc:
        return _refused(request, exc)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        state,
        httponly=True,
        # Lax: the IdP's redirect back is a top-level cross-site GET, which Lax lets through.
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=sso.SIGN_IN_MINUTES * 60,
        path=STATE_COOKIE_PATH,
    )
    return response


@router.get("/callback", name="oidc_callback")
async def finish_sign_in(
    request: Request,
    services: ServicesDep,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
) -> Response:
    """The identity provider's answer: a new session, or a page saying why not."""
    settings = services.settings
    _enabled(settings)
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not cookie or not secrets.compare_digest(cookie, state[:200]):
        state = ""  # not started in this browser: refused (and audited) as an unknown state
    try:
        signed_in = await sso.complete(
            services.db,
            settings,
            state=state[:200],
            code=(code or "")[:2000] or None,
            error=(error or "")[:200] or None,
            redirect_uri=_redirect_uri(request, settings),
            origin=origin_of(request),
            user_agent=request.headers.get("user-agent"),
        )
    except DomainError as exc:
        return _refused(request, exc)
    old_token = request.cookies.get(SESSION_COOKIE)
    if old_token:
        # A session that existed before sign-in is never promoted: it ends here.
        old = await auth.resolve(
            services.db, settings, old_token, kind="web", origin=origin_of(request)
        )
        if old is not None:
            await auth.logout(services.db, old.actor)
    target = safe_next(signed_in.next_url)
    if signed_in.info.session.mfa_pending:  # signed in at the IdP: now our second factor
        target = f"/mfa/verify?next={quote(target)}"
    elif signed_in.info.must_enrol:
        target = "/mfa/enrol"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
    )
    response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
    return response
