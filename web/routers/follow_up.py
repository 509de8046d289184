"""Follow-up on a case: snooze it until a date (or wake it now), tag it.

The JSON API, and the form posts of the case page's follow-up panel
(`partials/case_follow_up.html`). A form posted by HTMX into `#follow-up` gets the panel
back with a notice; a plain form post gets a 303 to the case page; a refused plain post
comes back as the case page with the panel's form holding what was typed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from casework import snooze as snooze_service
from casework import tags as tag_service
from casework.cases import get_case
from identity.access import not_found
from identity.actors import Actor
from models.case_follow_up import FollowUpPublic
from shared.errors import Conflict, DomainError, Invalid
from web.deps import CurrentActor, HtmxRequest, ServicesDep, TemporalDep, in_path, require
from web.responses import API_ERRORS, WRITE_ERRORS
from web.routers.cases import case_page_context
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

CASE = in_path("case", "case_id")
Snoozer = Depends(require("case", "snooze", action="case.snoozed", about=CASE))
Waker = Depends(require("case", "snooze", action="case.unsnoozed", about=CASE))
Tagger = Depends(require("case", "tag", action="case.tag_added", about=CASE))
Untagger = Depends(require("case", "tag", action="case.tag_removed", about=CASE))

PANEL_TARGET = "follow-up"  # the id of the panel an HTMX form swaps


class SnoozeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime = Field(
        description="When the case comes back (with a time zone): at least 5 minutes and at "
        "most 90 days ahead",
        examples=["2027-01-15T08:00:00Z"],
    )
    reason: str = Field(
        max_length=40,
        description="Reason code: " + ", ".join(snooze_service.SNOOZE_REASONS),
        examples=["awaiting_customer"],
    )
    comment: str | None = Field(
        default=None,
        max_length=2000,
        description="At most 500 characters; at least 10 when the reason is `other`",
    )


class TagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str = Field(max_length=100, description=tag_service.TAG_RULE, examples=["pep"])


class TagsPublic(BaseModel):
    case_id: uuid.UUID
    tag: str
    changed: bool = Field(description="False: the case already had it (add) or had not (remove)")
    tags: list[str]


# ----------------------------------------------------------------------------- JSON API
@api.get("/{case_id}/follow-up", response_model=FollowUpPublic)
async def read_follow_up(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID
) -> FollowUpPublic:
    """The case's snooze in force (until when, why, by whom) and its tags."""
    return await snooze_service.read_follow_up(services.db, actor, case_id)


@api.put(
    "/{case_id}/snooze",
    response_model=FollowUpPublic,
    dependencies=[Snoozer],
    responses=WRITE_ERRORS,
)
async def snooze_case(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    body: SnoozeRequest,
) -> FollowUpPublic:
    """Snooze the case until `until` (or move the date of its snooze): its tasks leave the
    inbox and the queues until then, when a timer brings it back and notifies whoever works
    it. Only someone who works the case (holds or may take one of its open steps)."""
    await snooze_service.snooze_case(
        services.db,
        temporal,
        services.settings.task_queue,
        actor,
        case_id,
        until=body.until,
        reason_code=body.reason,
        comment=body.comment,
    )
    return await snooze_service.read_follow_up(services.db, actor, case_id)


@api.delete(
    "/{case_id}/snooze",
    response_model=FollowUpPublic,
    dependencies=[Waker],
    responses=WRITE_ERRORS,
)
async def wake_case(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor, case_id: uuid.UUID
) -> FollowUpPublic:
    """Wake the case now: its snooze ends and its tasks are back in the inbox. 409 when it
    is not snoozed."""
    await snooze_service.wake_case(services.db, temporal, actor, case_id)
    return await snooze_service.read_follow_up(services.db, actor, case_id)


@api.post(
    "/{case_id}/tags",
    status_code=status.HTTP_201_CREATED,
    response_model=TagsPublic,
    dependencies=[Tagger],
    responses={
        200: {"model": TagsPublic, "description": "The case had it already"},
        **WRITE_ERRORS,
    },
)
async def add_tag(
    services: ServicesDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    body: TagRequest,
    response: Response,
) -> TagsPublic:
    """Tag the case (201; 200 when it had the tag). 409 `too_many_tags` past 10 tags."""
    change = await tag_service.add_tag(services.db, actor, case_id, body.tag)
    if not change.changed:
        response.status_code = status.HTTP_200_OK
    return TagsPublic(
        case_id=change.case_id, tag=change.tag, changed=change.changed, tags=change.tags
    )


