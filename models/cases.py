"""Cases, the human tasks inside them, and the immutable decisions taken on those tasks."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import String
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz, tz_now, uuid_array, uuid_pk


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TaskStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN_TASK_STATUSES = (TaskStatus.OPEN, TaskStatus.CLAIMED)
PRIORITIES = ("low", "normal", "high", "urgent")


class Case(SQLModel, table=True):
    __tablename__ = "case"

    id: uuid.UUID = uuid_pk()
    reference: str = Field(max_length=32, unique=True)  # human-friendly, e.g. CHG-000123
    case_type: str = Field(max_length=40, index=True)
    title: str = Field(max_length=300)
    status: str = Field(default=CaseStatus.OPEN, max_length=16, index=True)
    stage: str = Field(default="open", max_length=40)
    priority: str = Field(default="normal", max_length=16)
    risk_level: str = Field(default="low", max_length=16)
    subject_type: str = Field(max_length=40)
    subject_id: str = Field(max_length=100, index=True)
    workflow_id: str = Field(max_length=200, unique=True)
    opened_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    opened_at: datetime = tz_now()
    closed_at: datetime | None = tz(nullable=True)
    outcome: str | None = Field(default=None, max_length=40)
    outcome_reason: str | None = Field(default=None, max_length=500)
    # The customer the case is about, when there is one (customer 360 lists its cases).
    customer_id: uuid.UUID | None = Field(default=None, foreign_key="customer.id", index=True)
    # Its workflow was terminated, cancelled or reset outside backoffice (see
    # models/process_watch.py): shown on the case page, in lists and in the API.
    process_ended_outside: bool = False


class Task(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("workflow_id", "task_key", name="uq_task_workflow_key"),
        Index("ix_task_inbox", "status", "candidate_role", "due_at"),
        Index("ix_task_assignee", "assignee_id", "status"),
    )

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    workflow_id: str = Field(max_length=200)
    task_key: str = Field(max_length=80)
    kind: str = Field(max_length=40)
    title: str = Field(max_length=300)
    candidate_role: str = Field(max_length=40)
    assignee_id: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    status: str = Field(default=TaskStatus.OPEN, max_length=16)
    priority: str = Field(default="normal", max_length=16)
    escalation_level: int = 0
    # The priority rule's rank (casework/priority.py), set by a database trigger (0017).
    urgency: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    allowed_outcomes: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False)
    )
    reason_required_for: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False)
    )
    excluded_actors: list[uuid.UUID] = uuid_array()
    created_at: datetime = tz_now()
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    claimed_at: datetime | None = tz(nullable=True)
    completed_at: datetime | None = tz(nullable=True)
    outcome: str | None = Field(default=None, max_length=40)


class Decision(SQLModel, table=True):
    """Outcome + reason + actor + time. Immutable: the app role may only insert."""

    __tablename__ = "decision"

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    task_id: uuid.UUID = Field(foreign_key="task.id", unique=True)
    outcome: str = Field(max_length=40)
    reason_code: str | None = Field(default=None, max_length=60)
    comment: str | None = Field(default=None, max_length=4000)
    actor_id: uuid.UUID = Field(foreign_key="staff_user.id")
    decided_at: datetime = tz_now()
    details: dict[str, Any] = jsonb()


class Notification(SQLModel, table=True):
    """Outbox of notifications to staff (escalations, reminders); delivery is a later concern."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_notification_dedupe"),)

    id: uuid.UUID = uuid_pk()
    dedupe_key: str = Field(max_length=200)
    recipient_role: str | None = Field(default=None, max_length=40)
    recipient_id: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    subject: str = Field(max_length=300)
    body: str = Field(max_length=4000)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id")
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = tz_now()


class CasePublic(SQLModel):
    """`GET /api/v1/cases`: a case in brief, as the reader may see it."""

    id: uuid.UUID
    reference: str
    case_type: str
    title: str
    status: str
    stage: str
    priority: str
    risk_level: str
    workflow_id: str
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    outcome_reason: str | None
    process_ended_outside: bool


class CasePage(SQLModel):
    items: list[CasePublic]
    total: int
    page: int
    per_page: int


class TaskPublic(SQLModel):
    id: uuid.UUID
    case_id: uuid.UUID
    case_reference: str
    case_type: str
    case_title: str
    workflow_id: str
    title: str
    kind: str
    candidate_role: str
    status: str
    priority: str
    escalation_level: int
    assignee: str | None
    assignee_id: uuid.UUID | None
    due_at: datetime
    created_at: datetime
    allowed_outcomes: list[str]
    reason_required_for: list[str]
    sla_state: str  # ok | due_soon | overdue | closed


class TaskPage(SQLModel):
    items: list[TaskPublic]
    total: int
    page: int
    per_page: int
