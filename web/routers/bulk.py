"""Bulk actions on AML tasks: the worklist with checkboxes, the streamed results page, the
JSON API. Each item goes through its own door (casework/bulk.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response, StreamingResponse
from markupsafe import Markup
from pydantic import BaseModel, Field

from aml.rules import CLOSE_REASONS
from casework import bulk as bulk_service
from identity.actors import Actor
from shared.errors import DomainError
from web.deps import CurrentActor, PageParam, ServicesDep, TemporalDep, of_type, require
from web.errors import error_response
from web.responses import API_ERRORS, WRITE_ERRORS
from web.services import Services
from web.templating import env, render

api = APIRouter(prefix="/api/v1/aml/bulk", tags=["aml"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

GUARD = [Depends(require("aml", "bulk", action="bulk", about=of_type("task")))]
# Where the streamed rows and summary go: constant comments, passed as Markup (never user text).
ROWS_MARK = Markup("<!--bulk-rows-->")
SUMMARY_MARK = Markup("<!--bulk-summary-->")
# Bulk runs carry on when the person closes the page: each holds its task until it ends.
_RUNNING: set[asyncio.Task[None]] = set()


class BulkBody(BaseModel):
    action: Literal["close", "release", "assign"]
    task_ids: list[uuid.UUID] = Field(min_length=1, max_length=bulk_service.MAX_ITEMS)
    reason: str | None = Field(
        default=None,
        max_length=60,
        description="To close: the closing reason code (false_positive, explained_activity, "
        "duplicate)",
    )
    comment: str | None = Field(default=None, max_length=4000)
    assignee: str | None = Field(
        default=None, max_length=64, description="To assign: the person's username"
    )


class BulkItemOut(BaseModel):
    task_id: uuid.UUID
    case_reference: str
    case_id: uuid.UUID | None
    done: bool
    code: str
    message: str


class QualityReviewOut(BaseModel):
    case_id: uuid.UUID
    reference: str
    reviewed_case_id: uuid.UUID


class BulkOut(BaseModel):
    action: str
    done: int
    refused: int
    items: list[BulkItemOut]
    quality_reviews: list[QualityReviewOut]


def _request(body: BulkBody) -> bulk_service.BulkRequest:
    return bulk_service.BulkRequest(
        action=body.action,
        task_ids=tuple(body.task_ids),
        reason=(body.reason or "").strip() or None,
        comment=(body.comment or "").strip() or None,
        assignee=(body.assignee or "").strip() or None,
    )


def _run(
    services: Services, temporal: object, actor: Actor, req: bulk_service.BulkRequest
) -> AsyncIterator[bulk_service.ItemResult | bulk_service.BulkSummary]:
    settings = services.settings
    return bulk_service.run_bulk(
        services.db,
        temporal,  # type: ignore[arg-type]
        actor,
        req,
        task_queue=settings.task_queue,
        qa_percent=settings.qa_sample_percent,
        qa_sla_hours=settings.qa_review_sla_hours,
    )


# ----------------------------------------------------------------------------- JSON API
@api.post("", response_model=BulkOut, dependencies=GUARD, responses=WRITE_ERRORS)
async def run_bulk(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor, body: BulkBody
) -> BulkOut:
    """Assign, release, or close (L1, with one reason code and comment) many AML tasks. Each
    item goes through the same door as a single action and reports its own result; a share of
    the closed cases opens a quality review (`quality_reviews`)."""
    req = _request(body)
    await bulk_service.check_request(services.db, actor, req)
    out = BulkOut(action=req.action, done=0, refused=0, items=[], quality_reviews=[])
    async for result in _run(services, temporal, actor, req):
        if isinstance(result, bulk_service.ItemResult):
            out.items.append(
                BulkItemOut(
                    task_id=result.task_id,
                    case_reference=result.reference,
                    case_id=result.case_id,
                    done=result.done,
                    code=result.code,
                    message=result.message,
                )
            )
        else:
            out.done, out.refused = result.done, result.refused
            out.quality_reviews = [
                QualityReviewOut(
                    case_id=q.case_id, reference=q.reference, reviewed_case_id=q.reviewed_case_id
                )
                for q in result.quality_reviews
            ]
    return out


# ----------------------------------------------------------------------------- pages
@pages.get("/aml/bulk", dependencies=GUARD)
async def read_bulk_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    page: PageParam = 1,
    l1: bool = False,
) -> Response:
    data = await bulk_service.worklist(services.db, actor, page=page, l1_only=l1)
    return render(
        request,
        "aml_bulk.html",
        {
            "data": data,
            "l1": l1,
            "close_reasons": CLOSE_REASONS,
            "actions": bulk_service.ACTIONS,
            "error": None,
        },
    )


@pages.post("/aml/bulk", dependencies=GUARD)
async def run_bulk_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    action: Annotated[str, Form(max_length=20)] = "",
    task_id: Annotated[list[str] | None, Form()] = None,
    reason: Annotated[str, Form(max_length=60)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    ids: list[uuid.UUID] = []
    for value in task_id or []:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    req = bulk_service.BulkRequest(
        action=action,
        task_ids=tuple(dict.fromkeys(ids)),
        reason=reason.strip() or None,
        comment=comment.strip() or None,
        assignee=assignee.strip() or None,
    )
    try:
        await bulk_service.check_request(services.db, actor, req)
    except DomainError as exc:
        if exc.status_code != 422:
            return error_response(
                request, status=exc.status_code, code=exc.code, message=exc.message
            )
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        data = await bulk_service.worklist(services.db, actor)
        return render(
            request,
            "aml_bulk.html",
            {
                "data": data,
                "l1": False,
                "close_reasons": CLOSE_REASONS,
                "actions": bulk_service.ACTIONS,
                "error": exc.message,
                "typed": {"action": action, "reason": reason, "comment": comment},
                "selected": {str(i) for i in ids},
            },
            status_code=422,
        )
    # The page streams: its head at once, one row per item as it is done, then the summary.
    # The run itself is a task of its own, so closing the page loses nothing.
    page = render(
        request,
        "aml_bulk_results.html",
        {
            "action": bulk_service.ACTIONS[action],
            "count": len(req.task_ids),
            "rows_mark": ROWS_MARK,
            "summary_mark": SUMMARY_MARK,
        },
    )
    head, _, rest = bytes(page.body).decode().partition(ROWS_MARK)
    middle, _, tail = rest.partition(SUMMARY_MARK)
    queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
    row = env.get_template("partials/bulk_result_row.html")
    summary = env.get_template("partials/bulk_summary.html")

    async def work() -> None:
        try:
            async for result in _run(services, temporal, actor, req):
                if isinstance(result, bulk_service.ItemResult):
                    await queue.put(("row", row.render(item=result, url_for=request.url_for)))
                else:
                    html = summary.render(s=result, url_for=request.url_for)
                    await queue.put(("summary", html))
        finally:
            await queue.put(None)

    job = asyncio.create_task(work())
    _RUNNING.add(job)
    job.add_done_callback(_RUNNING.discard)

    async def stream() -> AsyncIterator[str]:
        yield head
        rows_open = True
        while (chunk := await queue.get()) is not None:
            kind, html = chunk
            if kind == "summary" and rows_open:
                rows_open = False
                yield middle
            yield html
        if rows_open:
            yield middle
        yield tail

    headers = {k: v for k, v in page.headers.items() if k.lower() != "content-length"}
    return StreamingResponse(stream(), media_type="text/html; charset=utf-8", headers=headers)
