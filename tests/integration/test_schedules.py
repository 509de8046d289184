"""The re-screening Schedule: created (or brought in line with the settings) at every worker
start, and it runs RescreenWorkflow."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from core.schedules import ensure_schedules, trigger_rescreen
from core.settings import Settings
from models.onboarding_io import RescreenSummary
from tests.helpers import eventually
from workflows.rescreening import RESCREEN_SCHEDULE_ID

pytestmark = pytest.mark.usefixtures("onboarding_ready", "worker")


async def test_schedule_is_created_once_and_runs_a_rescreen(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    # A schedule of its own: other tests' workers (browser, `backoffice run`) share this
    # server and keep the product's schedule pointed at their queues.
    schedule_id = f"{RESCREEN_SCHEDULE_ID}-{uuid.uuid4().hex[:8]}"
    await ensure_schedules(client, settings, schedule_id=schedule_id)
    await ensure_schedules(client, settings, schedule_id=schedule_id)  # a second start: no change
    handle = client.get_schedule_handle(schedule_id)
    described = await handle.describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "RescreenWorkflow"
    assert action.task_queue == settings.task_queue
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=24)]

    # Changed settings (another interval) reach the existing schedule at the next start.
    await ensure_schedules(
        client, settings.model_copy(update={"rescreen_interval_hours": 12}), schedule_id=schedule_id
    )
    described = await handle.describe()
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=12)]
    await ensure_schedules(client, settings, schedule_id=schedule_id)

    await trigger_rescreen(client, schedule_id=schedule_id)

    async def started() -> str | None:
        recent = (await handle.describe()).info.recent_actions
        return recent[-1].action.workflow_id if recent else None  # type: ignore[attr-defined]

    workflow_id = await eventually(started, within=30, what="the triggered re-screening run")
    run = client.get_workflow_handle(workflow_id, result_type=RescreenSummary)
    try:
        summary = await asyncio.wait_for(run.result(), timeout=60)
    except TimeoutError:
        described = await run.describe()
        pending = described.raw_description.pending_activities
        raise AssertionError(
            f"the re-screening run did not finish: task queue "
            f"{described.raw_description.execution_config.task_queue.name!r}, "
            f"pending activities {[(a.activity_type.name, a.attempt, a.last_failure.message) for a in pending]}"
        ) from None
    assert summary.list_version and summary.list_version.startswith("OFAC-SDN")
    await handle.delete()
