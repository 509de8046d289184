"""Demo assignment, bulk close and quality review, through the same functions the pages call.

Twelve migrated customers each pay a car dealer more than the large-transaction threshold:
twelve L1 cases. Ana closes ten of them in one bulk close as false positives (each through
the decision door), which samples one for a quality review by a second analyst (in Alba's
and Ana's colleagues' inbox, never Ana's); Lena, the AML lead, assigns one of the two left
to Alba, who is notified.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlmodel import col, select
from temporalio.client import Client

from aml.commands.transactions import ingest
from casework import bulk
from casework.assignment import assign_task
from casework.quality_rules import CASE_TYPE_QUALITY
from core.db import Database
from core.settings import Settings
from demo.aml import _posted
from demo.legacy_samples import Flow, sample_iban
from demo.seed import actor_named
from models.base import utcnow
from models.cases import Case, Task
from shared.iban import iban_for

# Migrated customers (by position) who bought a car today; 10..39 otherwise only shop.
BUYERS = range(20, 32)
DEALERS = ("Autohaus Süd GmbH", "BMW Niederlassung Köln", "Mercedes-Benz Hamburg")


async def _l1_tasks(db: Database, case_ids: list[uuid.UUID]) -> list[Task]:
    """The open L1 tasks of these cases, once their workflows opened them all."""
    for _ in range(400):
        async with db.session() as session:
            tasks = list(
                (
                    await session.exec(
                        select(Task)
                        .where(col(Task.case_id).in_(case_ids))
                        .where(Task.kind == "aml_l1_review", Task.status == "open")
                        .order_by(col(Task.created_at))
                    )
                ).all()
            )
        if len(tasks) >= len(case_ids):
            return tasks
        await asyncio.sleep(0.05)
    raise RuntimeError("the L1 tasks of the car purchases were not opened; is a worker running?")


async def seed_casework_tools(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    """Once: a database with a quality review keeps what it has."""
    async with db.session() as session:
        if (await session.exec(select(Case.id).where(Case.case_type == CASE_TYPE_QUALITY))).first():
            return {}
    now = utcnow()
    corebank = await actor_named(db, "svc.corebank")
    flows = [
        Flow(
            sample_iban(i),
            f"{16_500 + 250 * k}.00",
            now - timedelta(hours=1 + k),
            name=DEALERS[k % len(DEALERS)],
            counterparty=iban_for(610_000 + k, bank_code="70020270"),
            description="Vehicle purchase",
        )
        for k, i in enumerate(BUYERS)
    ]
    posted = await ingest(db, temporal, settings, corebank, _posted(flows))
    tasks = await _l1_tasks(db, [c.case_id for c in posted.cases])

    ana = await actor_named(db, "aml.ana")
    request = bulk.BulkRequest(
        action="close",
        task_ids=tuple(t.id for t in tasks[:10]),
        reason="false_positive",
        comment="Car purchases from licensed dealers; invoices on file.",
    )
    await bulk.check_request(db, ana, request)
    reviews = closed = 0
    async for result in bulk.run_bulk(
        db,
        temporal,
        ana,
        request,
        task_queue=settings.task_queue,
        qa_percent=settings.qa_sample_percent,
        qa_sla_hours=settings.qa_review_sla_hours,
    ):
        if isinstance(result, bulk.BulkSummary):
            reviews, closed = len(result.quality_reviews), result.done

    lena = await actor_named(db, "aml.lena")
    await assign_task(db, lena, tasks[10].id, "aml.alba")
    return {"bulk-closed AML cases": closed, "quality reviews": reviews, "assigned tasks": 1}
