"""Tasks: the inbox page and the JSON API for claim / release / decision."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from casework import cases as case_service
from casework import inbox as inbox_service
from casework import tasks as task_service
from models.cases import PRIORITIES, TaskPage, TaskPublic
from models.workflow_io import DecisionResult
from shared.errors import DomainError, Invalid, NotFound
from web.deps import (
    CurrentActor,
    HtmxRequest,
    OneOf,
    PageParam,
    PerPageParam,
    ServicesDep,
    TemporalDep,
    in_path,
    require,
)
from web.errors import error_response
from web.responses import API_ERRORS, WRITE_ERRORS
from web.routers.cases import case_page_context
from web.templating import render

api = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

TaskKind = Annotated[str, OneOf(task_service.TASK_KINDS)]
TASK = in_path("task", "task_id")
Priority = Annotated[str, OneOf(PRIORITIES)]
# Task actions are guarded by the role-level `task:work`; the task's own permission (an
# approval's `change:approve`, say) is checked once the task is loaded.


class DecisionRequest(BaseModel):
    outcome: str = Field(min_length=1, max_length=40, examples=["approve"])
    reason: str | None = Field(
        default=None,
        max_length=60,
        description="Reason code of the chosen outcome (required to reject; a SAR takes only "
        "SAR reasons, no-SAR only no-SAR reasons, a screening hit's confirmation only "
        "confirming ones)",
    )
    comment: str | None = Field(
        default=None,
        max_length=4000,
        description="Comment, or the MLRO's rationale: at least 30 characters for a SAR or "
        "no-SAR decision, 20 to escalate an AML case or to approve a high-risk application "
        "(counted without surrounding whitespace); 422 narrative_invalid names the field",
    )


# ----------------------------------------------------------------------------- JSON API
@api.get("", response_model=TaskPage)
async def list_tasks(
    services: ServicesDep,
    actor: CurrentActor,
    scope: Literal["mine", "available"] = "available",
    kind: TaskKind | None = None,
    priority: Priority | None = None,
    overdue: bool = False,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: PageParam = 1,
    per_page: PerPageParam = 25,
) -> TaskPage:
    """`mine`: tasks I hold. `available`: open tasks of my roles that I may take, by due time."""
    return await inbox_service.inbox(
        services.db,
        actor,
        scope=scope,
        kind=kind,
        priority=priority,
        overdue=overdue,
        q=q,
        page=page,
        per_page=per_page,
    )


@api.get("/{task_id}", response_model=TaskPublic)
async def read_task(services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID) -> TaskPublic:
    task = await inbox_service.get_task(services.db, actor, task_id)
    if task is None:
        raise NotFound(f"No task with id {task_id} that you can see.")
    return task


@api.post(
    "/{task_id}/claim",
    response_model=TaskPublic,
    dependencies=[Depends(require("task", "work", action="task.claim", about=TASK))],
    responses=WRITE_ERRORS,
)
async def claim_task(services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID) -> TaskPublic:
    """Take the task. 409 when someone else already holds it."""
    return await task_service.claim_task(services.db, actor, task_id)


@api.post(
    "/{task_id}/release",
    response_model=TaskPublic,
    dependencies=[Depends(require("task", "work", action="task.release", about=TASK))],
    responses=WRITE_ERRORS,
)
async def release_task(
    services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID
) -> TaskPublic:
    return await task_service.release_task(services.db, actor, task_id)


@api.post(
    "/{task_id}/decision",
    response_model=DecisionResult,
    dependencies=[Depends(require("task", "work", action="task.decide", about=TASK))],
    responses=WRITE_ERRORS,
)
async def decide_task(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    task_id: uuid.UUID,
    body: DecisionRequest,
) -> DecisionResult:
    """Decide a task you hold. 403: permission or segregation of duties; 409: state conflict."""
    return await task_service.decide_task(
        services.db,
        temporal,
        actor,
        task_id,
        outcome=body.outcome,
        reason=body.reason,
        comment=body.comment,
    )


# ----------------------------------------------------------------------------- pages
@pages.get("/inbox")
async def read_inbox(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    scope: Literal["mine", "available"] = "available",
    kind: str | None = None,
    priority: str | None = None,
    overdue: bool = False,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: PageParam = 1,
) -> Response:
    kind, priority = kind or None, priority or None
    result = await inbox_service.inbox(
        services.db,
        actor,
        scope=scope,
        kind=kind,
        priority=priority,
        overdue=overdue,
        q=q,
        page=page,
        per_page=25,
    )
    mine_count = await inbox_service.count_mine(services.db, actor)
    context = {
        "page_data": result,
        "scope": scope,
        "filters": {
            "kind": kind or "",
            "priority": priority or "",
            "overdue": overdue,
            "q": q or "",
        },
        "priorities": PRIORITIES,
        "task_kinds": task_service.TASK_KINDS,
        "mine_count": mine_count,
        "pages": max(1, -(-result.total // result.per_page)),
    }
    target = request.headers.get("hx-target")
    block = "task_list" if htmx and target == "task-list" else None
    return render(request, "inbox.html", context, block=block)


async def _row_or_redirect(
    request: Request,
    htmx: bool,
    task: TaskPublic,
    message: str,
) -> Response:
    if not htmx:
        return RedirectResponse(request.headers.get("referer") or "/inbox", status_code=303)
    return render(request, "partials/task_row.html", {"task": task, "notice": message, "oob": True})


@pages.post(
    "/tasks/{task_id}/claim",
    dependencies=[Depends(require("task", "work", action="task.claim", about=TASK))],
)
async def claim_task_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    task_id: uuid.UUID,
) -> Response:
    task = await task_service.claim_task(services.db, actor, task_id)
    return await _row_or_redirect(request, htmx, task, f"You hold {task.case_reference} now.")


@pages.post(
    "/tasks/{task_id}/release",
    dependencies=[Depends(require("task", "work", action="task.release", about=TASK))],
)
async def release_task_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    task_id: uuid.UUID,
) -> Response:
    task = await task_service.release_task(services.db, actor, task_id)
    return await _row_or_redirect(
        request, htmx, task, f"Released {task.case_reference}; it is back in the queue."
    )


@pages.post(
    "/tasks/{task_id}/decision",
    dependencies=[Depends(require("task", "work", action="task.decide", about=TASK))],
)
async def decide_task_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    task_id: uuid.UUID,
    outcome: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=60)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    task = await inbox_service.get_task(services.db, actor, task_id)
    if task is None:
        raise NotFound(f"No task with id {task_id} that you can see.")
    case_url = str(request.url_for("read_case", case_id=task.case_id))
    try:
        result = await task_service.decide_task(
            services.db, temporal, actor, task_id, outcome=outcome, reason=reason, comment=comment
        )
    except Invalid as exc:
        # What the decision says was refused (a reason of another outcome, a short
        # rationale): the form again, with what was typed and each field's problem.
        typed = {"task_id": str(task_id), "outcome": outcome, "reason": reason, "comment": comment}
        return await _decision_refused(request, services, actor, htmx, task, typed, exc)
    except DomainError as exc:
        if htmx:
            raise
        return error_response(
            request, status=exc.status_code, code=exc.code, message=exc.message, fields=exc.fields
        )
    target = f"{case_url}?notice=decided-{result.outcome}"
    if htmx:
        # The case page is fetched and swapped in by HTMX: no full reload.
        return Response(status_code=200, headers={"HX-Location": target})
    return RedirectResponse(target, status_code=303)


async def _decision_refused(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: bool,
    task: TaskPublic,
    typed: dict[str, str],
    error: Invalid,
) -> Response:
    """The decision form again with what was typed and why it was refused (422): alone for
    HTMX (it swaps itself), otherwise the whole case page."""
    request.state.error_reason = f"{error.code}: {error.message}"[:500]
    view = await case_service.get_case(services.db, actor, task.case_id)
    item = next((i for i in view.tasks if i.task.id == task.id), None) if view else None
    if view is None or item is None or not item.can_decide:
        return error_response(
            request,
            status=error.status_code,
            code=error.code,
            message=error.message,
            fields=error.fields,
        )
    context = await case_page_context(services, actor, view)
    context.update(
        {
            "decision_form": typed,
            "decision_errors": error.fields or {"request": error.message},
            "decision_error": error.message,
        }
    )
    if htmx:
        context.update({"item": item, "t": item.task})
        return render(request, "partials/decision_form.html", context, status_code=422)
    return render(request, "case.html", context, status_code=422)
