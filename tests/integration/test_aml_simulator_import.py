"""A simulated labelled book goes through the real importers whole, and every planted
transfer between our accounts shows in the money graph (`aml_money_flow`) exactly once,
whether it was booked on both sides or on one, named by IBAN or by bank code + number."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from aml.commands.legacy_transactions import import_transactions_csv
from core.db import Database, run_sql
from core.settings import Settings
from customers.legacy_import import import_customers_csv
from demo import aml_simulator as sim
from tests.helpers import new_plan


async def test_a_simulated_book_imports_whole_and_its_planted_flows_are_in_the_graph(
    tmp_path: Path, db: Database, settings: Settings
) -> None:
    params = replace(sim.PARAMS["eval"], customers=400, days=40)
    end = datetime.now(UTC).date() - timedelta(days=1)
    book = sim.generate(params, 7, end)
    sim.write(book, tmp_path)
    # The test database's plans are not the bench's: name one per segment in the file.
    plans = {s: (await new_plan(db, segment=s)).code for s in ("retail", "business", "private")}
    with (tmp_path / "customers.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with (tmp_path / "customers.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*sim.CUSTOMER_COLUMNS, "tariff_plan"])
        writer.writeheader()
        writer.writerows({**r, "tariff_plan": plans[r["segment"]]} for r in rows)

    customers = await import_customers_csv(
        db, tmp_path / "customers.csv", report_path=tmp_path / "c.rejected.csv"
    )
    assert (customers.rejected, customers.customers_created) == (0, params.customers)
    transactions = await import_transactions_csv(
        db,
        settings,
        tmp_path / "transactions.csv",
        alert=False,
        progress=lambda done, total: None,
        report_path=tmp_path / "t.rejected.csv",
    )
    assert (transactions.inserted, transactions.rejected) == (len(book.rows), 0)

    ibans = [c.iban for c in book.customers]
    async with db.session() as session:
        # Every leg naming one of our accounts, in any of the three forms, is resolved.
        unresolved = (
            await run_sql(
                session,
                "SELECT count(*) FROM transaction t JOIN account a ON a.id = t.account_id "
                "WHERE a.iban = ANY(:ibans) AND t.counterparty_account_id IS NULL "
                "AND (replace(t.counterparty_account, ' ', '') LIKE :ours "
                "OR t.counterparty_account LIKE :domestic)",
                {"ibans": ibans, "ours": f"DE__{sim.BANK_CODE}%", "domestic": f"{sim.BANK_CODE} %"},
            )
        ).scalar_one()
        flows = (
            await run_sql(
                session,
                "SELECT s.iban, r.iban, f.amount FROM aml_money_flow f "
                "JOIN account s ON s.id = f.from_account_id "
                "JOIN account r ON r.id = f.to_account_id WHERE s.iban = ANY(:ibans)",
                {"ibans": ibans},
            )
        ).all()
    assert unresolved == 0
    in_graph = Counter((a, b, Decimal(amount)) for a, b, amount in flows)
    planted = Counter(
        (book.customers[src].iban, book.customers[dst].iban, Decimal(amount))
        for p in book.patterns
        for src, dst, amount, _ in p.edges
    )
    assert planted and {k: in_graph[k] for k in planted} == dict(planted)
