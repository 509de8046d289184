"""Temporal Schedules the product relies on, created idempotently when a worker starts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.codec import EncryptionCodec
from core.settings import Settings
from models.access_review_io import AccessReviewInput
from models.list_age_io import ListAgeInput
from models.onboarding_io import RescreenInput
from models.process_watch_io import SweepInput
from models.screening_io import DeltaRescreenInput

log = logging.getLogger(__name__)

# The schedules start workflows by their type name: core imports no workflow (the worker
# registers them; docs/architecture.md).
RESCREEN_SCHEDULE_ID = "rescreen-customers"
RESCREEN_WORKFLOW = "RescreenWorkflow"
DELTA_RESCREEN_WORKFLOW = "DeltaRescreenWorkflow"
PROCESS_WATCH_SCHEDULE_ID = "process-watch"
PROCESS_WATCH_WORKFLOW = "ProcessWatchWorkflow"
ACCESS_REVIEW_SCHEDULE_ID = "access-review"
ACCESS_REVIEW_WORKFLOW = "AccessReviewWorkflow"
LIST_AGE_SCHEDULE_ID = "watch-list-age"
LIST_AGE_WORKFLOW = "ListAgeWorkflow"


def rescreen_schedule(settings: Settings, schedule_id: str = RESCREEN_SCHEDULE_ID) -> Schedule:
    return _every(
        RESCREEN_WORKFLOW,
        RescreenInput(),
        schedule_id,
        settings,
        timedelta(hours=settings.rescreen_interval_hours),
    )


def process_watch_schedule(
    settings: Settings, schedule_id: str = PROCESS_WATCH_SCHEDULE_ID
) -> Schedule:
    """The sweep for case workflows ended outside backoffice (terminated, cancelled, reset)."""
    return _every(
        PROCESS_WATCH_WORKFLOW,
        SweepInput(),
        schedule_id,
        settings,
        timedelta(minutes=settings.process_watch_interval_minutes),
    )


def access_review_schedule(
    settings: Settings, schedule_id: str = ACCESS_REVIEW_SCHEDULE_ID
) -> Schedule:
    """A quarterly access-review campaign: 1 January, April, July and October, 06:00 UTC."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ACCESS_REVIEW_WORKFLOW,
            AccessReviewInput(trigger="schedule"),
            id=schedule_id,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    month=[ScheduleRange(1, 10, 3)],
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(6)],
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def list_age_schedule(settings: Settings, schedule_id: str = LIST_AGE_SCHEDULE_ID) -> Schedule:
    """Daily: a case for compliance per watch list older than its maximum age."""
    return _every(LIST_AGE_WORKFLOW, ListAgeInput(), schedule_id, settings, timedelta(days=1))


def _every(
    workflow: str, arg: object, schedule_id: str, settings: Settings, every: timedelta
) -> Schedule:
    """One workflow run every `every` on our task queue."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow, arg, id=schedule_id, task_queue=settings.task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A run still going when the next is due: skip the next, never run two at once.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(
    client: Client,
    settings: Settings,
    *,
    schedule_id: str = RESCREEN_SCHEDULE_ID,
    watch_schedule_id: str = PROCESS_WATCH_SCHEDULE_ID,
    review_schedule_id: str = ACCESS_REVIEW_SCHEDULE_ID,
    list_age_schedule_id: str = LIST_AGE_SCHEDULE_ID,
) -> None:
    """Create the schedules, or bring them in line with the settings (queue, interval)."""
    await ensure_schedule(client, schedule_id, rescreen_schedule(settings, schedule_id))
    await ensure_schedule(
        client, watch_schedule_id, process_watch_schedule(settings, watch_schedule_id)
    )
    await ensure_schedule(
        client, review_schedule_id, access_review_schedule(settings, review_schedule_id)
    )
    await ensure_schedule(
        client, list_age_schedule_id, list_age_schedule(settings, list_age_schedule_id)
    )


async def ensure_schedule(client: Client, schedule_id: str, wanted: Schedule) -> None:
    """Create one schedule, or update it when its workflow, queue or interval differ."""
    try:
        await client.create_schedule(schedule_id, wanted)
        log.info("created schedule %s", schedule_id)
        return
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)
    described = await handle.describe()
    if _shape(described.schedule) != _shape(wanted) or not _sealed(client, described):
        await handle.update(lambda _: ScheduleUpdate(schedule=wanted))
        log.info("updated schedule %s to the current settings", schedule_id)


def _sealed(client: Client, described: ScheduleDescription) -> bool:
    """The schedule's stored input is encrypted with the current key: one written before
    payloads were encrypted, or before a key rotation, would start runs our workers refuse."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        return True
    stored = described.raw_description.schedule.action.start_workflow.input.payloads
    return all(codec.sealed_with_current_key(p) for p in stored)


def _shape(schedule: Schedule) -> tuple[object, ...]:
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    return (
        action.workflow,
        action.task_queue,
        tuple(i.every for i in schedule.spec.intervals),
        tuple(_calendar_shape(c) for c in schedule.spec.calendars),
    )


def _calendar_shape(calendar: ScheduleCalendarSpec) -> tuple[object, ...]:
    """A calendar as the server reads it back (a range's end defaults to its start)."""

    def ranges(values: Sequence[ScheduleRange]) -> tuple[tuple[int, int, int], ...]:
        return tuple((r.start, max(r.end, r.start), r.step or 1) for r in values)

    return (
        ranges(calendar.second),
        ranges(calendar.minute),
        ranges(calendar.hour),
        ranges(calendar.day_of_month),
        ranges(calendar.month),
        ranges(calendar.year),
        ranges(calendar.day_of_week),
    )


def imported_rescreen_id(created_at: datetime) -> str:
    return f"rescreen-import-{created_at.strftime('%Y%m%dT%H%M%S%f')}"


async def rescreen_imported(client: Client, settings: Settings, created_at: datetime) -> str:
    """Screen the customers one import created (their `created_at`), not the whole book:
    a run of the re-screening workflow of its own, id named after the import (starting it
    twice starts it once). The workflow id."""
    workflow_id = imported_rescreen_id(created_at)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            RESCREEN_WORKFLOW,
            RescreenInput(created_at=created_at),
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    return workflow_id


def delta_rescreen_id(version_label: str) -> str:
    """`rescreen-delta-UN-SC-2026-02-27`: one delta re-screen per list version."""
    return "rescreen-delta-" + version_label.replace(" ", "-")


async def start_delta_rescreen(
    client: Client, settings: Settings, version_id: int, version_label: str
) -> str:
    """After importing a list version: lapse the hits on its removed entries and re-screen
    only the customers its added or changed entries can touch (DeltaRescreenWorkflow,
    id named after the version; starting it twice starts it once). The workflow id."""
    workflow_id = delta_rescreen_id(version_label)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            DELTA_RESCREEN_WORKFLOW,
            DeltaRescreenInput(version_id=version_id),
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    return workflow_id


async def trigger_rescreen(client: Client, *, schedule_id: str = RESCREEN_SCHEDULE_ID) -> None:
    """Re-screen now (e.g. right after importing a new list version). A run still going
    is not interrupted: this one starts when it ends, so the new list is always screened."""
    await client.get_schedule_handle(schedule_id).trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
