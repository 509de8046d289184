"""Typed inputs and outputs of the AML case workflow and its activities.

Ids, categories and counts only: histories are readable in the Temporal UI, so names,
counterparties and amounts stay in the database. Every field added later needs a default.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AmlCaseInput(BaseModel):
    case_id: uuid.UUID
    customer_id: uuid.UUID
    reference: str
    # When the first alert was detected (database clock): the SAR deadline counts from here.
    detected_at: datetime


class AlertsAdded(BaseModel):
    """Signal: alerts attached to the case by an ingest (or the importer)."""

    alert_ids: list[uuid.UUID]


class AmlPolicyValues(BaseModel):
    version: int
    l1_sla_hours: int
    l2_sla_hours: int
    closure_approval_sla_hours: int
    mlro_sla_hours: int
    sar_deadline_days: int
    sar_reminder_days: int


class LoadAmlPolicyInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str


class AmlStageInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    tier: str
    priority: str = "normal"
    note: str | None = None  # why the case moved (e.g. "L1 SLA breached")
    automatic: bool = False


class AlertsNoticeInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    alert_ids: list[uuid.UUID]
    open_task_ids: list[uuid.UUID] = Field(default_factory=list)


class SarClockInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    event: str  # reminder | breach
    due_at: datetime


class FileSarInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    task_id: uuid.UUID
    decision: str  # sar | no_sar
    decided_by: uuid.UUID
    reason_code: str | None = None
    rationale: str | None = None
    alert_ids: list[uuid.UUID]


class CloseAmlCaseInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    outcome: str  # closed_false_positive | closed_explained | closed_duplicate | sar_filed | no_sar
    reason_code: str | None = None
    comment: str | None = None
    decided_by: uuid.UUID | None = None
    known_alert_ids: list[uuid.UUID]


class CloseAmlCaseResult(BaseModel):
    closed: bool
    # Alerts attached to the case that the workflow had not yet seen: the case stays open.
    unseen_alert_ids: list[uuid.UUID] = Field(default_factory=list)


# An account restriction as pages and the API show it (aml.commands.restrictions).
class PendingLift(BaseModel):
    """A lift proposed and still awaiting approval."""

    change_id: uuid.UUID
    reference: str
    case_id: uuid.UUID  # the change request's case
    maker: str
    created_at: datetime


class RestrictionPublic(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    iban: str
    currency: str
    customer_id: uuid.UUID
    case_id: uuid.UUID | None
    case_reference: str | None
    kind: str
    kind_label: str
    # None for readers outside AML casework (core banking, support): never tip off.
    reason: str | None
    created_by: str | None
    created_at: datetime
    status: Literal["active", "lifted"]
    lifted_at: datetime | None
    lift_change_id: uuid.UUID | None
    lift_change_reference: str | None = None
    lift_case_id: uuid.UUID | None = None  # the case of the change that lifted it
    pending_lift: PendingLift | None = None
