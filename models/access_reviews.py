"""Access reviews: a campaign over every active role grant, one item per grant (migration 0019)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from models.base import tz, uuid_pk


class AccessReview(SQLModel, table=True):
    __tablename__ = "access_review"

    id: uuid.UUID = uuid_pk()
    period: str = Field(max_length=40)
    workflow_id: str = Field(max_length=200, unique=True)
    status: str = Field(default="open", max_length=20)  # open | closed
    trigger: str = Field(max_length=20)  # schedule | manual
    started_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    opened_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    deadline: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    closed_at: datetime | None = tz(nullable=True)


class AccessReviewItem(SQLModel, table=True):
    __tablename__ = "access_review_item"

    id: uuid.UUID = uuid_pk()
    review_id: uuid.UUID = Field(foreign_key="access_review.id")
    assignment_id: uuid.UUID = Field(foreign_key="role_assignment.id")
    user_id: uuid.UUID = Field(foreign_key="staff_user.id")
    role: str = Field(max_length=40)
    # The role's configured owner; None: the administrators review it.
    reviewer_id: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    status: str = Field(default="pending", max_length=20)
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: datetime | None = tz(nullable=True)
    comment: str | None = Field(default=None, max_length=1000)
    change_id: uuid.UUID | None = Field(default=None, foreign_key="change_request.id")
    resolved_at: datetime | None = tz(nullable=True)
