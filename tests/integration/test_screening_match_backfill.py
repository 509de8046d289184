"""Migration 0031 carries the hits stored before it over as `open` matches, so the first
run after the upgrade alerts on nothing it did not alert on before."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.db import Database, run_sql
from tests.conftest import create_database
from tests.workflows.test_delta_rescreening import _book

MIGRATION = Path(__file__).parents[2] / "migrations" / "versions" / "0031_screening_matches.py"


def _backfill() -> str:
    spec = importlib.util.spec_from_file_location("migration_0031", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.BACKFILL)


@pytest.fixture
async def own_db(pg_socket: Path) -> AsyncIterator[Database]:
    urls = create_database(pg_socket, f"bo_backfill_{uuid.uuid4().hex[:6]}")
    database = Database(urls.app, pool_size=2, application_name="tests-backfill")
    yield database
    await database.dispose()


async def test_hits_stored_before_become_open_matches_keyed_across_lists(
    own_db: Database, tmp_path: Path
) -> None:
    db = own_db
    customers = await _book(db, tmp_path)
    old_style = [{"list_entry_id": 990011, "score": 97.0}]  # before several lists
    new_style = [
        {"list_entry_id": 1, "list_name": "UN-SC", "reference": "QDi.001",
         "entry_key": "UN-SC:QDi.001", "score": 91.0},
        {"list_entry_id": 990001, "list_name": "OFAC-SDN", "reference": "990001", "score": 99.0},
    ]  # fmt: skip
    rows = [(customers["D-1"], old_style), (customers["D-2"], new_style), (customers["D-2"], [])]
    async with db.transaction() as session:
        for n, (customer, hits) in enumerate(rows):
            await run_sql(
                session,
                "INSERT INTO screening_result (id, idempotency_key, customer_id, context, "
                "list_version, hit_count, best_score, hits, screened_at) VALUES "
                "(:id, :k, :c, 'rescreen', 'OFAC-SDN 2024-05-03', :n, NULL, "
                "CAST(:h AS jsonb), now())",
                {"id": uuid.uuid4(), "k": f"old-run-{n}", "c": customer.id, "n": len(hits),
                 "h": json.dumps(hits)},
            )  # fmt: skip
        await run_sql(session, _backfill(), {})
        await run_sql(session, _backfill(), {})  # twice: nothing more
    async with db.session() as session:
        found = (
            await run_sql(
                session,
                "SELECT customer_id, entry_key, list_name, status FROM screening_match "
                "ORDER BY entry_key",
            )
        ).all()
    assert [(r.customer_id, r.entry_key, r.list_name, r.status) for r in found] == [
        (customers["D-2"].id, "OFAC-SDN:990001", "OFAC-SDN", "open"),
        (customers["D-1"].id, "OFAC-SDN:990011", "OFAC-SDN", "open"),
        (customers["D-2"].id, "UN-SC:QDi.001", "UN-SC", "open"),
    ]
