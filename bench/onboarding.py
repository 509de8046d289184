"""Benchmark: onboarding end to end on the auto-approved path, next to bare Temporal.

Ours, per application: submit (validation, one DB transaction: case + application + parties +
documents + audit, workflow start) -> OnboardingWorkflow: policy, status, document checks,
one PartyScreeningWorkflow child screening the applicant against the whole OFAC list, risk
score, status, approval (customer + account + default tariff + audit) -> completed.

Baselines in the same run, same client concurrency:
* the foundation benchmark's BaselineWorkflow (3 no-op activities + 1 update), and
* OnboardingShapeBaseline: the same Temporal shape as the auto-approved path (6 no-op
  activities and one child workflow running one no-op activity), no I/O.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from bench.baseline import (
    OnboardingShapeBaseline,
    ScreeningChildBaseline,
    noop,
)
from bench.changes import Throughput, _drive, bench_actor
from bench.services import Services, queue_name
from core.db import Database, run_sql
from models.applications import ApplicationCreate
from models.onboarding_io import OnboardingState
from models.tariffs import TariffPlan
from onboarding.commands.intake import submit_application
from screening.commands.importer import DEFAULT_LIST_FILE, import_ofac_file
from worker import build_worker


def application(i: int) -> ApplicationCreate:
    first = ("Anna", "Lukas", "Sofia", "Emma", "Jonas", "Mia", "Paul", "Lea")[i % 8]
    last = ("Schmidt", "Wagner", "Becker", "Hoffmann", "Keller", "Richter")[i % 6]
    return ApplicationCreate.model_validate(
        {
            "external_ref": f"bench-{uuid.uuid4().hex}",
            "kind": "individual",
            "individual": {
                "full_name": f"{first} {last}",
                "date_of_birth": f"19{70 + i % 25}-0{1 + i % 9}-1{i % 9}",
                "nationality": "DE",
                "country_of_residence": "DE",
                "address": {
                    "line1": "Hauptstraße 1",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
                "email": f"{first.lower()}{i}@example.com",
                "phone": "+49 30 1234567",
                "documents": [
                    {
                        "type": "passport",
                        "number": f"C{i:08d}",
                        "issuing_country": "DE",
                        "expiry_date": (date.today() + timedelta(days=2000)).isoformat(),
                    }
                ],
            },
            "expected_monthly_volume": {"amount": "2000", "currency": "EUR"},
        }
    )


async def run_ours(
    services: Services, client: Client, *, count: int, warmup: int, concurrency: int
) -> Throughput:
    settings = services.settings(queue_name("bench-onboarding"))
    web_db = Database(services.urls.app, pool_size=10, application_name="bench-web")
    worker_db = Database(services.urls.app, pool_size=10, application_name="bench-worker")
    try:
        await import_ofac_file(web_db, DEFAULT_LIST_FILE)
        async with web_db.transaction() as session:
            session.add(
                TariffPlan(
                    code=f"B-{uuid.uuid4().hex[:8].upper()}",
                    name="Benchmark retail",
                    segment="retail",
                    currency="EUR",
                    is_default=True,
                )
            )
        service = await bench_actor(web_db, "upstream_system")
        workflow_ids: list[str] = []
        routes: dict[str, int] = {}

        async def one(i: int, measured: bool) -> None:
            accepted = await submit_application(web_db, client, settings, service, application(i))
            state: OnboardingState = await client.get_workflow_handle(
                accepted.workflow_id, result_type=OnboardingState
            ).result()
            routes[state.route or "none"] = routes.get(state.route or "none", 0) + 1
            if state.status != "approved":
                raise RuntimeError(f"application ended {state.status} ({state.reason_code})")
            if measured:
                workflow_ids.append(accepted.workflow_id)

        async with build_worker(client, worker_db, settings.task_queue):
            await _drive(warmup, concurrency, lambda i: one(i, False))
            result = await _drive(count, concurrency, lambda i: one(warmup + i, True))

        async with web_db.session() as session:
            opened = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM application a JOIN customer c ON c.id = a.customer_id "
                    "JOIN account ac ON ac.id = a.account_id WHERE a.workflow_id = ANY(:ids)",
                    {"ids": workflow_ids},
                )
            ).scalar_one()
        if opened < result.completed:
            result.errors.append(f"{result.completed} approved but {opened} accounts opened")
            result.failed += result.completed - int(opened)
        result.extra = {"verified_accounts_in_db": int(opened), "routes": routes}
        return result
    finally:
        await web_db.dispose()
        await worker_db.dispose()


async def run_shape_baseline(
    client: Client, *, count: int, warmup: int, concurrency: int
) -> Throughput:
    task_queue = queue_name("bench-onboarding-shape")

    async def one(i: int) -> None:
        result = await client.execute_workflow(
            OnboardingShapeBaseline.run, id=f"shape-{uuid.uuid4()}", task_queue=task_queue
        )
        if result != "approved":
            raise RuntimeError("baseline did not finish")

    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[OnboardingShapeBaseline, ScreeningChildBaseline],
        activities=[noop],
    ):
        await _drive(warmup, concurrency, one)
        return await _drive(count, concurrency, one)


def summary(ours: Throughput, foundation: Throughput, shape: Throughput) -> dict[str, Any]:
    return {
        "ours": ours.summary(),
        "foundation_baseline": foundation.summary(),
        "shape_baseline": shape.summary(),
    }
