"""Access reviews: the campaigns, one campaign's grants to certify or revoke, the CSV report,
and starting a campaign by hand — pages under /admin/access-reviews and the JSON API.

A reviewer sees only the grants listed to them; admins and auditors see every grant. A form
post gets a 303 back to the campaign with a notice (HTMX: the same page through HX-Location);
a refusal is the error page or, for HTMX, a notice (web/errors.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from access_reviews.commands import campaigns, decisions
from access_reviews.queries import reviews as queries
from access_reviews.rules import PENDING, REQUESTED, REVOKING, STATUS_LABELS, STATUSES
from identity.actors import Actor
from models.access_review_io import (
    AccessReviewItemList,
    AccessReviewItemPublic,
    AccessReviewList,
    AccessReviewPublic,
    AccessReviewStarted,
)
from models.roles import ROLES
from web.deps import (
    CurrentActor,
    HtmxRequest,
    PageParam,
    ServicesDep,
    TemporalDep,
    in_path,
    of_type,
    require,
)
from web.responses import API_ERRORS, WRITE_ERRORS
from web.services import Services
from web.templating import render

api = APIRouter(prefix="/api/v1/access-reviews", tags=["access reviews"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

ITEM = in_path("access_review_item", "item_id")
Reader = Depends(require("access_review", "read"))
Reporter = Depends(require("access_review", "report", about=in_path("access_review", "review_id")))
Starter = Depends(
    require(
        "access_review", "manage", action="access_review.started", about=of_type("access_review")
    )
)
Certifier = Depends(
    require("access_review", "review", action="access_review.certified", about=ITEM)
)
Revoker = Depends(
    require("access_review", "review", action="access_review.revocation_proposed", about=ITEM)
)

NOTICES = {
    "started": "The access review is starting: its grants are listed in a moment.",
    "certified": "Grant certified.",
    "revoking": "Revocation proposed: it takes effect once a second administrator approves it.",
    "requested": "Revocation requested: an administrator proposes it as a role change.",
}


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(
        default=None,
        max_length=1000,
        description="Why (at least 10 characters to revoke: the approver reads it)",
    )


def _public(row: queries.ReviewRow) -> AccessReviewPublic:
    return AccessReviewPublic(
        id=row.id,
        period=row.period,
        status=row.status,
        trigger=row.trigger,
        opened_at=row.opened_at,
        deadline=row.deadline,
        closed_at=row.closed_at,
        counts=row.counts,
    )


def _item_public(row: queries.ItemRow) -> AccessReviewItemPublic:
    return AccessReviewItemPublic(
        id=row.id,
        role=row.role,
        user_id=row.user_id,
        username=row.username,
        reviewer=row.reviewer,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        comment=row.comment,
        change_id=row.change_id,
        change_status=row.change_status,
        resolved_at=row.resolved_at,
    )


def _csv(filename: str, text: str) -> Response:
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ----------------------------------------------------------------------------- JSON API
@api.get("", response_model=AccessReviewList, dependencies=[Reader])
async def list_access_reviews(
    services: ServicesDep, actor: CurrentActor, page: PageParam = 1
) -> AccessReviewList:
    """The campaigns, newest first, with their items counted by status (a reviewer counts
    only the grants listed to them)."""
    rows, total = await queries.list_reviews(services.db, actor, page=page)
    return AccessReviewList(items=[_public(r) for r in rows], total=total, page=page)


@api.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AccessReviewStarted,
    dependencies=[Starter],
    responses=WRITE_ERRORS,
)
async def start_access_review(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor
) -> AccessReviewStarted:
    """Start a campaign now (admins), outside the quarterly schedule; 409 `review_open`
    while one is open. The campaign lists its grants as soon as its workflow runs."""
    workflow_id = await campaigns.start_campaign_now(
        services.db, temporal, services.settings, actor
    )
    return AccessReviewStarted(workflow_id=workflow_id)


@api.get("/{review_id}", response_model=AccessReviewPublic, dependencies=[Reader])
async def read_access_review_api(
    services: ServicesDep, actor: CurrentActor, review_id: uuid.UUID
) -> AccessReviewPublic:
    return _public(await queries.read_review(services.db, actor, review_id))


@api.get("/{review_id}/items", response_model=AccessReviewItemList, dependencies=[Reader])
async def list_access_review_items(
    services: ServicesDep,
    actor: CurrentActor,
    review_id: uuid.UUID,
    role: Annotated[str | None, Query(max_length=40, description="A role")] = None,
    reviewer: Annotated[
        str | None, Query(max_length=64, description="A reviewer's username, or `admins`")
    ] = None,
    status: Annotated[str | None, Query(max_length=20, description=", ".join(STATUSES))] = None,
    sort: Annotated[
        str | None, Query(max_length=20, description="role, person, status, reviewer")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Part of the person's username or name")
    ] = None,
    page: PageParam = 1,
) -> AccessReviewItemList:
    """The campaign's grants the reader may see, 50 a page."""
    await queries.read_review(services.db, actor, review_id)
    filters = queries.ItemFilters.clean(role, reviewer, status, sort, q)
    rows, total = await queries.review_items(services.db, actor, review_id, filters, page=page)
    return AccessReviewItemList(items=[_item_public(r) for r in rows], total=total, page=page)