@api.delete(
    "/{case_id}/tags/{tag}",
    response_model=TagsPublic,
    dependencies=[Untagger],
    responses=WRITE_ERRORS,
)
async def remove_tag(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, tag: str
) -> TagsPublic:
    """Remove a tag from the case (`changed` false when it did not have it)."""
    change = await tag_service.remove_tag(services.db, actor, case_id, tag[:100])
    return TagsPublic(
        case_id=change.case_id, tag=change.tag, changed=change.changed, tags=change.tags
    )


# ----------------------------------------------------------------------------- pages
@pages.post("/cases/{case_id}/snooze", name="snooze_case_page", dependencies=[Snoozer])
async def snooze_case_page(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    until: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=40)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {"until": until, "reason": reason, "comment": comment}
    try:
        try:
            day = date.fromisoformat(until.strip())
        except ValueError:
            raise Invalid(
                "Choose the date the case comes back.", fields={"until": "a date, e.g. 2027-01-15"}
            ) from None
        snoozed = await snooze_service.snooze_case(
            services.db,
            temporal,
            services.settings.task_queue,
            actor,
            case_id,
            until=snooze_service.until_of_date(day),
            reason_code=reason,
            comment=comment,
        )
    except (Invalid, Conflict) as exc:
        return await _refused(request, services, actor, htmx, case_id, exc, form)
    notice = f"{snoozed.reference} is snoozed until {snoozed.until:%Y-%m-%d %H:%M} UTC: its steps are out of the inbox until then."
    return await _done(request, services, actor, htmx, case_id, notice, "snoozed")


@pages.post("/cases/{case_id}/wake", name="wake_case_page", dependencies=[Waker])
async def wake_case_page(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
) -> Response:
    try:
        woken = await snooze_service.wake_case(services.db, temporal, actor, case_id)
    except Conflict as exc:
        return await _refused(request, services, actor, htmx, case_id, exc, {})
    notice = f"{woken.reference} is awake: its steps are back in the inbox."
    return await _done(request, services, actor, htmx, case_id, notice, "unsnoozed")


@pages.post("/cases/{case_id}/tags", name="add_tag_page", dependencies=[Tagger])
async def add_tag_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    tag: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        change = await tag_service.add_tag(services.db, actor, case_id, tag)
    except (Invalid, Conflict) as exc:
        return await _refused(request, services, actor, htmx, case_id, exc, {"tag": tag})
    notice = (
        f"Tagged {change.tag}." if change.changed else f"The case already had the tag {change.tag}."
    )
    return await _done(request, services, actor, htmx, case_id, notice, "tagged")


@pages.post("/cases/{case_id}/tags/{tag}/remove", name="remove_tag_page", dependencies=[Untagger])
async def remove_tag_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    tag: str,
) -> Response:
    change = await tag_service.remove_tag(services.db, actor, case_id, tag[:100])
    notice = (
        f"Tag {change.tag} removed." if change.changed else f"The case had no tag {change.tag}."
    )
    return await _done(request, services, actor, htmx, case_id, notice, "untagged")


async def _done(
    request: Request,
    services: Services,
    actor: Actor,
    htmx: bool,
    case_id: uuid.UUID,
    notice: str,
    notice_key: str,
) -> Response:
    if htmx and request.headers.get("hx-target") == PANEL_TARGET:
        return await _panel(request, services, actor, case_id, notice=notice)
    url = str(request.url_for("read_case", case_id=case_id)) + f"?notice={notice_key}"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=303)


async def _panel(
    request: Request,
    services: Services,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    notice: str,
) -> Response:
    """The case's follow-up panel, re-rendered, with an out-of-band notice."""
    view = await get_case(services.db, actor, case_id)
    if view is None:
        raise await not_found(services.db, actor, "case", case_id, action="case.read")
    follow_up = await snooze_service.follow_up_of(services.db, actor, view.case)
    return render(
        request,
        "partials/case_follow_up.html",
        {"follow_up": follow_up, "notice": notice, "oob": True},
    )


async def _refused(
    request: Request,
    services: Services,
    actor: Actor,
    htmx: bool,
    case_id: uuid.UUID,
    error: DomainError,
    form: dict[str, str],
) -> Response:
    """A refused form: HTMX shows the notice (the panel keeps what was typed); a plain post
    gets the case page again, the panel's form holding what was typed and each problem."""
    if htmx:
        raise error
    view = await get_case(services.db, actor, case_id)
    if view is None:
        raise await not_found(services.db, actor, "case", case_id, action="case.read")
    request.state.error_reason = f"{error.code}: {error.message}"[:500]
    context: dict[str, Any] = await case_page_context(services, actor, view)
    context["follow_up_error"] = {"message": error.message, "fields": error.fields, "form": form}
    return render(request, "case.html", context, status_code=error.status_code)
