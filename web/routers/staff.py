"""Staff administration pages: the list, a person's page and its actions, invitations, and the
public set-password page a one-time link opens.

Admins (`staff:manage`) invite, disable and re-enable, unlock, reset passwords and end
sessions; auditors (`staff:read`) see the same pages without the forms. Roles are granted by a
proposal a second admin approves (part of the person's page, `staff/_roles.html`). The forms
are plain posts answered by a 303 to the person's page, except those that make a link: the
link is shown once, in the answer to the post, and never again.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from core.mail import mail_server
from identity import invitations
from identity import staff as staff_service
from identity.actors import Actor
from identity.invitations import IssuedLink
from models.roles import ROLES
from shared.errors import Conflict, DomainError, Invalid, NotFound
from web.deps import (
    PRELOGIN_COOKIE,
    CurrentActor,
    HtmxRequest,
    PageParam,
    ServicesDep,
    in_path,
    origin_of,
    require,
)
from web.services import Services
from web.templating import render

pages = APIRouter(include_in_schema=False)

PER_PAGE = 50
Reader = Depends(require("staff", "read", about=in_path("staff", "user_id")))
Manager = Depends(require("staff", "manage", about=in_path("staff", "user_id")))
# The pre-login CSRF cookie's path (web/deps.csrf_guard).
SET_PASSWORD_PATH = "/set-password"  # noqa: S105 (an address, not a password)

# What a 303 back to the person's page says (a code in the URL, never free text).
NOTICES = {
    "disabled": "The account is disabled: every session and API token ended.",
    "enabled": "The account is enabled again. Sessions that ended stay ended.",
    "unlocked": "The sign-in lockout is over: failed attempts no longer count.",
    "session_revoked": "The session ended.",
    "sessions_revoked": "Every session and API token of this person ended.",
    "second-factor-reset": "The second factor was reset: the person enrols again at sign-in.",
}


async def link_url(request: Request, services: Services, token: str) -> str:
    """The absolute set-password address (PUBLIC_URL when set, else this request's host)."""
    path = request.app.url_path_for("set_password_form", token=token)
    base = services.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}{path}"


async def deliver(request: Request, services: Services, issued: IssuedLink) -> tuple[str, str]:
    """E-mail a link just made; returns (its address, what became of the e-mail)."""
    url = await link_url(request, services, issued.token)
    delivery = await invitations.deliver(services.db, mail_server(services.settings), issued, url)
    return url, delivery


async def reset_password(
    request: Request, services: Services, actor: Actor, user_id: uuid.UUID
) -> tuple[IssuedLink, str, str]:
    """Reset the person's password and e-mail the new link, for the page and the API alike
    (whether a mail server is set decides what `invitations.reset_password` allows); returns
    the link with `deliver`'s answer."""
    issued = await invitations.reset_password(
        services.db,
        user_id=user_id,
        actor=actor.ref,
        origin=actor.origin,
        mail_ready=mail_server(services.settings) is not None,
    )
    url, delivery = await deliver(request, services, issued)
    return issued, url, delivery


# ----------------------------------------------------------------------------- the list
@pages.get("/admin/staff")
async def read_staff(
    request: Request,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("staff", "read"))],
    htmx: HtmxRequest,
    role: str | None = None,
    status: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: str = "username",
    dir: str = "asc",
    page: PageParam = 1,
) -> Response:
    role = role if role in ROLES else None
    status = status if status in staff_service.STATUSES else None
    sort = sort if sort in staff_service.SORTS else "username"
    descending = dir == "desc"
    staff, total = await staff_service.list_staff(
        services.db,
        role=role,
        q=q or None,
        status=status,
        sort=sort,
        descending=descending,
        page=page,
        per_page=PER_PAGE,
    )
    context = {
        "staff": staff,
        "roles": ROLES,
        "statuses": staff_service.STATUSES,
        "sorts": list(staff_service.SORTS),
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PER_PAGE)),
        "filters": {
            "role": role or "",
            "status": status or "",
            "q": q or "",
            "sort": sort,
            "dir": "desc" if descending else "asc",
        },
    }
    block = "staff_list" if htmx and request.headers.get("hx-target") == "staff-list" else None
    return render(request, "staff.html", context, block=block)


# ----------------------------------------------------------------------------- invitations
@pages.get("/admin/staff/invite", name="invite_staff_form")
async def invite_staff_form(
    request: Request, actor: Annotated[Actor, Depends(require("staff", "manage"))]
) -> Response:
    return render(request, "staff_invite.html", {"form": {}, "errors": {}})


