"""Tasks: the inbox page and the JSON API for claim / release / decision."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from casework import cases as case_service
from casework import inbox as inbox_service
from casework import inbox_views
from casework import next_case as next_case_service
from casework import priority as priority_rule
from casework import tasks as task_service
from casework import workload as workload_service
from casework.inbox import InboxQuery
from identity import mfa
from models.cases import PRIORITIES, TaskPage, TaskPublic
from models.inbox_views import InboxViewPublic
from models.workflow_io import DecisionResult
from shared.errors import DomainError, Forbidden, Invalid, NotFound
from web.deps import (
    CurrentActor,
    HtmxRequest,
    OneOf,
    PageParam,
    PerPageParam,
    ServicesDep,
    TemporalDep,
    in_path,
    of_type,
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
Sort = Annotated[
    str,
    Query(
        max_length=20,
        description="priority (most urgent first, then due: the default), due, created, kind "
        "or case; a leading - reverses",
    ),
]
Sla = Annotated[str, OneOf(inbox_service.SLA_FILTERS)]
Text = Annotated[str | None, Query(max_length=100)]
SAVED_VIEW = in_path("inbox_view", "view_id")
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
    scope: Literal["mine", "available", "team"] = "available",
    kind: TaskKind | None = None,
    priority: Priority | None = None,
    sla: Sla | None = None,
    overdue: bool = False,
    role: Text = None,
    assignee: Text = None,
    q: Text = None,
    sort: Sort = inbox_service.DEFAULT_SORT,
    page: PageParam = 1,
    per_page: PerPageParam = 25,
) -> TaskPage:
    """`mine`: tasks I hold. `available`: open tasks of my roles that I may take. `team` (a
    lead's): their team's open and claimed tasks. Most urgent first (priority under the one
    rule, then due) unless `sort` says otherwise."""
    query = InboxQuery.of(
        scope=scope,
        kind=kind,
        priority=priority,
        sla=sla,
        overdue=overdue,
        role=role,
        assignee=assignee,
        q=q,
        sort=sort,
        page=page,
        per_page=per_page,
    )
    return await inbox_service.inbox(services.db, actor, query)


@api.post(
    "/next",
    response_model=TaskPublic,
    dependencies=[Depends(require("task", "work", action="task.next"))],
    responses=WRITE_ERRORS,
)
async def claim_next_task(services: ServicesDep, actor: CurrentActor) -> TaskPublic:
    """Claim the most urgent task available to me that segregation of duties lets me take
    (through the same door as a claim). 409 `nothing_available` says why there is none."""
    return await next_case_service.next_case(services.db, actor)


class SavedViewRequest(BaseModel):
    name: str = Field(min_length=1, max_length=60, examples=["Overdue L1 alerts"])
    query: str = Field(
        max_length=1000,
        description="The inbox's query string (as in /inbox?...): scope, kind, priority, sla, "
        "role, assignee, q, sort",
        examples=["scope=available&kind=aml_l1_review&sla=overdue"],
    )


@api.get(
    "/views",
    response_model=list[InboxViewPublic],
    dependencies=[Depends(require("task", "read", action="inbox.views"))],
)
async def list_saved_views(services: ServicesDep, actor: CurrentActor) -> list[InboxViewPublic]:
    """My saved inbox views."""
    return await inbox_views.list_views(services.db, actor)


@api.post(
    "/views",
    response_model=InboxViewPublic,
    status_code=201,
    dependencies=[
        Depends(require("task", "read", action="inbox.view_saved", about=of_type("inbox_view")))
    ],
    responses=WRITE_ERRORS,
)
async def save_view(
    services: ServicesDep, actor: CurrentActor, body: SavedViewRequest
) -> InboxViewPublic:
    """Name an inbox filter and sort. 409 when I already have a view of that name."""
    return await inbox_views.save_view(services.db, actor, body.name, body.query)


@api.delete(
    "/views/{view_id}",
    status_code=204,
    dependencies=[Depends(require("task", "read", action="inbox.view_deleted", about=SAVED_VIEW))],
    responses=WRITE_ERRORS,
)
async def delete_view(services: ServicesDep, actor: CurrentActor, view_id: uuid.UUID) -> Response:
    await inbox_views.delete_view(services.db, actor, view_id)
    return Response(status_code=204)


workload_api = APIRouter(prefix="/api/v1/workload", tags=["tasks"], responses=API_ERRORS)


@workload_api.get(
    "",
    response_model=workload_service.Workload,
    dependencies=[Depends(require("workload", "read", action="workload.read"))],
)
async def read_workload_api(
    services: ServicesDep, actor: CurrentActor, role: Text = None
) -> workload_service.Workload:
    """A lead's team: open and claimed tasks per person and per queue, overdue and due soon."""
    return await workload_service.workload(services.db, actor, role=role or None)


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
def _inbox_context(
    query: InboxQuery,
    result: TaskPage,
    mine_count: int,
    views: list[InboxViewPublic],
    actor: CurrentActor,
) -> dict[str, object]:
    return {
        "page_data": result,
        "scope": query.scope,
        "query": query,
        "filters": {
            "kind": query.kind or "",
            "priority": query.priority or "",
            "sla": query.sla or "",
            "role": query.role or "",
            "assignee": query.assignee or "",
            "q": query.q or "",
        },
        "priorities": PRIORITIES,
        "sla_filters": {"overdue": "Overdue", "due_soon": "Due soon"},
        "task_kinds": task_service.TASK_KINDS,
        "mine_count": mine_count,
        "pages": max(1, -(-result.total // result.per_page)),
        "views": views,
        "sees_team": inbox_service.sees_team(actor),
        "team_roles": inbox_service.team_candidate_roles(actor),
        "sort_columns": {
            "case": "Case",
            "kind": "Task",
            "priority": "Priority",
            "due": "Due",
            "created": "Age",
        },
    }


@pages.get("/inbox")
async def read_inbox(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    scope: Literal["mine", "available", "team"] = "available",
    kind: Text = None,
    priority: Text = None,
    sla: Text = None,
    overdue: bool = False,
    role: Text = None,
    assignee: Text = None,
    q: Text = None,
    sort: Sort = inbox_service.DEFAULT_SORT,
    page: PageParam = 1,
) -> Response:
    query = InboxQuery.of(
        scope=scope,
        kind=kind,
        priority=priority,
        sla=sla,
        overdue=overdue,
        role=role,
        assignee=assignee,
        q=q,
        sort=sort,
        page=page,
    )
    return await _render_inbox(request, services, actor, htmx, query)


async def _render_inbox(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: bool,
    query: InboxQuery,
    *,
    refusal: str | None = None,
    status_code: int = 200,
) -> Response:
    result = await inbox_service.inbox(services.db, actor, query)
    mine_count, views = await inbox_views.held_and_views(services.db, actor)
    context = _inbox_context(query, result, mine_count, views, actor)
    context["refusal"] = refusal
    target = request.headers.get("hx-target")
    block = "task_list" if htmx and target == "task-list" else None
    return render(request, "inbox.html", context, block=block, status_code=status_code)


@pages.post("/inbox/next", dependencies=[Depends(require("task", "work", action="task.next"))])
async def next_case_form(
    request: Request, services: ServicesDep, actor: CurrentActor, htmx: HtmxRequest
) -> Response:
    """Claim the most urgent task I may take and open its case; or say why there is none."""
    try:
        task = await next_case_service.next_case(services.db, actor)
    except next_case_service.NothingAvailable as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        return await _render_inbox(
            request, services, actor, False, InboxQuery(), refusal=exc.message, status_code=409
        )
    target = str(request.url_for("read_case", case_id=task.case_id)) + "#decide"
    if htmx:
        return Response(status_code=200, headers={"HX-Location": target})
    return RedirectResponse(target, status_code=303)


@pages.post(
    "/inbox/views",
    dependencies=[
        Depends(require("task", "read", action="inbox.view_saved", about=of_type("inbox_view")))
    ],
)
async def save_view_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    name: Annotated[str, Form(max_length=60)] = "",
    query: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        view = await inbox_views.save_view(services.db, actor, name, query)
    except (Invalid, DomainError) as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        try:
            shown = inbox_views.normalize(query)
        except Invalid:
            shown = InboxQuery()
        return await _render_inbox(
            request,
            services,
            actor,
            False,
            shown,
            refusal=f"The view was not saved: {exc.message}",
            status_code=exc.status_code,
        )
    return RedirectResponse(view.url, status_code=303)


@pages.post(
    "/inbox/views/{view_id}/delete",
    dependencies=[Depends(require("task", "read", action="inbox.view_deleted", about=SAVED_VIEW))],
)
async def delete_view_form(
    request: Request, services: ServicesDep, actor: CurrentActor, view_id: uuid.UUID
) -> Response:
    await inbox_views.delete_view(services.db, actor, view_id)
    return RedirectResponse(str(request.url_for("read_inbox")), status_code=303)


@pages.get("/workload", dependencies=[Depends(require("workload", "read", action="workload.read"))])
async def read_workload(
    request: Request, services: ServicesDep, actor: CurrentActor, role: Text = None
) -> Response:
    result = await workload_service.workload(services.db, actor, role=role or None)
    return render(
        request,
        "workload.html",
        {"workload": result, "role": role or "", "sla_text": priority_rule.SLA_STATES},
    )


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
    second_factor: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    task = await inbox_service.get_task(services.db, actor, task_id)
    if task is None:
        raise NotFound(f"No task with id {task_id} that you can see.")
    case_url = str(request.url_for("read_case", case_id=task.case_id))
    try:
        if second_factor.strip():
            # Step-up: the code first (a wrong one is refused and audited), then the decision.
            await mfa.prove(
                services.db,
                services.settings,
                actor.ref,
                second_factor,
                session_id=actor.session_id,
                origin=actor.origin,
                action="auth.step_up",
                details={"task_id": str(task_id)},
            )
        try:
            result = await task_service.decide_task(
                services.db,
                temporal,
                actor,
                task_id,
                outcome=outcome,
                reason=reason,
                comment=comment,
            )
        except Forbidden as exc:
            if exc.code != mfa.STEP_UP_REQUIRED:
                raise
            # Asked on the form itself: the code field, with what to do.
            raise Invalid(
                exc.message, code=exc.code, fields={"second_factor": "enter the current code"}
            ) from None
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
