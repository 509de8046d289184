"""The snooze timer's one side effect: end a case's snooze when its date has come."""

from __future__ import annotations

from temporalio import activity

from activities.outage import retry_on_outage
from casework.snooze import wake_due
from core.db import Database
from models.follow_up_io import WakeCaseInput, WakeResult


class FollowUpActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def wake_snoozed_case(self, inp: WakeCaseInput) -> WakeResult:
        """End the snooze in force if it is due at the workflow's `now`, notify those who
        work the case, audit it; or say which later snooze is in force. Idempotent."""
        return await wake_due(self.db, inp, workflow_id=activity.info().workflow_id or "")
