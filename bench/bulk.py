"""Benchmark: bulk close of L1 AML cases, each item through the decision door.

Setup: 2 x N customers with one large SWIFT payment to a high-risk country each, routed to
2 x N AML cases by the real routing code, their workflows run by an in-process worker until
every L1 task is open. Then, side by side on the same worker and database:

- ours: one bulk close of N L1 tasks (`casework.bulk.run_bulk`: claim + decide through the
  Temporal Update for each item, its own result, then the quality-review sample opened);
- baseline: the other N closed one by one through the single-decision path
  (`casework.tasks.claim_task` then `decide_task`), as N separate clicks would.

Both are checked in the database afterwards (a decision row per closed task).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aml.commands.casework import route_alerts
from audit.trail import SYSTEM
from bench.aml import make_accounts
from bench.changes import bench_actor
from bench.services import Services, queue_name
from casework.bulk import BulkRequest, BulkSummary, ItemResult, run_bulk
from casework.registry import task_id_for
from casework.tasks import claim_task, decide_task
from core.db import Database, run_sql
from core.temporal import connect, ensure_search_attributes
from models.aml import AmlAlert, Transaction
from models.base import utcnow
from worker import build_worker

REASON = "false_positive"
COMMENT = "Benchmark: known pattern, closed in bulk."


@dataclass
class BulkResult:
    items: int
    bulk_seconds: float
    single_seconds: float
    bulk_done: int
    single_done: int
    quality_reviews: int
    setup_seconds: float
    errors: list[str] = field(default_factory=list)

    @property
    def bulk_per_second(self) -> float:
        return self.bulk_done / self.bulk_seconds if self.bulk_seconds else 0.0

    @property
    def single_per_second(self) -> float:
        return self.single_done / self.single_seconds if self.single_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "bulk_seconds": round(self.bulk_seconds, 3),
            "single_seconds": round(self.single_seconds, 3),
            "bulk_done": self.bulk_done,
            "single_done": self.single_done,
            "quality_reviews": self.quality_reviews,
            "setup_seconds": round(self.setup_seconds, 1),
            "errors": self.errors[:10],
        }


async def _open_cases(db: Database, client: Any, task_queue: str, count: int) -> list[str]:
    """`count` AML cases at L1, one per new customer; their workflow ids."""
    accounts = await make_accounts(db, count)
    workflow_ids = []
    for account in accounts:
        async with db.transaction() as session:
            tx = Transaction(
                external_id=f"bench-bulk-{uuid.uuid4().hex}",
                account_id=account.id,
                customer_id=account.customer_id,
                booked_at=utcnow(),
                amount=Decimal("25000.00"),
                currency="EUR",
                direction="out",
                channel="swift",
                counterparty_country="IR",
            )
            session.add(tx)
            await session.flush()
            alert = AmlAlert(
                dedupe_key=f"large_single:{tx.id}",
                customer_id=account.customer_id,
                account_id=account.id,
                rule_key="large_single",
                rule_version=1,
                transaction_ids=[tx.id],
                reason="benchmark alert",
            )
            session.add(alert)
            await session.flush()
            routes = await route_alerts(session, client, task_queue, [alert], actor=SYSTEM)
        workflow_ids.append(routes[0].workflow_id)
    return workflow_ids


async def _wait_open(db: Database, task_ids: list[uuid.UUID], within: float = 300.0) -> None:
    deadline = time.monotonic() + within
    while True:
        async with db.session() as session:
            n = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM task WHERE id = ANY(:ids) AND status = 'open'",
                    {"ids": task_ids},
                )
            ).scalar_one()
        if n == len(task_ids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {n} of {len(task_ids)} L1 tasks opened")
        await asyncio.sleep(0.1)


async def run(services: Services, *, items: int, progress: Callable[[str], None]) -> BulkResult:
    started = time.perf_counter()
    client = await connect(services.temporal_address)
    await ensure_search_attributes(client)
    settings = services.settings(queue_name("bench-bulk"))
    web_db = Database(services.urls.app, pool_size=10, application_name="bench-web")
    worker_db = Database(services.urls.app, pool_size=10, application_name="bench-worker")
    errors: list[str] = []
    try:
        bulk_analyst = await bench_actor(web_db, "aml_analyst")
        single_analyst = await bench_actor(web_db, "aml_analyst")
        async with build_worker(client, worker_db, settings.task_queue):
            progress(f"bulk close: opening {2 * items} AML cases at L1")
            workflow_ids = await _open_cases(web_db, client, settings.task_queue, 2 * items)
            tasks = [task_id_for(w, "l1#1") for w in workflow_ids]
            await _wait_open(web_db, tasks)
            setup = time.perf_counter() - started
            single_tasks, bulk_tasks = tasks[:items], tasks[items:]

            progress(f"  baseline: {items} closes one by one (claim + decide each)")
            t0 = time.perf_counter()
            single_done = 0
            for task_id in single_tasks:
                try:
                    await claim_task(web_db, single_analyst, task_id)
                    await decide_task(
                        web_db,
                        client,
                        single_analyst,
                        task_id,
                        outcome="close",
                        reason=REASON,
                        comment=COMMENT,
                    )
                    single_done += 1
                except Exception as exc:
                    errors.append(f"single {task_id}: {exc}")
            single_seconds = time.perf_counter() - t0

            progress(f"  ours: one bulk close of {items}")
            t0 = time.perf_counter()
            bulk_done = qa = 0
            request = BulkRequest(
                action="close", task_ids=tuple(bulk_tasks), reason=REASON, comment=COMMENT
            )
            async for result in run_bulk(
                web_db,
                client,
                bulk_analyst,
                request,
                task_queue=settings.task_queue,
                qa_percent=settings.qa_sample_percent,
                qa_sla_hours=settings.qa_review_sla_hours,
            ):
                if isinstance(result, ItemResult) and not result.done:
                    errors.append(f"bulk {result.task_id}: {result.code} {result.message}")
                elif isinstance(result, BulkSummary):
                    bulk_done, qa = result.done, len(result.quality_reviews)
            bulk_seconds = time.perf_counter() - t0

        # Verified in the database: one decision per closed task.
        async with web_db.session() as session:
            decided = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM decision WHERE task_id = ANY(:ids) AND outcome = 'close'",
                    {"ids": tasks},
                )
            ).scalar_one()
        if decided != bulk_done + single_done:
            errors.append(f"{decided} decisions stored, {bulk_done + single_done} reported")
    finally:
        await web_db.dispose()
        await worker_db.dispose()
    return BulkResult(
        items=items,
        bulk_seconds=bulk_seconds,
        single_seconds=single_seconds,
        bulk_done=bulk_done,
        single_done=single_done,
        quality_reviews=qa,
        setup_seconds=setup,
        errors=errors,
    )
