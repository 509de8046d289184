"""What the generic case workflow (manual cases: investigation, complaint) takes and passes to
its activities. Ids and codes only: no names, descriptions or comments travel to Temporal."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from models.workflow_io import TaskSpec


class GenericCaseInput(BaseModel):
    """The start input of `GenericCaseWorkflow`: the case row exists (opened in the same
    transaction that starts the workflow) and its type is declared with
    `casework.generic_case.standard_case`."""

    case_id: uuid.UUID
    case_type: str  # a registry case type run by GenericCaseWorkflow, e.g. "investigation"
    reference: str  # e.g. "INV-12": task titles read "Work investigation INV-12"
    opened_by: uuid.UUID | None = None  # never its senior reviewer


class CasePlanInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    case_type: str
    reference: str


class GenericCasePlan(BaseModel):
    """The case type's steps as the registry declared them when the case started: the task
    of each step's first round (later rounds differ only in key and id)."""

    case_type: str
    work: TaskSpec
    senior: TaskSpec
    escalation_role: str


class GenericStageInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    stage: str
