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
)

from core.settings import Settings
from models.onboarding_io import RescreenInput
from workflows.rescreening import RESCREEN_SCHEDULE_ID, RescreenWorkflow

log = logging.getLogger(__name__)


def rescreen_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RescreenWorkflow.run,
            RescreenInput(),
            id="rescreen-customers",
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


async def ensure_schedules(client: Client, settings: Settings) -> None:
    try:
        await client.create_schedule(RESCREEN_SCHEDULE_ID, rescreen_schedule(settings))
        log.info("created schedule %s", RESCREEN_SCHEDULE_ID)
    except ScheduleAlreadyRunningError:
        pass


async def trigger_rescreen(client: Client) -> None:
    """Re-screen now (e.g. right after importing a new list version)."""
    await client.get_schedule_handle(RESCREEN_SCHEDULE_ID).trigger(
        overlap=ScheduleOverlapPolicy.SKIP
    )
