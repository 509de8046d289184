"""Reconciliation test data: a source, a generated statement and our records of it.

Every test gets a period of its own (statements of one source compete for our records of
the same currency and dates), far in the past so that no other test's records fall in it.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from core.db import Database
from demo import statement_samples as sample_files
from demo.reconciliation import insert_records
from models.base import utcnow
from models.reconciliation import ReconSource
from reconciliation.engines.csv_mapping import CARD_PROCESSOR_SETTLEMENT
from tests.aml_data import new_customer

_slots = itertools.count()
ACCOUNT_IBAN = "DE89370400440532013000"
CHANNELS = ["sepa", "swift", "cash", "card"]


def next_period_start() -> date:
    """A 60-day slot of its own, from 2012 on."""
    return date(2012, 1, 2) + timedelta(days=60 * next(_slots))


@dataclass
class ReconSetup:
    source_id: uuid.UUID
    sample: sample_files.Sample
    content: bytes
    filename: str


async def new_source(
    db: Database, fmt: str, *, currency: str = "EUR", account: str | None = ACCOUNT_IBAN
) -> uuid.UUID:
    async with db.transaction() as session:
        source = ReconSource(
            name=f"Test {fmt} {uuid.uuid4().hex[:8]}",
            format=fmt,
            accounts=[account] if account and fmt != "csv" else [],
            account=account if fmt != "csv" else None,
            currency=currency,
            channels=CHANNELS,
            batch_channels=["card"],
            csv_mapping=CARD_PROCESSOR_SETTLEMENT.model_dump(mode="json") if fmt == "csv" else None,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(source)
    return source.id


def statement_file(fmt: str, sample: sample_files.Sample, account: str = ACCOUNT_IBAN) -> bytes:
    return sample_files.statement_file(
        fmt, sample, account=account, mapping=CARD_PROCESSOR_SETTLEMENT
    )


async def recon_setup(
    db: Database,
    fmt: str,
    *,
    lines: int = 200,
    seed: int | None = None,
    currency: str = "EUR",
    start: date | None = None,
) -> ReconSetup:
    """A source, our records in the database, and the statement file to upload."""
    source_id = await new_source(db, fmt, currency=currency)
    start = start or next_period_start()
    sample = sample_files.generate(
        lines,
        # Records' ids follow from the seed: a test's own, unless it asks for one.
        seed=seed if seed is not None else start.toordinal(),
        currency=currency,
        start=start,
        days=20,
        # MT940 carries at most 16 characters of reference.
        ref_prefix=f"T{uuid.uuid4().hex[:4]}-",
    )
    customer = await new_customer(db, currency=currency)
    await insert_records(db, sample, customer.account_id, customer.id)
    ext = {"camt053": "xml", "mt940": "sta"}.get(fmt, "csv")
    return ReconSetup(source_id, sample, statement_file(fmt, sample), f"statement.{ext}")
