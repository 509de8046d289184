"""The re-screening Schedule: created (or brought in line with the settings) at every worker
start, and it runs RescreenWorkflow."""

from __future__ import annotations

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
    await ensure_schedules(client, settings)
    await ensure_schedules(client, settings)  # a second worker start changes nothing
    handle = client.get_schedule_handle(RESCREEN_SCHEDULE_ID)
    described = await handle.describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "RescreenWorkflow"
    assert action.task_queue == settings.task_queue
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=24)]

    # Changed settings (another interval) reach the existing schedule at the next start.
    await ensure_schedules(client, settings.model_copy(update={"rescreen_interval_hours": 12}))
    described = await handle.describe()
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=12)]
    await ensure_schedules(client, settings)

    await trigger_rescreen(client)

    async def started() -> str | None:
        recent = (await handle.describe()).info.recent_actions
        return recent[-1].action.workflow_id if recent else None  # type: ignore[attr-defined]

    workflow_id = await eventually(started, within=30, what="the triggered re-screening run")
    run = client.get_workflow_handle(workflow_id, result_type=RescreenSummary)
    summary = await run.result()
    assert summary.list_version and summary.list_version.startswith("OFAC-SDN")
