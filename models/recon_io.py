"""What reconciliation's workflows and activities pass to each other (plain models only).

Every new field needs a default: histories recorded before it must still replay.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from models.workflow_io import RecordDecisionInput


class StatementInput(BaseModel):
    statement_id: uuid.UUID
    reference: str


class ParseResult(BaseModel):
    refused: bool = False
    lines: int = 0
    sections: int = 0
    balance_ok: bool | None = None
    # When our records of the statement's period must have appeared (None: refused).
    record_window_ends_at: datetime | None = None
    policy_version: int | None = None


class OpenBreaksInput(BaseModel):
    """Every break of the statement that has no case yet gets one (and its workflow)."""

    statement_id: uuid.UUID


class OpenBreaksResult(BaseModel):
    opened: int = 0


class BreakInput(BaseModel):
    break_id: uuid.UUID
    case_id: uuid.UUID
    reference: str
    sla_seconds: int
    approval_sla_seconds: int


class ResolveBreakInput(BaseModel):
    break_id: uuid.UUID
    case_id: uuid.UUID
    workflow_id: str
    recording: RecordDecisionInput


class ResolutionResult(BaseModel):
    """What recording a resolution did: resolved now, or a write-off awaiting approval."""

    resolved: bool
    write_off_id: uuid.UUID | None = None
    decision_id: uuid.UUID | None = None


class WriteOffDecisionInput(BaseModel):
    break_id: uuid.UUID
    case_id: uuid.UUID
    workflow_id: str
    write_off_id: uuid.UUID
    approved: bool
    decided_by: uuid.UUID