@pages.post("/admin/staff/invite", name="invite_staff")
async def invite_staff(
    request: Request,
    services: ServicesDep,
    actor: Annotated[Actor, Depends(require("staff", "manage", action="staff.invited"))],
    username: Annotated[str, Form(max_length=100)] = "",
    display_name: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    form = {"username": username, "display_name": display_name, "email": email}
    try:
        issued = await invitations.invite(
            services.db,
            username=username,
            display_name=display_name,
            email=email,
            actor=actor.ref,
            origin=actor.origin,
        )
    except (Invalid, Conflict) as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"
        return render(
            request,
            "staff_invite.html",
            {"form": form, "errors": exc.fields, "error": exc.message},
            status_code=exc.status_code,
        )
    url, delivery = await deliver(request, services, issued)
    return _link_page(request, issued, url, delivery)


def _link_page(request: Request, issued: IssuedLink, url: str, delivery: str) -> Response:
    # The one time the link is shown: never cached, never sent to another site.
    return render(
        request,
        "staff_link.html",
        {"issued": issued, "url": url, "delivery": delivery},
        headers={"Cache-Control": "no-store"},
    )


# ----------------------------------------------------------------------------- a person
@pages.get("/admin/staff/{user_id}", name="read_staff_member", dependencies=[Reader])
async def read_staff_member(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    user_id: uuid.UUID,
    notice: str | None = None,
) -> Response:
    person = await staff_service.staff_detail(services.db, services.settings, user_id)
    return render(
        request,
        "staff_detail.html",
        {"person": person, "notice": NOTICES.get(notice or "")},
    )


def _back(request: Request, user_id: uuid.UUID, notice: str) -> Response:
    url = str(request.url_for("read_staff_member", user_id=user_id)) + f"?notice={notice}"
    return RedirectResponse(url, status_code=303)


@pages.post("/admin/staff/{user_id}/disable", name="disable_staff", dependencies=[Manager])
async def disable_staff(
    request: Request, services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    await staff_service.set_active(
        services.db, user_id=user_id, active=False, actor=actor.ref, origin=actor.origin
    )
    return _back(request, user_id, "disabled")


@pages.post("/admin/staff/{user_id}/enable", name="enable_staff", dependencies=[Manager])
async def enable_staff(
    request: Request, services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    await staff_service.set_active(
        services.db, user_id=user_id, active=True, actor=actor.ref, origin=actor.origin
    )
    return _back(request, user_id, "enabled")


@pages.post("/admin/staff/{user_id}/unlock", name="unlock_staff", dependencies=[Manager])
async def unlock_staff(
    request: Request, services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    await staff_service.unlock(services.db, user_id=user_id, actor=actor.ref, origin=actor.origin)
    return _back(request, user_id, "unlocked")


@pages.post(
    "/admin/staff/{user_id}/reset-password", name="reset_staff_password", dependencies=[Manager]
)
async def reset_staff_password(
    request: Request, services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    issued, url, delivery = await reset_password(request, services, actor, user_id)
    return _link_page(request, issued, url, delivery)


@pages.post(
    "/admin/staff/{user_id}/sessions/{session_id}/revoke",
    name="revoke_staff_session",
    dependencies=[Manager],
)
async def revoke_staff_session(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> Response:
    await staff_service.revoke_session(
        services.db, user_id=user_id, session_id=session_id, actor=actor.ref, origin=actor.origin
    )
    return _back(request, user_id, "session_revoked")


@pages.post(
    "/admin/staff/{user_id}/sessions/revoke-all",
    name="revoke_staff_sessions",
    dependencies=[Manager],
)
async def revoke_staff_sessions(
    request: Request, services: ServicesDep, actor: CurrentActor, user_id: uuid.UUID
) -> Response:
    await staff_service.revoke_sessions(
        services.db, user_id=user_id, actor=actor.ref, origin=actor.origin
    )
    return _back(request, user_id, "sessions_revoked")


# ----------------------------------------------------------------------------- set password
def _set_password_page(
    request: Request, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    """The public page, with a pre-login CSRF token in a cookie scoped to it (as /login)."""
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "set_password.html",
        {"form_csrf": token, **context},
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
    response.set_cookie(
        PRELOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.services.settings.secure_cookies,
        max_age=3600,
        path=SET_PASSWORD_PATH,
    )
    return response


@pages.get("/set-password/{token}", name="set_password_form")
async def set_password_form(request: Request, services: ServicesDep, token: str) -> Response:
    holder = await invitations.link_holder(services.db, token)
    if holder is None:
        return render(
            request,
            "set_password.html",
            {"invalid": invitations.INVALID_LINK},
            status_code=404,
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )
    return _set_password_page(request, {"holder": holder, "token": token, "errors": {}})


@pages.post(SET_PASSWORD_PATH, name="set_password")
async def set_password(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    repeat: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        username = await invitations.set_password(
            services.db, token=token, password=password, repeat=repeat, origin=origin_of(request)
        )
    except NotFound as exc:
        request.state.error_reason = f"{exc.code}: link refused"
        return render(
            request,
            "set_password.html",
            {"invalid": exc.message},
            status_code=404,
            headers={"Cache-Control": "no-store"},
        )
    except DomainError as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"
        holder = await invitations.link_holder(services.db, token)
        return _set_password_page(
            request,
            {"holder": holder, "token": token, "errors": exc.fields, "error": exc.message},
            status_code=exc.status_code,
        )
    response = render(
        request, "set_password.html", {"done": username}, headers={"Cache-Control": "no-store"}
    )
    response.delete_cookie(PRELOGIN_COOKIE, path=SET_PASSWORD_PATH)
    return response
