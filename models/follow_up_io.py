"""What the case snooze workflow is told and passes to its activity (plain models: sandbox-safe).

Ids and times only: a snooze's reason and comment stay in PostgreSQL (`case_snooze`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

# The snooze timer of one case: its workflow type, id and signal, named once for the kernel
# (casework/snooze.py starts and signals it by name, without importing workflow code).
SNOOZE_WORKFLOW = "CaseSnoozeWorkflow"
SNOOZE_SIGNAL = "reschedule"


def snooze_workflow_id(case_id: uuid.UUID) -> str:
    return f"snooze-{case_id}"


class SnoozeTimer(BaseModel):
    """When the case's snooze ends; `until=None`: no snooze is in force any more."""

    case_id: uuid.UUID
    until: datetime | None = None


class WakeCaseInput(BaseModel):
    case_id: uuid.UUID
    # The workflow's clock when its timer fired: a snooze ending at or before it is over
    # (a worker's skewed clock does not move the wake-up).
    now: datetime


class WakeResult(BaseModel):
    woke: bool = False  # a snooze ended now, its case back in the inbox
    # A later snooze is in force (it replaced the one this timer was set for): sleep on.
    snoozed_until: datetime | None = None
