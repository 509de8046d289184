"""Maker-checker change requests and their API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz, tz_now, uuid_pk


class ChangeStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"
    APPLIED = "applied"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    ABORTED = "aborted"


OPEN_CHANGE_STATUSES = (ChangeStatus.PENDING_APPROVAL, ChangeStatus.SCHEDULED)
TargetType = Literal["fee", "limit", "config"]


class ChangeRequest(SQLModel, table=True):
    __tablename__ = "change_request"
    __table_args__ = (Index("ix_change_target_status", "target_type", "target_id", "status"),)

    id: uuid.UUID = uuid_pk()
    target_type: str = Field(max_length=20)
    target_id: uuid.UUID
    plan_id: uuid.UUID | None = Field(default=None, foreign_key="tariff_plan.id")  # None: config
    base_version: int
    before: dict[str, Any] = jsonb()
    after: dict[str, Any] = jsonb()
    reason: str = Field(max_length=2000)
    effective_at: datetime | None = tz(nullable=True)
    status: str = Field(default=ChangeStatus.PENDING_APPROVAL, max_length=20, index=True)
    status_reason: str | None = Field(default=None, max_length=500)
    tier: str = Field(default="standard", max_length=20)
    maker_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    case_id: uuid.UUID = Field(foreign_key="case.id", unique=True)
    workflow_id: str = Field(max_length=200, unique=True)
    created_at: datetime = tz_now()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    closed_at: datetime | None = tz(nullable=True)
    applied_version: int | None = None


# A proposed value: text or a whole number, or for a structured setting a list of objects.
ChangeValue = str | int | list[dict[str, str | int | bool | None]] | None


class ChangeCreate(BaseModel):
    """What a maker submits (UI form or `POST /api/v1/changes`)."""

    model_config = ConfigDict(extra="forbid")

    target_type: TargetType
    target_id: uuid.UUID
    # Values are text or whole numbers; a structured setting (the screening lists) takes a
    # list of objects, e.g. {"lists": [{"name": "UN-SC", "max_age_days": 3}]}.
    changes: dict[str, str | int | list[dict[str, str | int | bool | None]] | None] = PydanticField(
        min_length=1
    )
    reason: str = PydanticField(min_length=10, max_length=2000)
    effective_at: datetime | None = None

    @field_validator("reason")
    @classmethod
    def _reason_has_words(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 10:
            raise ValueError("give a reason of at least 10 characters")
        return value

    @field_validator("effective_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("effective_at must include a time zone (e.g. 2026-12-01T09:00:00Z)")
        return value


class ApprovalPublic(BaseModel):
    task_id: uuid.UUID
    task_key: str
    candidate_role: str
    status: str
    assignee: str | None
    outcome: str | None
    decided_by: str | None
    decided_at: datetime | None
    reason_code: str | None
    comment: str | None


class ChangePublic(BaseModel):
    id: uuid.UUID
    reference: str
    status: str
    status_reason: str | None
    workflow_id: str
    case_id: uuid.UUID
    target_type: str
    target_id: uuid.UUID
    target_label: str
    config_key: str | None = None  # the document's key when target_type is "config"
    plan_code: str
    base_version: int
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    effective_at: datetime | None
    tier: str
    maker: str
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    applied_version: int | None
    approvals: list[ApprovalPublic]
    # Under the one rule (casework/priority.py): its most urgent open approval's, else the case's.
    priority: str = "normal"


# A person's role change still awaiting approval (or its start date). No docstring: the
# API's schema has no description for it.
class PendingPublic(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    status: str
    maker: str
    add: list[str]
    remove: list[str]
    ends_at: str | None
    conflicts: list[str]
    created_at: datetime


class ChangeCreated(BaseModel):
    id: uuid.UUID
    reference: str
    status: str
    workflow_id: str
    case_id: uuid.UUID
    tier: str
