"""What the process-watch workflows pass to their activities (plain models: sandbox-safe)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class SweepInput(BaseModel):
    batch_size: int = 200


class SweepSummary(BaseModel):
    cases_checked: int = 0
    endings_found: int = 0
    repairs_started: int = 0


class RepairInput(BaseModel):
    ending_id: uuid.UUID
    case_id: uuid.UUID
    reference: str
    case_type: str
    kind: str
    workflow_id: str  # the ended workflow
    resumable: bool
    sla_seconds: int = 24 * 3600


class CarryOutRepairInput(BaseModel):
    ending_id: uuid.UUID
    repair_workflow_id: str
    outcome: str  # resume | close
    reason_code: str | None = None
    comment: str | None = None
    proposed_by: uuid.UUID
    proposed_by_name: str
    approved_by: uuid.UUID
    approved_by_name: str


class RepairResult(BaseModel):
    outcome: str
    new_workflow_id: str | None = None
