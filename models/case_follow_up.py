"""Follow-up on a case: snoozes (until a date, woken by a durable timer), tags, and why a
person opened a case by hand. Migration 0015."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, text
from sqlmodel import Field, SQLModel

from models.base import tz, tz_now, uuid_pk


class CaseSnooze(SQLModel, table=True):
    """One snooze of a case. In force while `ended_at` is null (at most one per case); ended
    by its timer, by a person waking it early, by a new snooze replacing it, or because the
    case closed meanwhile. Its reason code and comment never go to Temporal."""

    __tablename__ = "case_snooze"
    __table_args__ = (
        Index("ix_case_snooze_case_id", "case_id", "snoozed_at"),
        Index(
            "uq_case_snooze_active",
            "case_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id")
    snoozed_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    reason_code: str = Field(max_length=40)
    comment: str | None = Field(default=None, max_length=500)
    snoozed_by: uuid.UUID = Field(foreign_key="staff_user.id")
    snoozed_at: datetime = tz_now()
    ended_at: datetime | None = tz(nullable=True)
    ended_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    end_kind: str | None = Field(default=None, max_length=16)  # timer|woken|replaced|closed


class CaseTag(SQLModel, table=True):
    """A short label on a case (a lowercase slug, casework/tags.py), one row per tag."""

    __tablename__ = "case_tag"

    case_id: uuid.UUID = Field(foreign_key="case.id", primary_key=True)
    tag: str = Field(max_length=32, primary_key=True, index=True)
    added_by: uuid.UUID = Field(foreign_key="staff_user.id")
    added_at: datetime = tz_now()


class ManualCase(SQLModel, table=True):
    """Why a person opened a case by hand (investigation, complaint): kept here, not in
    the workflow's history."""

    __tablename__ = "manual_case"

    case_id: uuid.UUID = Field(foreign_key="case.id", primary_key=True)
    reason_code: str = Field(max_length=40)
    description: str = Field(max_length=2000)
    opened_by: uuid.UUID = Field(foreign_key="staff_user.id")
    opened_at: datetime = tz_now()


class SnoozePublic(SQLModel):
    """The snooze in force on a case, as the reader may see it."""

    id: uuid.UUID
    until: datetime
    reason_code: str
    reason_label: str
    comment: str | None  # None also when the reader may not read an AML case's words
    snoozed_by: str
    snoozed_at: datetime


class FollowUpPublic(SQLModel):
    """`GET /api/v1/cases/{id}/follow-up`: the snooze in force (if any) and the tags."""

    case_id: uuid.UUID
    snoozed: bool
    snooze: SnoozePublic | None
    tags: list[str]