@api.get("/{review_id}/report.csv", dependencies=[Reporter], response_class=Response)
async def export_access_review(
    services: ServicesDep, actor: CurrentActor, review_id: uuid.UUID
) -> Response:
    """Every grant of the campaign and what became of it, as CSV (admins and auditors)."""
    return _csv(*await queries.report_csv(services.db, actor, review_id))


@api.post(
    "/items/{item_id}/certify",
    response_model=AccessReviewItemPublic,
    dependencies=[Certifier],
    responses=WRITE_ERRORS,
)
async def certify_access(
    services: ServicesDep, actor: CurrentActor, item_id: uuid.UUID, body: DecisionRequest
) -> AccessReviewItemPublic:
    """Certify that the person still needs the role (the item's reviewer only)."""
    item = await decisions.certify_item(services.db, actor, item_id, comment=body.comment)
    return await _item_after(services, actor, item.review_id, item.id)


@api.post(
    "/items/{item_id}/revoke",
    response_model=AccessReviewItemPublic,
    dependencies=[Revoker],
    responses=WRITE_ERRORS,
)
async def revoke_access(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    item_id: uuid.UUID,
    body: DecisionRequest,
) -> AccessReviewItemPublic:
    """Propose removing the role: a role-grant change a second administrator approves. The
    item is `revoking` until that change is applied (`revoked`) or refused (`kept`). A role
    owner who may not propose role changes requests it (`requested`, the admins are told);
    an administrator revoking a requested item proposes it (`comment` optional then: the
    owner's words are the reason)."""
    item = await decisions.revoke_item(
        services.db, temporal, services.settings, actor, item_id, comment=body.comment
    )
    return await _item_after(services, actor, item.review_id, item.id)


async def _item_after(
    services: Services, actor: Actor, review_id: uuid.UUID, item_id: uuid.UUID
) -> AccessReviewItemPublic:
    rows, _ = await queries.review_items(
        services.db, actor, review_id, queries.ItemFilters(), page=1, item_id=item_id
    )
    return _item_public(rows[0])


# ----------------------------------------------------------------------------- pages
@pages.get("/admin/access-reviews", dependencies=[Reader])
async def read_access_reviews(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    page: PageParam = 1,
    notice: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    rows, total = await queries.list_reviews(services.db, actor, page=page)
    return render(
        request,
        "access_reviews.html",
        {
            "reviews": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // queries.REVIEWS_PER_PAGE)),
            "notice": NOTICES.get(notice or ""),
            "sees_all": queries.sees_all(actor),
        },
    )


@pages.post("/admin/access-reviews/start", dependencies=[Starter])
async def start_access_review_page(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
) -> Response:
    await campaigns.start_campaign_now(services.db, temporal, services.settings, actor)
    return _back(request, htmx, str(request.url_for("read_access_reviews")), "started")


@pages.get("/admin/access-reviews/{review_id}", dependencies=[Reader])
async def read_access_review(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    review_id: uuid.UUID,
    role: Annotated[str | None, Query(max_length=40)] = None,
    reviewer: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: PageParam = 1,
    notice: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    review = await queries.read_review(services.db, actor, review_id)
    filters = queries.ItemFilters.clean(role, reviewer, status, sort, q)
    rows, total = await queries.review_items(services.db, actor, review_id, filters, page=page)
    decidable = {
        r.id
        for r in rows
        if review.status == "open"
        and r.status == PENDING
        and decisions.why_not(actor, r.reviewer_id, r.user_id) is None
    }
    proposable = {
        r.id
        for r in rows
        if review.status == "open"
        and r.status == REQUESTED
        and decisions.why_not_propose(actor, r.user_id) is None
    }
    context = {
        "review": review,
        "items": rows,
        "decidable": decidable,
        "proposable": proposable,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // queries.PER_PAGE)),
        "filters": filters,
        "roles": ROLES,
        "statuses": STATUS_LABELS,
        "reviewers": await queries.reviewers_of(services.db, actor, review_id),
        "sees_all": queries.sees_all(actor),
        "notice": NOTICES.get(notice or ""),
    }
    block = "review_items" if htmx and request.headers.get("hx-target") == "review-items" else None
    return render(request, "access_review.html", context, block=block)


@pages.get("/admin/access-reviews/{review_id}/report.csv", dependencies=[Reporter])
async def access_review_report(
    services: ServicesDep, actor: CurrentActor, review_id: uuid.UUID
) -> Response:
    return _csv(*await queries.report_csv(services.db, actor, review_id))


@pages.post("/admin/access-reviews/items/{item_id}/certify", dependencies=[Certifier])
async def certify_access_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    item_id: uuid.UUID,
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    item = await decisions.certify_item(services.db, actor, item_id, comment=comment)
    url = str(request.url_for("read_access_review", review_id=item.review_id))
    return _back(request, htmx, url, "certified")


@pages.post("/admin/access-reviews/items/{item_id}/revoke", dependencies=[Revoker])
async def revoke_access_page(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    item_id: uuid.UUID,
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    item = await decisions.revoke_item(
        services.db, temporal, services.settings, actor, item_id, comment=comment
    )
    url = str(request.url_for("read_access_review", review_id=item.review_id))
    return _back(request, htmx, url, "revoking" if item.status == REVOKING else "requested")


def _back(request: Request, htmx: bool, url: str, notice: str) -> Response:
    target = f"{url}?notice={notice}"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": target})
    return RedirectResponse(target, status_code=303)
