"""The append-only, hash-chained audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz_now


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    occurred_at: datetime = tz_now()
    actor_id: uuid.UUID | None = None
    actor: str = Field(max_length=100)  # username, or "system" / "workflow"
    action: str = Field(max_length=80, index=True)
    outcome: str = Field(max_length=16)  # success | denied | failure
    object_type: str | None = Field(default=None, max_length=40)
    object_id: str | None = Field(default=None, max_length=100, index=True)
    reason: str | None = Field(default=None, max_length=500)
    origin_ip: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64, index=True)
    workflow_id: str | None = Field(default=None, max_length=200, index=True)
    details: dict[str, Any] = jsonb()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class AuditCheckpoint(SQLModel, table=True):
    """The chain head as last verified; kept so that a truncated tail is noticed."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_hash: str = Field(max_length=64)
    event_count: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = tz_now()
