"""Benchmark 1: change approvals end to end, next to bare Temporal on the same server.

Ours, per change: propose (DB transaction + workflow start) -> the workflow opens the task
(we poll the task row, as an inbox would) -> claim -> approve (the Update returns once the
change is applied) -> the workflow completes. Baseline: BaselineWorkflow (bench/baseline.py)
started, updated and awaited with the same client concurrency.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlmodel import select
from temporalio.client import Client
from temporalio.worker import Worker

from bench.baseline import BaselineWorkflow, noop
from bench.report import percentile
from bench.services import Services, queue_name
from casework.registry import task_id_for
from casework.tasks import claim_task, decide_task
from changes.commands.requests import propose_change
from core import embedded
from core.db import Database, run_sql
from identity import staff
from identity.actors import Actor
from identity.auth import roles_of
from models.changes import ChangeCreate
from models.staff import StaffUser
from models.tariffs import Fee, FeeVersion, TariffPlan
from models.workflow_io import ChangeState, Origin
from worker import build_worker

PASSWORD = "bench-horse-battery-staple"  # noqa: S105 (throw-away users in a throw-away database)
TASK_POLL_SECONDS = 0.01


@dataclass
class Throughput:
    completed: int
    failed: int
    seconds: float
    cpu_seconds: float = 0.0  # of this process (client + worker + app), not of the servers
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "workflows_per_second": round(self.per_second, 2),
            "bench_process_cpu_ms_per_workflow": round(
                self.cpu_seconds * 1000 / max(self.completed, 1), 1
            ),
            "latency_ms_p50": round(percentile(self.latencies_ms, 50), 1),
            "latency_ms_p95": round(percentile(self.latencies_ms, 95), 1),
            "errors": self.errors[:5],
            **self.extra,
        }


async def _drive(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> Throughput:
    """Run `one(i)` for i in range(count), at most `concurrency` at a time; time the whole."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []

    async def guarded(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                await one(i)
            except Exception as exc:  # a failed instance is reported, never hidden
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            latencies.append((time.perf_counter() - started) * 1000)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(guarded(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    return Throughput(
        completed=len(latencies),
        failed=len(errors),
        seconds=elapsed,
        cpu_seconds=time.process_time() - cpu_started,
        latencies_ms=latencies,
        errors=errors,
    )


# ----------------------------------------------------------------------------- set-up
_OWNERS: dict[str, Database] = {}


def owner_database(db: Database) -> Database:
    """The table owner's connection to the embedded database `db` uses: only the owner grants
    roles directly (the role_assignment door, migration 0021), as the bench's set-up does."""
    url = make_url(db.url)
    socket_dir = Path(str(url.query["host"]))
    key = f"{socket_dir}/{url.database}"
    if key not in _OWNERS:
        admin = embedded.postgres_url(
            embedded.data_dir_of_socket(socket_dir),
            embedded.POSTGRES_SUPERUSER,
            str(url.database),
            socket_dir=socket_dir,
        )
        _OWNERS[key] = Database(admin, pool_size=1, application_name="bench-owner")
    return _OWNERS[key]


async def bench_actor(db: Database, role: str) -> Actor:
    username = f"bench-{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    await staff.create_user(owner_database(db), username=username, password=PASSWORD, roles=[role])
    async with db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).one()
        granted = await roles_of(session, user.id)
    return Actor(user.id, username, username, granted, Origin(channel="api"))


async def make_fees(db: Database, count: int) -> list[uuid.UUID]:
    """One tariff plan with one fee per change, so no change supersedes another."""
    fees: list[uuid.UUID] = []
    async with db.transaction() as session:
        for _ in range(count):
            plan = TariffPlan(
                code=f"B-{uuid.uuid4().hex[:10].upper()}",
                name="Benchmark plan",
                segment="retail",
                currency="EUR",
            )
            session.add(plan)
            await session.flush()
            fee = Fee(plan_id=plan.id, transaction_type="atm_withdrawal", currency="EUR")
            session.add(fee)
            await session.flush()
            session.add(
                FeeVersion(
                    fee_id=fee.id, version=1, fixed_amount=Decimal("2.00"), percent=Decimal("0.5")
                )
            )
            fees.append(fee.id)
    return fees


# ----------------------------------------------------------------------------- ours
async def _wait_for_task(db: Database, task_id: uuid.UUID, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        async with db.session() as session:
            found = (
                await run_sql(session, "SELECT 1 FROM task WHERE id = :id", {"id": task_id})
            ).first()
        if found is not None:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} was never opened")
        await asyncio.sleep(TASK_POLL_SECONDS)


async def run_ours(
    services: Services, client: Client, *, count: int, warmup: int, concurrency: int
) -> Throughput:
    settings = services.settings(queue_name("bench-changes"))
    # Two pools, as in production the web process and the worker process each have one.
    web_db = Database(services.urls.app, pool_size=10, application_name="bench-web")
    worker_db = Database(services.urls.app, pool_size=10, application_name="bench-worker")
    try:
        maker = await bench_actor(web_db, "product_manager")
        checkers = [await bench_actor(web_db, "ops_manager") for _ in range(4)]
        fees = await make_fees(web_db, warmup + count)
        workflow_ids: list[str] = []
        # Where one change's time goes (measured instances only).
        phases: dict[str, list[float]] = {
            "propose": [],
            "task_visible": [],
            "claim": [],
            "decide_until_applied": [],
            "workflow_completed": [],
        }

        async def one(i: int, offset: int) -> None:
            measured = offset > 0
            marks = [time.perf_counter()]
            origin = Origin(channel="api", request_id=uuid.uuid4().hex)
            created = await propose_change(
                web_db,
                client,
                settings,
                replace(maker, origin=origin),
                ChangeCreate(
                    target_type="fee",
                    target_id=fees[offset + i],
                    changes={"fixed_amount": "2.50"},
                    reason="Benchmark: raise the ATM fee to the new market rate.",
                ),
            )
            marks.append(time.perf_counter())
            task_id = task_id_for(created.workflow_id, "approve")
            await _wait_for_task(web_db, task_id)
            marks.append(time.perf_counter())
            checker = replace(checkers[i % len(checkers)], origin=origin)
            await claim_task(web_db, checker, task_id)
            marks.append(time.perf_counter())
            decided = await decide_task(
                web_db, client, checker, task_id, outcome="approve", reason=None, comment="ok"
            )
            marks.append(time.perf_counter())
            if decided.case_status != "applied":
                raise RuntimeError(f"decide returned {decided.case_status}, not applied")
            handle = client.get_workflow_handle(created.workflow_id, result_type=ChangeState)
            state = await handle.result()
            marks.append(time.perf_counter())
            if state.status != "applied":
                raise RuntimeError(f"workflow ended {state.status}")
            if measured:
                workflow_ids.append(created.workflow_id)
                for name, (start, end) in zip(phases, pairwise(marks), strict=True):
                    phases[name].append((end - start) * 1000)

        async with build_worker(client, worker_db, settings.task_queue):
            await _drive(warmup, concurrency, lambda i: one(i, 0))
            result = await _drive(count, concurrency, lambda i: one(i, warmup))

        # Verify the outcome in the database, not just what the calls returned.
        async with web_db.session() as session:
            applied = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM change_request c JOIN fee f ON f.id = c.target_id "
                    "WHERE c.workflow_id = ANY(:ids) AND c.status = 'applied' "
                    "AND c.applied_version = 2 AND f.current_version = 2",
                    {"ids": workflow_ids},
                )
            ).scalar_one()
        if applied < result.completed:
            result.errors.append(
                f"{result.completed} approvals returned 'applied' but {applied} changes are applied in the database"
            )
            result.failed += result.completed - int(applied)
        result.extra = {
            "verified_applied_in_db": int(applied),
            "phase_ms_p50": {k: round(percentile(v, 50), 1) for k, v in phases.items()},
            "task_poll_interval_ms": TASK_POLL_SECONDS * 1000,
        }
        return result
    finally:
        await web_db.dispose()
        await worker_db.dispose()


# ----------------------------------------------------------------------------- baseline
async def run_baseline(client: Client, *, count: int, warmup: int, concurrency: int) -> Throughput:
    task_queue = queue_name("bench-baseline")

    async def one(i: int) -> None:
        handle = await client.start_workflow(
            BaselineWorkflow.run, id=f"baseline-{uuid.uuid4()}", task_queue=task_queue
        )
        outcome = await handle.execute_update(BaselineWorkflow.decide, "approve")
        if outcome != "applied" or await handle.result() != "applied":
            raise RuntimeError("baseline workflow did not finish as applied")

    async with Worker(
        client, task_queue=task_queue, workflows=[BaselineWorkflow], activities=[noop]
    ):
        await _drive(warmup, concurrency, one)
        return await _drive(count, concurrency, one)
