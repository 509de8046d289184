"""A full re-screen of many customers against every list, through the product's own path.

N customers (`--rescreen-customers`, 100 000) are written straight into the customer table
(as a legacy book migration leaves them: no application, so each customer is screened by
its own name), about 1 % of them listed names written differently (bench/screening_queries
positives), the rest plausible people and companies. The four lists are imported with the
product's importer. Then the real `RescreenWorkflow` runs on a real worker (`build_worker`:
the CPU pool matches each batch, every result is stored, every customer updated, new hits
open their alert cases and ScreeningAlertWorkflows) and is timed from start to its result.

Baseline, same run: the name matching alone — the same names through one in-memory
`ScreeningIndex` of the same lists in this process, no database and no Temporal.
"""

from __future__ import annotations

import io
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from temporalio.client import Client

from bench.screening import load_lists
from bench.screening_queries import (
    COMPANY_KINDS,
    COMPANY_WORDS,
    FIRST_NAMES,
    LEGAL,
    SURNAMES,
    TUNE,
    Lists,
    build_queries,
)
from bench.services import Services, queue_name
from core.db import Database
from models.onboarding_io import RescreenInput, RescreenSummary
from screening.commands import importer
from screening.engines.matcher import ScreeningIndex
from screening.policy import ScreeningConfig
from worker import build_worker
from workflows.rescreening import RescreenWorkflow


@dataclass
class Rescreen:
    customers: int
    seconds: float
    screened: int
    alerts: int
    baseline_seconds: float
    lists: list[str]
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "seconds": round(self.seconds, 1),
            "customers_per_second": round(self.customers / self.seconds, 1) if self.seconds else 0,
            "screened": self.screened,
            "alerts_opened": self.alerts,
            "baseline_matching_seconds": round(self.baseline_seconds, 1),
            "lists": self.lists,
            "errors": self.errors,
        }


async def import_lists(db: Database) -> list[str]:
    """Every list the importer reads, imported (an unchanged file is not imported twice)."""
    loaded = []
    for name, path, list_date in importer.DEMO_LISTS:
        await importer.import_list(db, name, path, list_date=list_date)
        loaded.append(name)
    return loaded


def customer_names(count: int, seed: int = 3) -> list[tuple[str, str]]:
    """(kind, name): 1 % listed names written differently, the rest people and companies."""
    rng = random.Random(seed)
    listed = build_queries(
        Lists(load_lists()), TUNE, seed, positives=max(1, count // 100), negatives=0
    )
    out = [("individual" if q.kind != "entity" else "business", q.name) for q in listed]
    while len(out) < count:
        if rng.random() < 0.8:
            first, middle = rng.choice(FIRST_NAMES), rng.choice(FIRST_NAMES)
            family = rng.choice(SURNAMES)
            name = f"{first} {middle} {family}" if rng.random() < 0.3 else f"{first} {family}"
            out.append(("individual", name.title()))
        else:
            words = [rng.choice(COMPANY_WORDS), rng.choice(COMPANY_KINDS)]
            out.append(("business", f"{' '.join(words).title()} {rng.choice(LEGAL)}".strip()))
    rng.shuffle(out)
    return out[:count]


def insert_customers(owner_dsn: str, names: list[tuple[str, str]]) -> None:
    buf = io.StringIO()
    now = datetime.now(UTC).isoformat()
    for i, (kind, name) in enumerate(names):
        clean = name.replace("\t", " ").replace("\n", " ").replace("\\", " ")
        buf.write(
            f"{uuid.uuid4()}\tBRS-{i:07d}\t{kind}\t{clean[:200]}\tretail\tDE\tactive\t"
            f"approved\tlow\t0\tbench-rescreen-{i}\t{now}\n"
        )
    with psycopg.connect(owner_dsn) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY customer (id, reference, kind, name, segment, country, status, kyc_status, "
            "risk_level, risk_score, legacy_ref, created_at) FROM STDIN"
        ) as copy:
            copy.write(buf.getvalue())
        conn.commit()
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE customer")


def baseline_matching(names: list[tuple[str, str]]) -> float:
    """The same names through an in-memory index of the same lists: matching alone."""
    entries = [e for v in load_lists().values() for e in v]
    index = ScreeningIndex(entries)
    config = ScreeningConfig()
    started = time.perf_counter()
    for kind, name in names:
        index.match(name, kind="person" if kind == "individual" else "entity", config=config)
    return time.perf_counter() - started


async def run(
    services: Services, client: Client, *, customers: int, batch_size: int = 500
) -> Rescreen:
    db = Database(services.urls.app, pool_size=10, application_name="bench-rescreen")
    try:
        loaded = await import_lists(db)
        names = customer_names(customers)
        insert_customers(services.owner_dsn, names)
        task_queue = queue_name("bench-rescreen")
        async with build_worker(client, db, task_queue):
            started = time.perf_counter()
            summary: RescreenSummary = await client.execute_workflow(
                RescreenWorkflow.run,
                RescreenInput(batch_size=batch_size),
                id=f"bench-rescreen-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                # A run that cannot finish (e.g. more than 2 000 alert child workflows
                # pending: Temporal's per-workflow limit) fails the row instead of hanging.
                execution_timeout=timedelta(minutes=20),
            )
            seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    result = Rescreen(
        customers=customers,
        seconds=seconds,
        screened=summary.screened_customers,
        alerts=summary.alerts_opened,
        baseline_seconds=baseline_matching(names),
        lists=loaded,
    )
    if summary.screened_customers < customers:
        result.errors.append(f"{summary.screened_customers} of {customers} customers screened")
    return result


async def _main(customers: int) -> None:  # pragma: no cover - python -m bench.screening_rescreen
    from bench.services import running_services
    from core.temporal import connect, ensure_search_attributes

    with running_services() as (services, _stop):
        client = await connect(services.temporal_address)
        await ensure_search_attributes(client)
        print((await run(services, client, customers=customers)).summary())


if __name__ == "__main__":
    import asyncio
    import sys

    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
