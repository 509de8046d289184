"""Out-of-band endings of case workflows, and what is passed around to notice and repair them.

A case's workflow terminated, cancelled, failed, timed out or reset by someone outside the
product (the Temporal CLI or UI) leaves the case open with nobody working it. The periodic
sweep records each such ending once (one row per ended run), flags the case, and starts a
repair workflow in which an engineer proposes a resume or a close and a second engineer
approves it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from models.base import tz, tz_now, uuid_pk


class EndingKind(StrEnum):
    TERMINATED = "terminated"
    CANCELLED = "cancelled"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    RESET = "reset"


class ProcessEnding(SQLModel, table=True):
    __tablename__ = "process_ending"
    __table_args__ = (UniqueConstraint("workflow_id", "run_id", name="uq_process_ending_run"),)

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    workflow_id: str = Field(max_length=200)
    run_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=1000)  # Temporal's recorded reason
    identity: str | None = Field(default=None, max_length=300)  # who did it, as Temporal says
    ended_at: datetime | None = tz(nullable=True)
    detected_at: datetime = tz_now()
    repair_workflow_id: str = Field(max_length=200, unique=True)
    repair_started: bool = False
    status: str = Field(default="open", max_length=16)  # open | resumed | closed
    resolution: str | None = Field(default=None, max_length=16)
    resolution_reason: str | None = Field(default=None, max_length=500)
    new_workflow_id: str | None = Field(default=None, max_length=200)
    resolved_at: datetime | None = tz(nullable=True)
