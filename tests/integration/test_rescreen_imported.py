"""Importing customers into a book screens the customers the import created, not the book."""

from __future__ import annotations

import csv
import random
import uuid
from pathlib import Path

import pytest
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from core.schedules import rescreen_imported
from core.settings import Settings
from customers.legacy_import import import_customers_csv
from models.onboarding import Customer, ScreeningResult
from models.onboarding_io import RescreenSummary
from shared.iban import iban_for

pytestmark = pytest.mark.usefixtures("onboarding_ready")  # a watch list to screen against

HEADER = [
    "legacy_ref", "kind", "name", "segment", "country", "email", "risk_level", "risk_score",
    "iban", "currency", "opened_at", "tariff_plan",
]  # fmt: skip


def _book(path: Path, run: str, bank_code: str, numbers: range) -> Path:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for n in numbers:
            out.writerow([f"RS{run}-{n:03d}", "individual", f"Ida Rescreen{run} {n:03d}", "retail",
                          "DE", "", "low", "", iban_for(n + 1, bank_code=bank_code), "EUR", "",
                          ""])  # fmt: skip
    return path


async def test_twenty_customers_into_a_book_of_twenty_screen_only_the_twenty_new_ones(
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    worker: None,
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    bank_code = f"{random.randrange(10_000_000, 99_999_999)}"
    while bank_code == "37040044":  # ours
        bank_code = f"{random.randrange(10_000_000, 99_999_999)}"
    first = await import_customers_csv(
        db, _book(tmp_path / "first.csv", run, bank_code, range(20)), report_path=tmp_path / "r1"
    )
    assert first.customers_created == 20
    # The same twenty again and twenty more: the import creates the twenty new ones only.
    second = await import_customers_csv(
        db, _book(tmp_path / "second.csv", run, bank_code, range(40)), report_path=tmp_path / "r2"
    )
    assert second.customers_created == 20 and second.duplicates == 20
    assert second.imported_at is not None

    workflow_id = await rescreen_imported(temporal_env.client, settings, second.imported_at)
    # Asked twice (a retried command): the same run, not a second one.
    assert await rescreen_imported(temporal_env.client, settings, second.imported_at) == workflow_id
    summary: RescreenSummary = await temporal_env.client.get_workflow_handle(
        workflow_id, result_type=RescreenSummary
    ).result()
    assert summary.screened_customers == 20

    async with db.session() as session:
        new_ids = set(
            (
                await session.exec(
                    select(Customer.id).where(
                        col(Customer.legacy_ref).startswith(f"RS{run}-"),
                        Customer.created_at == second.imported_at,
                    )
                )
            ).all()
        )
        screened = set(
            (
                await session.exec(
                    select(ScreeningResult.customer_id).where(
                        col(ScreeningResult.idempotency_key).startswith(f"{workflow_id}/")
                    )
                )
            ).all()
        )
    assert len(new_ids) == 20
    assert screened == new_ids  # the first twenty (and the rest of the book) untouched
