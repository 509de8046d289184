"""Enhanced due diligence of a politically exposed person: the analyst's source of funds.

The record travels with the decision on the case's EDD task, through the same choke point as
every decision (claim, role, segregation): `details` carries the codes (where the funds come
from, the evidence seen), the comment the analyst's note. The onboarding workflow's update
validator applies the same rules (onboarding.rules.source_of_funds_problems) to a decision sent
around this form, and the senior approval that follows is refused to whoever recorded it.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field
from temporalio.client import Client

from casework.tasks import decide_task
from core.db import Database
from identity.access import record_refusal, require
from identity.actors import Actor
from models.cases import Task
from models.onboarding import Application
from models.workflow_io import DecisionResult
from onboarding.rules import EDD_APPROVE, STEP_KINDS, source_of_funds_problems
from shared.errors import Conflict, DomainError, Invalid, NotFound

ACTION = "application.source_of_funds"
EDD_KIND = STEP_KINDS["edd"]


class SourceOfFundsForm(BaseModel):
    """What the analyst records on a PEP's enhanced due diligence task."""

    task_id: uuid.UUID = Field(description="The application case's EDD task, claimed by you.")
    source: str = Field(
        default="", max_length=40, description="Where the funds come from (a code)."
    )
    evidence: list[str] = Field(
        default_factory=list, max_length=8, description="The evidence seen (codes)."
    )
    note: str = Field(
        default="",
        max_length=4000,
        description="What the evidence shows and why it explains the funds.",
    )


async def record_source_of_funds(
    db: Database,
    temporal: Client,
    actor: Actor,
    application_id: uuid.UUID,
    form: SourceOfFundsForm,
) -> DecisionResult:
    """Check the record, then pass the EDD task with it; refusals say why, per field."""
    await require(
        db,
        actor,
        "task",
        "work",
        action=ACTION,
        object_type="application",
        object_id=application_id,
    )
    async with db.session() as session:
        application = await session.get(Application, application_id)
        task = await session.get(Task, form.task_id)
    error: DomainError | None = None
    if application is None or task is None or task.case_id != application.case_id:
        error = NotFound(
            "No such application, or that task is not this application's.", code="no_task"
        )
    elif task.kind != EDD_KIND:
        error = Invalid(
            "That task is not the application's enhanced due diligence step.", code="wrong_task"
        )
    elif application.outcome is not None:
        error = Conflict(f"This application is already {application.outcome}.", code="case_closed")
    else:
        fields = source_of_funds_problems(form.source, form.evidence, form.note)
        if fields:
            error = Invalid("The source of funds is not complete; see each field.", fields=fields)
    if error is not None:
        await record_refusal(
            db, actor, error, action=ACTION, object_type="application", object_id=application_id
        )
        raise error
    return await decide_task(
        db,
        temporal,
        actor,
        form.task_id,
        outcome=EDD_APPROVE,
        reason=None,
        comment=form.note,
        details={"source": form.source, "evidence": list(form.evidence)},
    )
