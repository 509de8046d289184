"""The re-screening Schedule: created (or brought in line with the settings) at every worker
start, and it runs RescreenWorkflow.

The run screens every customer, so it runs in a database of its own, with a worker of its
own: the shared one holds the legacy import's 100 000 migrated customers, which re-screening
screens too (for minutes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleHandle
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from core.schedules import RESCREEN_SCHEDULE_ID, ensure_schedules, trigger_rescreen
from core.settings import Settings
from models.onboarding_io import RescreenSummary
from screening.commands.importer import DEFAULT_LIST_FILE, import_ofac_file
from tests.conftest import create_database
from tests.helpers import eventually
from worker import build_worker


@pytest.fixture
async def own_db(pg_socket: Path) -> AsyncIterator[Database]:
    urls = create_database(pg_socket, f"bo_schedule_{uuid.uuid4().hex[:6]}")
    database = Database(urls.app, pool_size=4, application_name="tests-schedule")
    await import_ofac_file(database, DEFAULT_LIST_FILE)
    yield database
    await database.dispose()


async def test_schedule_is_created_once_and_runs_a_rescreen(
    temporal_env: WorkflowEnvironment, own_db: Database, settings: Settings
) -> None:
    client = temporal_env.client
    # A queue of its own, served (below) by a worker on this test's database.
    settings = settings.model_copy(update={"task_queue": f"schedule-{uuid.uuid4().hex[:8]}"})
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

    async with build_worker(client, own_db, settings.task_queue):
        await trigger_rescreen(client, schedule_id=schedule_id)
        summary = await _finished_run(client, handle)
    assert summary.list_version and summary.list_version.startswith("OFAC-SDN")
    await handle.delete()


async def _finished_run(client: Client, handle: ScheduleHandle) -> RescreenSummary:
    """The result of the run the schedule started last."""

    async def started() -> str | None:
        recent = (await handle.describe()).info.recent_actions
        return recent[-1].action.workflow_id if recent else None  # type: ignore[attr-defined]

    workflow_id = await eventually(started, what="the triggered re-screening run")
    run = client.get_workflow_handle(workflow_id, result_type=RescreenSummary)
    try:
        summary = await asyncio.wait_for(run.result(), timeout=120)
    except TimeoutError:
        described = await run.describe()
        pending = described.raw_description.pending_activities
        raise AssertionError(
            f"the re-screening run did not finish: task queue "
            f"{described.raw_description.execution_config.task_queue.name!r}, "
            f"pending activities {[(a.activity_type.name, a.attempt, a.last_failure.message) for a in pending]}"
        ) from None
    return summary
