"""The second factor in the web and the API: the code after the password, enrolment (QR code,
recovery codes shown once), an administrator's reset (identity/mfa.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from identity import auth, mfa
from shared.errors import DomainError, Invalid
from web.deps import (
    SESSION_COOKIE,
    CurrentActor,
    ServicesDep,
    in_path,
    origin_of,
    require,
)
from web.responses import API_ERRORS
from web.routers.auth import _safe_next
from web.templating import render

pages = APIRouter(include_in_schema=False)
CODE_MAX = 40  # a 6-digit code or a recovery code ("abcd-efgh"), with spaces


# ------------------------------------------------------------ the code after the password
async def _waiting(request: Request, services: ServicesDep) -> auth.SessionInfo | None:
    """The web session waiting for its second factor (the password was right)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    return await auth.resolve(
        services.db,
        services.settings,
        token,
        kind="web",
        origin=origin_of(request),
        waiting_for_code=True,
    )


def _verify_page(
    request: Request,
    info: auth.SessionInfo,
    next_url: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "mfa_verify.html",
        {
            "verify_csrf": info.session.csrf_token,
            "next_url": next_url,
            "error": error,
            "person": info.actor.display_name,
        },
        status_code=status_code,
    )


@pages.get("/mfa/verify")
async def second_factor_form(
    request: Request, services: ServicesDep, next: str | None = None
) -> Response:
    """Step two of signing in for someone with a second factor: the code."""
    info = await _waiting(request, services)
    if info is None:
        return RedirectResponse(f"/login?next={_safe_next(next)}", status_code=303)
    return _verify_page(request, info, _safe_next(next))


@pages.post("/mfa/verify")
async def second_factor(
    request: Request,
    services: ServicesDep,
    code: Annotated[str, Form(max_length=CODE_MAX)] = "",
    next: Annotated[str, Form(max_length=500)] = "/inbox",
) -> Response:
    info = await _waiting(request, services)  # its CSRF token was checked by csrf_guard
    if info is None:
        return RedirectResponse("/login", status_code=303)
    origin = origin_of(request)
    try:
        wait = await auth.throttle_wait(
            services.db, services.settings, info.actor.username, origin.ip
        )
        if wait:
            raise Invalid(
                f"Too many wrong codes. Try again in about {max(1, round(wait / 60))} minute(s).",
                code="throttled",
            )
        await mfa.prove(
            services.db,
            services.settings,
            info.actor.ref,
            code,
            session_id=info.session.id,
            origin=origin,
            action="auth.second_factor",
        )
    except DomainError as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"
        return _verify_page(request, info, _safe_next(next), error=exc.message, status_code=422)
    return RedirectResponse(_safe_next(next), status_code=303)


# --------------------------------------------------------------------------- enrolment
@pages.get("/mfa")
async def read_second_factor(
    request: Request, services: ServicesDep, actor: CurrentActor
) -> Response:
    """Your second factor: whether you have one, how many recovery codes are left."""
    async with services.db.session() as session:
        status = await mfa.status_of(session, actor.user_id, actor.roles)
    return render(request, "mfa_enrol.html", {"status": status, "enrolment": None})


@pages.get("/mfa/enrol")
async def enrol_form(request: Request, services: ServicesDep, actor: CurrentActor) -> Response:
    """Set up a second factor: a new secret as a QR code, and the first code to confirm it
    (showing the page stores nothing: the form carries the sealed secret back)."""
    async with services.db.session() as session:
        status = await mfa.status_of(session, actor.user_id, actor.roles)
    if status.enrolled:
        return RedirectResponse("/mfa", status_code=303)
    enrolment = mfa.new_enrolment(services.settings, actor)
    return render(request, "mfa_enrol.html", {"status": status, "enrolment": enrolment})


@pages.post("/mfa/enrol")
async def enrol(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    code: Annotated[str, Form(max_length=CODE_MAX)] = "",
    enrolment: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    try:
        codes = await mfa.confirm_enrolment(services.db, services.settings, actor, code, enrolment)
    except Invalid as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"
        async with services.db.session() as session:
            status = await mfa.status_of(session, actor.user_id, actor.roles)
        again = (
            mfa.enrolment_of(services.settings, actor, enrolment)
            if exc.code == mfa.BAD_CODE
            else mfa.new_enrolment(services.settings, actor)
        )
        return render(
            request,
            "mfa_enrol.html",
            {"status": status, "enrolment": again, "error": exc.message},
            status_code=422,
        )
    async with services.db.session() as session:
        status = await mfa.status_of(session, actor.user_id, actor.roles)
    return render(
        request, "mfa_enrol.html", {"status": status, "enrolment": None, "recovery_codes": codes}
    )


# ----------------------------------------------------------------- an administrator's reset
@pages.get(
    "/admin/staff/{user_id}/second-factor",
    dependencies=[Depends(require("staff", "read", about=in_path("staff_user", "user_id")))],
)
async def staff_second_factor(
    request: Request, services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    """The second-factor section of a staff member's page (loaded into it by HTMX)."""
    async with services.db.session() as session:
        roles = await auth.roles_of(session, user_id)
        status = await mfa.status_of(session, user_id, roles)
    return render(
        request,
        "staff/_second_factor_status.html",
        {"status": status, "person_id": user_id, "own": user_id == actor.user_id},
    )


# Another administrator resets a person's second factor (the page's form and the API).
Resetter = Depends(
    require("staff", "manage", action="mfa.reset", about=in_path("staff_user", "user_id"))
)


@pages.post(
    "/admin/staff/{user_id}/second-factor/reset",
    dependencies=[Resetter],
)
async def reset_second_factor_form(
    services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    await mfa.reset_factor(services.db, actor, user_id)
    return RedirectResponse(f"/admin/staff/{user_id}?notice=second-factor-reset", status_code=303)


api = APIRouter(prefix="/api/v1/staff", tags=["staff"], responses=API_ERRORS)


@api.post(
    "/{user_id}/second-factor/reset",
    status_code=204,
    dependencies=[Resetter],
)
async def reset_second_factor(
    services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    """Remove a person's second factor (a lost phone): they set up a new one at their next
    sign-in. Not your own (another administrator does that). Audited."""
    await mfa.reset_factor(services.db, actor, user_id)
    return Response(status_code=204)
