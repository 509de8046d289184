"""Demo: one onboarding case whose workflow was terminated outside backoffice (as from the
Temporal CLI or UI), found by the process-watch sweep: the case shows the flag and an
engineer's repair task (resume or close, four-eyes) waits in eng.eli's inbox."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.schedules import PROCESS_WATCH_WORKFLOW
from core.settings import Settings
from demo.onboarding import _individual, _person, _settled
from demo.seed import actor_named
from models.cases import Task
from models.process_watch import ProcessEnding
from models.process_watch_io import SweepInput, SweepSummary
from onboarding.commands import intake


async def seed_process_endings(
    db: Database, temporal: Client, settings: Settings
) -> dict[str, int]:
    async with db.session() as session:
        if (await session.exec(select(ProcessEnding.id))).first():
            return {}
    service = await actor_named(db, "svc.corebank")
    data = _individual(
        "demo-kyc-ended-001", _person("Hannah Keller", "1986-10-07", "DE", city="Bonn"), "70000"
    )
    accepted = await intake.submit_application(db, temporal, settings, service, data)
    await _settled(db, accepted.application_id)  # waiting for an analyst
    await temporal.get_workflow_handle(accepted.workflow_id).terminate(
        reason="demo: terminated from the Temporal UI during an incident"
    )
    # What the schedule does every few minutes, once, now.
    summary = await temporal.execute_workflow(
        PROCESS_WATCH_WORKFLOW,
        SweepInput(),
        id=f"process-watch-seed-{accepted.application_id}",
        task_queue=settings.task_queue,
        result_type=SweepSummary,
    )
    # The repair workflow opens the engineer's task before the seed's worker stops.
    for _ in range(400):
        async with db.session() as session:
            opened = (
                await session.exec(
                    select(Task.id)
                    .join(ProcessEnding, col(ProcessEnding.repair_workflow_id) == Task.workflow_id)
                    .where(ProcessEnding.workflow_id == accepted.workflow_id)
                )
            ).first()
        if opened is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("the repair task was not opened; is a worker running?")
    return {"cases ended outside backoffice": summary.endings_found}
