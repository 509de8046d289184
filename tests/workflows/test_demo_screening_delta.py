"""The demo's next UN version: its delta re-screen touches only the customer it names, and
the dismissed hit waits for a second analyst's whitelisting (demo/screening_delta.py)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.db import Database, run_sql
from core.schedules import delta_rescreen_id
from core.settings import Settings
from customers.legacy_import import import_customers_csv
from demo import seed
from demo.screening_delta import DEMO_REFERENCE, seed_screening_delta
from models.screening_io import DeltaRescreenSummary
from screening.commands.importer import DEMO_LISTS, import_list
from shared.iban import iban_for
from tests.conftest import create_database
from tests.helpers import eventually, new_plan, owner_database
from worker import build_worker

NAMES = ["Jonas Albrecht", "Greta Vogel", "Milan Kovac", "Sofia Lindner", "Paul Hartmann",
         "Ida Brandt", "Emil Sauer", "Theodor Wachsmuth", "Lena Roth", "Olaf Bergström"]  # fmt: skip


@pytest.fixture
async def own_db(pg_socket: Path) -> AsyncIterator[Database]:
    urls = create_database(pg_socket, f"bo_demo_delta_{uuid.uuid4().hex[:6]}")
    database = Database(urls.app, pool_size=4, application_name="tests-demo-delta")
    yield database
    await database.dispose()


async def test_demo_next_un_version_rescreens_one_customer_and_leaves_a_whitelisting_waiting(
    skipping_env: WorkflowEnvironment, own_db: Database, settings: Settings, tmp_path: Path
) -> None:
    db = own_db
    await seed.seed_staff(owner_database(db))
    [(name, path, day)] = [entry for entry in DEMO_LISTS if entry[0] == "UN-SC"]
    await import_list(db, name, path, list_date=day)
    await new_plan(db, segment="retail", is_default=True)
    book = tmp_path / "customers.csv"
    with book.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["legacy_ref", "kind", "name", "segment", "country", "email", "risk_level",
                      "iban", "currency", "opened_at"])  # fmt: skip
        for n, person in enumerate(NAMES, start=1):
            out.writerow([f"L-{n:02}", "individual", person, "retail", "DE", "", "low",
                          iban_for(n, bank_code="50010517"), "EUR", "2015-01-01"])  # fmt: skip
    await import_customers_csv(db, book, report_path=tmp_path / "rejected.csv")
    queue = f"demo-delta-{uuid.uuid4().hex[:6]}"
    local = settings.model_copy(update={"task_queue": queue})
    client = skipping_env.client

    async def waiting() -> list[tuple[str, str]]:
        async with db.session() as session:
            rows = (
                await run_sql(
                    session,
                    "SELECT s.status, t.candidate_role FROM screening_suppression s "
                    'JOIN "case" c ON c.id = s.case_id JOIN task t ON t.case_id = c.id '
                    "WHERE s.entry_key = :k AND t.task_key = 'whitelist-review#1' "
                    "AND t.status = 'open'",
                    {"k": f"UN-SC:{DEMO_REFERENCE}"},
                )
            ).all()
        return [(r.status, r.candidate_role) for r in rows]

    async with build_worker(client, db, queue):
        counts = await seed_screening_delta(db, client, local)
        assert counts == {"delta re-screens": 1, "whitelistings awaiting approval": 1}
        summary = await client.get_workflow_handle(
            delta_rescreen_id("UN-SC 2026-02-28"), result_type=DeltaRescreenSummary
        ).result()
        # Seeding again adds nothing.
        assert await seed_screening_delta(db, client, local) == {}
        found = await eventually(waiting, what="the whitelisting task")
    assert found == [("proposed", "kyc_analyst|kyc_senior")]
    assert (summary.added, summary.removed, summary.customers) == (1, 1, len(NAMES))
    assert summary.screened_customers == 1 and summary.alerts_opened == 1
