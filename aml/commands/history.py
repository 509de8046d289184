"""Stored transactions of a period, read in booked order: what a backtest and a rejudge
judge again."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

from sqlalchemy import text

from aml.commands.monitoring_store import txn_from_row
from aml.engines.monitoring_data import Txn
from core.db import Database, run_sql

PERIOD_SQL = (
    "SELECT id, external_id, account_id, customer_id, booked_at, amount, currency, "
    "direction, channel, counterparty_name, counterparty_account, counterparty_country "
    "FROM transaction WHERE booked_at >= :lo AND booked_at < :hi "
    "ORDER BY booked_at, external_id"
)


async def count_booked(db: Database, lo: datetime, hi: datetime) -> int:
    """How many transactions were booked in [lo, hi)."""
    async with db.session() as session:
        return int(
            (
                await run_sql(
                    session,
                    "SELECT count(*) FROM transaction WHERE booked_at >= :lo AND booked_at < :hi",
                    {"lo": lo, "hi": hi},
                )
            ).scalar_one()
        )


async def booked_slices(
    db: Database, lo: datetime, hi: datetime, slice_size: int
) -> AsyncGenerator[list[Txn]]:
    """The transactions booked in [lo, hi), streamed in booked order, `slice_size` at once."""
    async with db.session() as reader:
        connection = await reader.connection()
        stream = await connection.stream(text(PERIOD_SQL), {"lo": lo, "hi": hi})
        async for part in stream.partitions(slice_size):
            yield [txn_from_row(r) for r in part]
