"""AML pages and JSON: the queue per tier, the filed SAR, the monitoring rules, the report.

The AML section of a case page is part of the case page (casework.cases.get_case); claim and
release reuse the inbox's routes, whose HTMX answer this queue's rows re-read themselves after.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from aml.queries import alert_list, case_view, expression_views, queue, rule_views
from aml.queries import report as report_service
from identity.access import not_found
from models.cases import PRIORITIES
from shared.errors import Invalid
from web.deps import (
    CurrentActor,
    HtmxRequest,
    LongPerPageParam,
    OneOf,
    PageParam,
    PerPageParam,
    ServicesDep,
)
from web.responses import API_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1", tags=["aml"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)
PER_PAGE = 25
REPORT_DAYS = 90


class SarPublic(BaseModel):
    case_id: uuid.UUID
    reference: str
    created_at: datetime
    data: dict[str, Any]


def _tiers(tier: str | None) -> list[str] | None:
    """'' → the actor's own tiers (None), 'all' → every tier, else that one tier."""
    if not tier:
        return None
    if tier == "all":
        return list(queue.TIERS)
    if tier not in queue.TIERS:
        raise Invalid("Unknown tier.", fields={"tier": ", ".join(("all", *queue.TIERS))})
    return [tier]


# ----------------------------------------------------------------------------- JSON API
@api.get("/aml/queue", response_model=queue.AmlQueuePage)
async def list_aml_queue(
    services: ServicesDep,
    actor: CurrentActor,
    tier: Annotated[str, OneOf(("all", *queue.TIERS))] | None = None,
    scope: Literal["all", "mine", "available"] = "all",
    priority: Annotated[str, OneOf(PRIORITIES)] | None = None,
    rule: Annotated[str | None, Query(max_length=40)] = None,
    page: PageParam = 1,
    per_page: PerPageParam = PER_PAGE,
    sort: Annotated[str, OneOf(tuple(queue.QUEUE_SORTS))] = queue.DEFAULT_SORT,
) -> queue.AmlQueuePage:
    """Open AML tasks of a tier (default: the tiers of your roles), most urgent first.

    `tier`: l1 | l2 | closure_approval | mlro | all. `scope`: all, mine (held by you),
    available (open tasks you may claim). `sort`: priority (default: priority, then the
    case's priority score, then due), priority_asc, due. Each item carries its SLA
    countdown and its case's priority score.
    """
    return await queue.aml_queue(
        services.db,
        actor,
        tiers=_tiers(tier),
        scope=scope,
        priority=priority or None,
        rule=rule or None,
        page=page,
        per_page=per_page,
        sort=sort,
    )


@api.get("/aml/cases/{case_id}/sar", response_model=SarPublic)
async def read_sar(services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID) -> SarPublic:
    """The suspicious activity report filed on an AML case, as it was filed."""
    sar = await case_view.sar_report(services.db, actor, case_id)
    if sar is None:
        raise await not_found(services.db, actor, "SAR report", case_id, action="aml.sar.read")
    return SarPublic(
        case_id=sar.case_id, reference=sar.reference, created_at=sar.created_at, data=sar.data
    )


@api.get("/aml/alerts", response_model=alert_list.AlertListPage)
async def list_aml_alerts(
    services: ServicesDep,
    actor: CurrentActor,
    rule: Annotated[str | None, Query(max_length=40)] = None,
    severity: Literal["high", "medium", "low"] | None = None,
    case_state: Literal["open", "closed"] | None = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Customer name or reference, or case reference."),
    ] = None,
    detected_from: Annotated[date | None, Query(description="First UTC day, included.")] = None,
    detected_to: Annotated[date | None, Query(description="Last UTC day, included.")] = None,
    page: PageParam = 1,
    per_page: LongPerPageParam = PER_PAGE,
) -> alert_list.AlertListPage:
    """Every alert the monitoring rules raised, newest first, with the case it went to."""
    return await alert_list.list_alerts(
        services.db,
        actor,
        rule=rule or None,
        severity=severity,
        case_state=case_state,
        q=(q or "").strip() or None,
        date_from=detected_from,
        date_to=detected_to,
        page=page,
        per_page=per_page,
    )


