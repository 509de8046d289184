"""Typed inputs and outputs passed between web, workflows and activities.

Plain pydantic models (no table rows), so fields can be added without breaking running
workflows: every new field needs a default.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Origin(BaseModel):
    """Where a request came from, carried into the audit events it produces."""

    ip: str | None = None
    request_id: str | None = None
    channel: str = "web"  # web | api | system | cli


class TaskSpec(BaseModel):
    """A human step a workflow wants done."""

    task_id: uuid.UUID
    task_key: str
    kind: str
    title: str
    candidate_role: str
    allowed_outcomes: list[str]
    reason_required_for: list[str] = Field(default_factory=list)
    excluded_actors: list[uuid.UUID] = Field(default_factory=list)
    sla_seconds: int
    priority: str = "normal"


class OpenTaskInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    spec: TaskSpec
    due_at: datetime


class EscalateTaskInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    task_id: uuid.UUID
    level: int
    priority: str
    next_due_at: datetime
    notify_role: str


class DecisionInput(BaseModel):
    """A staff member's decision on a task, sent as a Temporal Update."""

    task_id: uuid.UUID
    actor_id: uuid.UUID
    actor_name: str
    actor_roles: list[str]
    outcome: str
    reason_code: str | None = None
    comment: str | None = None
    origin: Origin = Field(default_factory=Origin)
    # What some steps decide besides the outcome (a break's resolution: the lines and
    # records matched by hand, a write-off's amount); kept with the decision.
    details: dict[str, Any] = Field(default_factory=dict)


class DecisionResult(BaseModel):
    task_id: uuid.UUID
    decision_id: uuid.UUID
    outcome: str
    # Filled in by the workflow, which knows where the case stands after the decision.
    case_status: str = ""


class RecordDecisionInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    decision: DecisionInput
    # Set for approvals bound to a version of their target (maker-checker).
    change_id: uuid.UUID | None = None
    # Tasks of this case that the decider must now be excluded from (tier separation).
    sibling_task_ids: list[uuid.UUID] = Field(default_factory=list)


class WithdrawInput(BaseModel):
    actor_id: uuid.UUID
    actor_name: str
    reason: str
    origin: Origin = Field(default_factory=Origin)


class TargetChanged(BaseModel):
    target_type: str
    target_id: uuid.UUID
    new_version: int
    by_change_id: uuid.UUID


class ChangeApprovalInput(BaseModel):
    change_id: uuid.UUID
    case_id: uuid.UUID
    reference: str
    target_type: str
    target_id: uuid.UUID
    base_version: int
    maker_id: uuid.UUID
    editor_ids: list[uuid.UUID] = Field(default_factory=list)
    tier: str
    approvals: list[TaskSpec]
    # Durations, not instants: the workflow measures them from its own start on the
    # server's clock, so a skewed web or worker clock cannot move a deadline.
    expiry_seconds: int
    effective_at: datetime | None = None
    escalation_role: str = "ops_manager"
    # A role change's end date: the grants it gave end then (a durable timer after apply).
    grant_ends_at: datetime | None = None
    # An AML rule change: approvals wait until its backtest has finished (the backtest
    # workflow signals `backtest_finished`).
    backtest: bool = False


class ChangeStatusInput(BaseModel):
    change_id: uuid.UUID
    case_id: uuid.UUID
    workflow_id: str
    status: str
    reason: str | None = None
    close_case: bool = False
    actor_id: uuid.UUID | None = None
    actor_name: str | None = None
    origin: Origin = Field(default_factory=Origin)
    details: dict[str, Any] = Field(default_factory=dict)


class ApplyChangeInput(BaseModel):
    change_id: uuid.UUID
    case_id: uuid.UUID
    workflow_id: str


class ExpireGrantsInput(BaseModel):
    """A role change's end date reached: end the grants it gave (ids only)."""

    change_id: uuid.UUID
    workflow_id: str


class ApplyChangeResult(BaseModel):
    applied: bool
    new_version: int | None = None
    stale_reason: str | None = None
    # Other open changes on the same target, now voided by this one.
    superseded_workflow_ids: list[str] = Field(default_factory=list)


class ChangeState(BaseModel):
    """What the `current_state` query returns."""

    status: str
    tier: str
    open_tasks: list[uuid.UUID]
    decided: dict[str, str]
    reason: str | None = None


class ExpireTaskInput(BaseModel):
    """A task whose time ran out undecided: closed as expired (the workflow moves on)."""

    case_id: uuid.UUID
    workflow_id: str
    task_id: uuid.UUID


class CloseCaseInput(BaseModel):
    """Close a case with the outcome of the step that ended it (casework.store.close_case)."""

    case_id: uuid.UUID
    workflow_id: str
    outcome: str
    reason_code: str | None = None
    decided_by: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
