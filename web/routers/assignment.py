"""Assignment of a task to a named person by a team lead: the picker page and the JSON API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from casework import assignment as assignment_service
from models.cases import TaskPublic
from shared.errors import DomainError
from web.deps import CurrentActor, ServicesDep, in_path, require
from web.errors import error_response
from web.responses import API_ERRORS, WRITE_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

TASK = in_path("task", "task_id")
GUARD = [Depends(require("task", "assign", action="task.assign", about=TASK))]


class AssignRequest(BaseModel):
    assignee: str = Field(
        min_length=1,
        max_length=64,
        examples=["aml.alba"],
        description="Username (or id) of the person who is to hold the task",
    )


class AssigneeOption(BaseModel):
    user_id: uuid.UUID
    username: str
    display_name: str
    eligible: bool
    why_not: str | None = None


class AssigneeList(BaseModel):
    task: TaskPublic
    people: list[AssigneeOption]


async def _options(services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID) -> AssigneeList:
    task, people = await assignment_service.candidates(services.db, actor, task_id)
    return AssigneeList(
        task=task,
        people=[
            AssigneeOption(
                user_id=c.person.user_id,
                username=c.person.username,
                display_name=c.person.display_name,
                eligible=c.eligible,
                why_not=c.why_not,
            )
            for c in people
        ],
    )


# ----------------------------------------------------------------------------- JSON API
@api.get("/{task_id}/assignees", response_model=AssigneeList, dependencies=GUARD)
async def list_assignees(
    services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID
) -> AssigneeList:
    """Everyone holding the task's role, each eligible or not and why (team leads only)."""
    return await _options(services, actor, task_id)


@api.post(
    "/{task_id}/assign", response_model=TaskPublic, dependencies=GUARD, responses=WRITE_ERRORS
)
async def assign_task(
    services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID, body: AssignRequest
) -> TaskPublic:
    """Give an open or claimed task of your team to a named person, who is notified.
    403: not your team's task, or the person lacks its role or is excluded by segregation of
    duties (the message says why); 409: the task is no longer open."""
    return await assignment_service.assign_task(services.db, actor, task_id, body.assignee)


# ----------------------------------------------------------------------------- pages
@pages.get("/tasks/{task_id}/assign", dependencies=GUARD)
async def read_assign_page(
    request: Request, services: ServicesDep, actor: CurrentActor, task_id: uuid.UUID
) -> Response:
    options = await _options(services, actor, task_id)
    return render(request, "task_assign.html", {"options": options, "error": None})


@pages.post("/tasks/{task_id}/assign", dependencies=GUARD)
async def assign_task_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    task_id: uuid.UUID,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        task = await assignment_service.assign_task(services.db, actor, task_id, assignee)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        try:
            options = await _options(services, actor, task_id)
        except DomainError:
            return error_response(
                request, status=exc.status_code, code=exc.code, message=exc.message
            )
        return render(
            request,
            "task_assign.html",
            {"options": options, "error": exc.message, "typed": assignee},
            status_code=exc.status_code,
        )
    target = str(request.url_for("read_case", case_id=task.case_id))
    return RedirectResponse(f"{target}?notice=assigned", status_code=303)
