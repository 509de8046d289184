"""Temporal Schedules the product relies on, created idempotently when a worker starts."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)

from core.settings import Settings
from models.onboarding_io import RescreenInput
from workflows.rescreening import RESCREEN_SCHEDULE_ID, RescreenWorkflow

log = logging.getLogger(__name__)


def rescreen_schedule(settings: Settings, schedule_id: str = RESCREEN_SCHEDULE_ID) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RescreenWorkflow.run,
            RescreenInput(),
            id=schedule_id,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(hours=settings.rescreen_interval_hours))
            ]
        ),
        # A run still going when the next is due: skip the next, never run two at once.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(
    client: Client, settings: Settings, *, schedule_id: str = RESCREEN_SCHEDULE_ID
) -> None:
    """Create the schedule, or bring it in line with the settings (queue, interval)."""
    wanted = rescreen_schedule(settings, schedule_id)
    try:
        await client.create_schedule(schedule_id, wanted)
        log.info("created schedule %s", schedule_id)
        return
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)
    if _shape((await handle.describe()).schedule) != _shape(wanted):
        await handle.update(lambda _: ScheduleUpdate(schedule=wanted))
        log.info("updated schedule %s to the current settings", schedule_id)


def _shape(schedule: Schedule) -> tuple[object, ...]:
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    return (
        action.workflow,
        action.task_queue,
        tuple(i.every for i in schedule.spec.intervals),
    )


async def trigger_rescreen(client: Client, *, schedule_id: str = RESCREEN_SCHEDULE_ID) -> None:
    """Re-screen now (e.g. right after importing a new list version). A run still going
    is not interrupted: this one starts when it ends, so the new list is always screened."""
    await client.get_schedule_handle(schedule_id).trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
