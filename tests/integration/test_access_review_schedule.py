"""The quarterly access-review Schedule: created at every worker start, unchanged by a second
start, due on the first day of each quarter."""

from __future__ import annotations

import uuid

from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from core.schedules import _shape, access_review_schedule, ensure_schedule
from core.settings import Settings


async def test_the_access_review_schedule_opens_a_campaign_each_quarter(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    schedule_id = f"access-review-{uuid.uuid4().hex[:8]}"
    wanted = access_review_schedule(settings, schedule_id)
    await ensure_schedule(client, schedule_id, wanted)
    handle = client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
        # What the server keeps reads back the same: a second start does not rewrite it.
        assert _shape(described.schedule) == _shape(wanted)
        await ensure_schedule(client, schedule_id, wanted)
        assert (await handle.describe()).info.last_updated_at == described.info.last_updated_at

        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "AccessReviewWorkflow"
        upcoming = described.info.next_action_times
        assert upcoming, "the schedule has a next run"
        for moment in upcoming:
            assert (moment.month, moment.day, moment.hour, moment.minute) in {
                (month, 1, 6, 0) for month in (1, 4, 7, 10)
            }
    finally:
        await handle.delete()
