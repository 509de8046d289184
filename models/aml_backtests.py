"""A proposed AML rule change's backtest: a dry replay of history, its progress and result."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Integer
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz, tz_now, uuid_pk

BACKTEST_STATUSES = ("queued", "running", "done", "failed")
UNFINISHED = ("queued", "running")


class AmlBacktest(SQLModel, table=True):
    __tablename__ = "aml_backtest"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_aml_backtest_status"
        ),
    )

    id: uuid.UUID = uuid_pk()
    change_id: uuid.UUID | None = Field(
        default=None, foreign_key="change_request.id", index=True, nullable=True
    )
    rule_key: str = Field(max_length=120)
    proposed: dict[str, Any] | None = jsonb(default_factory=lambda: None, nullable=True)
    days: int
    period_from: datetime = tz()
    period_to: datetime = tz()
    status: str = Field(default="queued", max_length=20)
    total: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    judged: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    result: dict[str, Any] | None = jsonb(default_factory=lambda: None, nullable=True)
    error: str | None = Field(default=None, max_length=500)
    workflow_id: str | None = Field(default=None, max_length=200, unique=True)
    requested_by: str = Field(max_length=200)
    created_at: datetime = tz_now()
    started_at: datetime | None = tz(nullable=True)
    finished_at: datetime | None = tz(nullable=True)
