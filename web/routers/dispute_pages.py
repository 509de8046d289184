"""Dispute reading pages and JSON: the queue (soonest scheme deadline first) and the report
with its CSV export.

A dispute's own section is part of the case page (casework.cases.get_case); the forms on it
post to web.routers.disputes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from configuration.documents import load_typed
from disputes.policy import DisputePolicy
from disputes.queries import queue
from disputes.queries import report as report_service
from disputes.rules import CATEGORIES, OUTCOMES, STAGES
from shared.errors import Invalid
from web.deps import CurrentActor, HtmxRequest, OneOf, PageParam, PerPageParam, ServicesDep
from web.responses import API_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1", tags=["disputes"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)
PER_PAGE = 25
REPORT_DAYS = 90

Status = Literal["open", "closed", "all"]
Search = Annotated[
    str | None,
    Query(max_length=100, description="Dispute reference, customer name or reference, merchant."),
]
Within = Annotated[
    int | None,
    Query(ge=0, le=queue.MAX_WITHIN_DAYS, description="Current deadline within this many days."),
]


def _blank(value: str | None) -> str | None:
    return (value or "").strip() or None


# ----------------------------------------------------------------------------- JSON API
@api.get("/disputes", response_model=queue.DisputeQueuePage)
async def list_disputes_api(
    services: ServicesDep,
    actor: CurrentActor,
    status: Status = "open",
    stage: Annotated[str, OneOf(STAGES)] | None = None,
    category: Annotated[str, OneOf(CATEGORIES)] | None = None,
    outcome: Annotated[str, OneOf(OUTCOMES)] | None = None,
    within: Within = None,
    q: Search = None,
    page: PageParam = 1,
    per_page: PerPageParam = PER_PAGE,
) -> queue.DisputeQueuePage:
    """Disputes (open ones unless `status` says otherwise), the soonest current deadline first.

    Each item carries its stage, the current stage's deadline with whose it is (`ours` or
    `merchant`) and a countdown, and `at_risk` when our deadline is within the policy's
    warning days or past. `within` keeps disputes whose current deadline falls within that
    many days (overdue ones included).
    """
    return await queue.dispute_queue(
        services.db,
        actor,
        status=status,
        stage=_blank(stage),
        category=_blank(category),
        outcome=_blank(outcome),
        within_days=within,
        q=_blank(q),
        page=page,
        per_page=per_page,
    )


# ----------------------------------------------------------------------------- pages
@pages.get("/disputes")
async def list_disputes(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    status: Status = "open",
    stage: Annotated[str | None, Query(max_length=30)] = None,
    category: Annotated[str | None, Query(max_length=30)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    within: Annotated[str | None, Query(max_length=5)] = None,
    q: Search = None,
    page: PageParam = 1,
    per_page: PerPageParam = PER_PAGE,
) -> Response:
    # The form sends an empty `within` when no number is typed: that is no filter.
    within_days = None
    if _blank(within):
        if not (within or "").strip().isdigit():
            raise Invalid(
                "The queue's filters are not valid.", fields={"within": "a number of days"}
            )
        within_days = int((within or "").strip())
    result = await queue.dispute_queue(
        services.db,
        actor,
        status=status,
        stage=_blank(stage),
        category=_blank(category),
        outcome=_blank(outcome),
        within_days=within_days,
        q=_blank(q),
        page=page,
        per_page=per_page,
    )
    filters = {
        "status": status,
        "stage": _blank(stage) or "",
        "category": _blank(category) or "",
        "outcome": _blank(outcome) or "",
        "within": "" if within_days is None else str(within_days),
        "q": _blank(q) or "",
    }
    if per_page != PER_PAGE:
        filters["per_page"] = str(per_page)
    context = {
        "result": result,
        "pages": max(1, -(-result.total // result.per_page)),
        "filters": filters,
        "rest": urlencode({k: v for k, v in filters.items() if v}),
        "stages": STAGES,
        "categories": {k: queue.category_label(k) for k in CATEGORIES},
        "outcomes": OUTCOMES,
    }
    block = "dispute_list" if htmx and request.headers.get("hx-target") == "dispute-queue" else None
    return render(request, "disputes.html", context, block=block)


async def _report(
    services: ServicesDep,
    actor: CurrentActor,
    start: date | None,
    end: date | None,
    within: int | None,
) -> report_service.DisputeReport:
    last = end or datetime.now(UTC).date()
    first = start or last - timedelta(days=REPORT_DAYS - 1)
    if first > last:
        raise Invalid("The period starts after it ends.", fields={"from": "on or before 'to'"})
    if within is None:
        _, policy = await load_typed(services.db, "disputes", DisputePolicy)
        within = policy.deadline_warning_days
    return await report_service.build_report(
        services.db, actor, start=first, end=last, within_days=within
    )


From = Annotated[date | None, Query(alias="from", description="First UTC day, included.")]
To = Annotated[date | None, Query(alias="to", description="Last UTC day, included.")]
RiskDays = Annotated[int | None, Query(ge=0, le=365)]


@pages.get("/disputes/report")
async def dispute_report(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    start: From = None,
    end: To = None,
    within: RiskDays = None,
) -> Response:
    report = await _report(services, actor, start, end, within)
    query = {"from": report.start.isoformat(), "to": report.end.isoformat()}
    return render(
        request,
        "dispute_report.html",
        {
            "report": report,
            "charts": report.charts(),
            "query": urlencode({**query, "within": report.within_days}),
            "outcomes": OUTCOMES,
        },
    )


@pages.get("/disputes/report.csv")
async def dispute_report_csv(
    services: ServicesDep,
    actor: CurrentActor,
    start: From = None,
    end: To = None,
    within: RiskDays = None,
    table: Literal["summary", "stages", "categories", "at_risk"] = "summary",
) -> Response:
    report = await _report(services, actor, start, end, within)
    filename, text = report_service.to_csv(report, table)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
