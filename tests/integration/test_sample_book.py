"""`backoffice import sample-files` writes a book the importers take: broken rows reported,
the rest imported, a re-run of the same files creating nothing."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, func, select

from aml.commands.legacy_transactions import import_transactions_csv
from core.cli import build_parser
from core.db import Database
from core.settings import Settings
from customers.legacy_import import import_customers_csv
from models.aml import Transaction
from tests.helpers import new_plan


async def test_sample_files_import_with_their_broken_rows_reported(
    tmp_path: Path, db: Database, settings: Settings, capsys: object
) -> None:
    await new_plan(db, segment="retail", is_default=True)
    args = build_parser().parse_args(
        ["import", "sample-files", str(tmp_path), "--customers", "2000", "--transactions", "3000"]
    )
    assert args.func(args) == 0
    customers_csv, transactions_csv = tmp_path / "customers.csv", tmp_path / "transactions.csv"
    assert sum(1 for _ in customers_csv.open()) == 2001
    assert sum(1 for _ in transactions_csv.open()) == 3001

    first = await import_customers_csv(db, customers_csv, report_path=tmp_path / "c.csv")
    # One row in 997 has wrong IBAN check digits.
    assert (first.rejected, first.customers_created) == (2, 1998)
    report = (tmp_path / "c.csv").read_text()
    assert report.count("\n") == 3 and "check digits" in report

    def imported() -> object:
        return import_transactions_csv(
            db,
            settings,
            transactions_csv,
            alert=False,
            progress=lambda done, total: None,
            report_path=tmp_path / "t.csv",
        )

    once = await imported()
    assert (once.inserted, once.rejected) == (2997, 3)  # type: ignore[attr-defined]
    assert "decimal places" in (tmp_path / "t.csv").read_text()
    again = await imported()
    assert (again.inserted, again.duplicates) == (0, 2997)  # type: ignore[attr-defined]
    async with db.session() as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(Transaction)
                .where(col(Transaction.external_id).startswith("LEGTX-"))
            )
        ).one()
    assert count == 2997
