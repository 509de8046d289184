"""Registers every workflow and activity on the task queue and runs the worker."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.changes import ChangeActivities
from activities.tasks import TaskActivities
from core.db import Database, resolve_urls
from core.settings import Settings, get_settings
from core.temporal import connect, ensure_search_attributes
from workflows.change_approval import ChangeApprovalWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [ChangeApprovalWorkflow]


def activities_for(db: Database) -> list[object]:
    tasks, changes = TaskActivities(db), ChangeActivities(db)
    return [
        tasks.open_task,
        tasks.escalate_task,
        tasks.record_decision,
        changes.set_change_status,
        changes.apply_change,
    ]


def build_worker(client: Client, db: Database, task_queue: str, **options: object) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(db),  # type: ignore[arg-type]
        # Let in-flight activities finish on shutdown instead of abandoning them.
        graceful_shutdown_timeout=timedelta(seconds=10),
        **options,  # type: ignore[arg-type]
    )


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    client = await connect(settings.temporal_target, settings.temporal_namespace)
    await ensure_search_attributes(client, settings.temporal_namespace)
    db = Database(
        resolve_urls(settings).app,
        pool_size=settings.db_pool_size,
        application_name="backoffice-worker",
    )
    try:
        async with build_worker(client, db, settings.task_queue):
            log.info(
                "worker polling task queue %r on %s", settings.task_queue, settings.temporal_target
            )
            await asyncio.Event().wait()
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(run_worker())
