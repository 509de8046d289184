"""A made-up legacy book in the import formats, to try a migration (and to seed the demo).

`backoffice import sample-files DIR` writes `customers.csv` and `transactions.csv`: retail
customers with one EUR account each and months of ordinary life (salary in, rent out, card
spend), with a few rows of each file deliberately broken so the rejected-rows report has
something to say. Deterministic for a given size and day: the same command writes the same
files, so importing them twice shows that a re-run creates nothing.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aml.commands.legacy_transactions import COLUMNS as TRANSACTION_COLUMNS
from customers.legacy_rows import COLUMNS as CUSTOMER_COLUMNS
from shared.iban import iban_for

FIRST = ("Mara", "Jonas", "Lea", "Felix", "Nina", "Paul", "Clara", "Tim", "Ida", "Ben", "Emil")
LAST = ("Becker", "Hoffmann", "Schulz", "Koch", "Richter", "Wolf", "Neumann", "Krause", "Graf")
EMPLOYERS = ("Siemens AG", "Deutsche Bahn AG", "SAP SE", "Charité Berlin", "Zalando SE")
SHOPS = ("REWE Markt", "dm-drogerie markt", "Lidl", "Amazon EU", "Deutsche Bahn Fernverkehr")
# Every this-many rows one is broken (a bad IBAN check digit, an unknown account, ...).
BROKEN_EVERY = 997


def sample_iban(i: int) -> str:
    """The legacy bank's IBAN of customer `i` (outside the range this back office issues)."""
    return iban_for(500_000 + i, bank_code="10020000")


def sample_name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 // len(FIRST)) % len(LAST)]}"


def write_customers(
    path: Path, count: int, *, broken: bool = True, high_risk: frozenset[int] = frozenset()
) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(CUSTOMER_COLUMNS)
        for i in range(count):
            name = sample_name(i)
            iban = sample_iban(i)
            risk = "high" if i in high_risk else ("medium" if i % 7 == 0 else "low")
            row = [
                f"LEG-{i + 1:06d}",
                "individual",
                name,
                "retail",
                "DE",
                f"{name.lower().replace(' ', '.')}.{i}@example.org",
                risk,
                iban,
                "EUR",
                "2019-03-01",
            ]
            if broken and i % BROKEN_EVERY == BROKEN_EVERY - 1:
                row[7] = iban[:2] + "00" + iban[4:]  # wrong check digits: refused
            out.writerow(row)


@dataclass
class Flow:
    account: str
    amount: str
    booked_at: datetime
    direction: str = "out"
    channel: str = "sepa"
    name: str | None = None
    counterparty: str | None = None
    country: str | None = "DE"
    description: str | None = None

    def api_row(self, external_id: str) -> dict[str, Any]:
        """As `POST /api/v1/transactions` takes it."""
        return {
            "external_id": external_id,
            "account": self.account,
            "booked_at": self.booked_at.isoformat(),
            "amount": self.amount,
            "currency": "EUR",
            "direction": self.direction,
            "channel": self.channel,
            "counterparty": {
                "name": self.name,
                "account": self.counterparty,
                "country": self.country,
            },
            "description": self.description,
        }


def ordinary_life(
    customers: range,
    *,
    end: datetime,
    months: int = 3,
    quiet_since: dict[int, datetime] | None = None,
) -> Iterator[Flow]:
    """Each customer's months up to `end`: salary in, rent out, card spend every few days.

    A customer in `quiet_since` stops at that time (a dormant account).
    """
    rng = random.Random(7)  # noqa: S311 (made-up amounts, not secrets)
    for i in customers:
        iban = sample_iban(i)
        last = (quiet_since or {}).get(i, end)
        for month in range(months):
            start = last - timedelta(days=30 * (months - month))
            yield Flow(
                iban,
                f"{2800 + 40 * (i % 10)}.00",
                start + timedelta(hours=9),
                direction="in",
                name=EMPLOYERS[i % len(EMPLOYERS)],
                counterparty=iban_for(900_000 + i % 5, bank_code="10070000"),
                description="Gehalt",
            )
            yield Flow(
                iban,
                "1150.00",
                start + timedelta(days=1, hours=8),
                name=f"Hausverwaltung {i % 1000:03d} GmbH",
                counterparty=iban_for(800_000 + i % 1000, bank_code="10020000"),
                description="Miete",
            )
            for day in range(2, 30, 3):
                yield Flow(
                    iban,
                    f"{rng.randint(12, 90)}.{rng.randint(0, 99):02d}",
                    start + timedelta(days=day, hours=17),
                    channel="card",
                    name=SHOPS[(day + i) % len(SHOPS)],
                    description="Kartenzahlung",
                )


def write_transactions(
    path: Path, flows: Iterator[Flow], *, limit: int | None = None, broken: bool = True
) -> int:
    """Write up to `limit` flows; external ids are their position, so a file is stable."""
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(TRANSACTION_COLUMNS)
        for n, f in enumerate(flows):
            if limit is not None and n >= limit:
                break
            row = [
                f"LEGTX-{n + 1:09d}",
                f.account,
                f.booked_at.isoformat(),
                f.amount,
                "EUR",
                f.direction,
                f.channel,
                f.name or "",
                f.counterparty or "",
                f.country or "",
                f.description or "",
            ]
            if broken and n % BROKEN_EVERY == BROKEN_EVERY - 1:
                row[3] = "12.345"  # three decimals in EUR: refused
            out.writerow(row)
            written += 1
    return written


def write_sample_book(
    folder: Path, *, customers: int, transactions: int, now: datetime
) -> tuple[Path, Path]:
    """`customers.csv` and `transactions.csv` in `folder`: `transactions` rows of ordinary
    life, spread over enough months of the customers' history to fill them."""
    folder.mkdir(parents=True, exist_ok=True)
    customers_csv, transactions_csv = folder / "customers.csv", folder / "transactions.csv"
    write_customers(customers_csv, customers)
    per_month = 12  # salary, rent and ten card payments
    months = max(1, -(-transactions // max(customers * per_month, 1)))
    write_transactions(
        transactions_csv,
        ordinary_life(range(customers), end=now - timedelta(days=1), months=months),
        limit=transactions,
    )
    return customers_csv, transactions_csv