@pages.get("/aml/alerts")
async def read_aml_alerts(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    rule: Annotated[str | None, Query(max_length=40)] = None,
    severity: Literal["", "high", "medium", "low"] = "",
    case_state: Literal["", "open", "closed"] = "",
    q: Annotated[str | None, Query(max_length=100)] = None,
    detected_from: date | None = None,
    detected_to: date | None = None,
    page: PageParam = 1,
) -> Response:
    found = await alert_list.list_alerts(
        services.db,
        actor,
        rule=rule or None,
        severity=severity or None,
        case_state=case_state or None,
        q=(q or "").strip() or None,
        date_from=detected_from,
        date_to=detected_to,
        page=page,
        per_page=PER_PAGE,
    )
    filters = {
        "rule": rule or "",
        "severity": severity,
        "case_state": case_state,
        "q": q or "",
        "detected_from": detected_from.isoformat() if detected_from else "",
        "detected_to": detected_to.isoformat() if detected_to else "",
    }
    context = {
        "found": found,
        "pages": max(1, -(-found.total // PER_PAGE)),
        "filters": filters,
        "rest": urlencode({k: v for k, v in filters.items() if v}),
        "rules": await queue.known_rules(services.db),
        "severities": alert_list.SEVERITIES,
    }
    block = "alert_list" if htmx and request.headers.get("hx-target") == "aml-alerts" else None
    return render(request, "aml_alerts.html", context, block=block)


# ----------------------------------------------------------------------------- pages
@pages.get("/aml")
async def read_aml_queue(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    tier: Annotated[str | None, Query(max_length=20)] = None,
    scope: Literal["all", "mine", "available"] = "all",
    priority: Annotated[str | None, Query(max_length=16)] = None,
    rule: Annotated[str | None, Query(max_length=40)] = None,
    page: PageParam = 1,
    sort: Annotated[str, OneOf(tuple(queue.QUEUE_SORTS))] = queue.DEFAULT_SORT,
) -> Response:
    result = await queue.aml_queue(
        services.db,
        actor,
        tiers=_tiers(tier),
        scope=scope,
        priority=priority or None,
        rule=rule or None,
        page=page,
        per_page=PER_PAGE,
        sort=sort,
    )
    context = {
        "result": result,
        "pages": max(1, -(-result.total // PER_PAGE)),
        "filters": {
            "tier": tier or "",
            "scope": scope,
            "priority": priority or "",
            "rule": rule or "",
            "sort": sort,
        },
        # The filters besides the tier, for the tab links and the pager.
        "rest": urlencode(
            {"scope": scope, "priority": priority or "", "rule": rule or "", "sort": sort}
        ),
        # The priority column's header link: the other direction.
        "priority_sort": "priority_asc" if sort == "priority" else "priority",
        "unsorted_rest": urlencode(
            {"scope": scope, "priority": priority or "", "rule": rule or ""}
        ),
        "tiers": queue.TIERS,
        "tier_labels": queue.TIER_LABELS,
        "my_tiers": queue.default_tiers(actor),
        "priorities": PRIORITIES,
        "rules": await queue.known_rules(services.db),
    }
    block = "queue_list" if htmx and request.headers.get("hx-target") == "aml-queue" else None
    return render(request, "aml_queue.html", context, block=block)


@pages.get("/aml/queue/rows/{task_id}")
async def read_aml_queue_row(
    request: Request, services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID
) -> Response:
    """One queue row as it is now: a row re-reads itself after its claim or release."""
    item = await queue.queue_row(services.db, actor, task_id)
    if item is None:
        raise await not_found(services.db, actor, "task", task_id, action="aml.queue.row")
    return render(request, "partials/aml_queue_row.html", {"item": item})


@pages.get("/aml/cases/{case_id}/sar")
async def read_sar_page(
    request: Request, services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID
) -> Response:
    sar = await case_view.sar_report(services.db, actor, case_id)
    if sar is None:
        raise await not_found(services.db, actor, "SAR report", case_id, action="aml.sar.read")
    return render(
        request,
        "aml_sar.html",
        {"sar": sar, "data": sar.data, "times": case_view.sar_times(sar.data), "case_id": case_id},
    )


@pages.get("/aml/rules")
async def read_aml_rules(request: Request, services: ServicesDep, actor: CurrentActor) -> Response:
    documents = await rule_views.rule_documents(services.db, actor)
    written = await expression_views.expression_rules(services.db, actor)
    alerts = await expression_views.alerts_last_30_days(services.db)
    return render(
        request,
        "aml_rules.html",
        {
            "documents": documents,
            "written": written,
            "alerts_30d": alerts,
            "template_rules": expression_views.TEMPLATE_RULES,
        },
    )


def _date(value: str | None, name: str, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} is not a date.", fields={name: "a date as YYYY-MM-DD"}) from None


@pages.get("/aml/report")
async def read_aml_report(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    start: Annotated[str | None, Query(max_length=10, alias="from")] = None,
    end: Annotated[str | None, Query(max_length=10, alias="to")] = None,
    format: Literal["html", "csv"] = "html",
    table: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    today = datetime.now(UTC).date()
    last = _date(end, "to", today)
    first = _date(start, "from", last - timedelta(days=REPORT_DAYS - 1))
    if first > last:
        raise Invalid("The range starts after it ends.", fields={"from": "on or before 'to'"})
    report = await report_service.build_report(services.db, actor, start=first, end=last)
    if format == "csv":
        if table not in report_service.TABLES:
            raise Invalid("Choose a table to export.", fields={"table": "rules, sla or sar"})
        filename, text = report_service.to_csv(report, table)
        return Response(
            content=text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return render(
        request,
        "aml_report.html",
        {"report": report, "charts": report.charts(), "range": {"from": first, "to": last}},
    )
