"""Benchmark: transaction monitoring, next to plain INSERTs of the same rows.

Setup: a few hundred customers with one account each and months of ordinary history
(salary in, rent out, card spend, transfers), loaded through the legacy importer; the OFAC
list imported, so the watch-list rule screens every counterparty name.

Ours:
* ingest throughput: batches of rows through `aml.commands.transactions.ingest` (validation,
  insert, context queries, every rule, alerts routed to cases by signal-with-start, audit);
  about one row in a thousand raises alerts.
* one-transaction ingest latency through the same function.
* the history import (CSV -> COPY -> INSERT ... SELECT ... ON CONFLICT) in rows/s.

Baselines in the same run, as the same least-privileged role, on a plain table with the
same columns and no index or constraint: psycopg `executemany` of the same rows (one
transaction per batch), one INSERT + commit, and COPY of the same CSV file.
"""

from __future__ import annotations

import csv
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from aml.commands.legacy_transactions import COLUMNS, import_transactions_csv
from aml.commands.transactions import ingest
from bench.changes import bench_actor
from bench.report import percentile
from bench.services import Services, queue_name
from core.db import Database, run_sql
from core.temporal import connect, ensure_search_attributes
from models.base import utcnow
from models.onboarding import Account, Customer
from models.tariffs import TariffPlan
from screening.commands.importer import DEFAULT_LIST_FILE, import_ofac_file
from shared.iban import iban_for

PLAIN = "bench_plain_transaction"
PLAIN_COLUMNS = (
    "id, external_id, account_id, customer_id, booked_at, amount, currency, direction, "
    "channel, counterparty_name, counterparty_account, counterparty_country, description, "
    "source, received_at"
)
EMPLOYERS = ("Siemens AG", "Deutsche Bahn AG", "SAP SE", "Charité Berlin", "Zalando SE")
SHOPS = ("REWE Markt", "Lidl", "Amazon EU", "dm-drogerie markt", "IKEA", "Shell", "Apotheke")
ABROAD = (("Starbucks New York", "US", "USD"), ("Pret A Manger London", "GB", "GBP"))


@dataclass
class AmlBench:
    accounts: int
    history_rows: int = 0
    import_seconds: float = 0.0
    import_baseline_seconds: float = 0.0
    batch_size: int = 0
    batch_rows: int = 0
    batch_seconds: float = 0.0
    batch_baseline_seconds: float = 0.0
    alerts: int = 0
    cases: int = 0
    single_ms: list[float] = field(default_factory=list)
    single_baseline_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "history_rows": self.history_rows,
            "import_rows_per_second": round(self.history_rows / self.import_seconds),
            "import_baseline_rows_per_second": round(
                self.history_rows / self.import_baseline_seconds
            ),
            "batch_size": self.batch_size,
            "batch_rows": self.batch_rows,
            "ingest_per_second": round(self.batch_rows / self.batch_seconds),
            "ingest_baseline_per_second": round(self.batch_rows / self.batch_baseline_seconds),
            "alerts_raised": self.alerts,
            "cases_touched": self.cases,
            "single_ms_p50": round(percentile(self.single_ms, 50), 2),
            "single_ms_p95": round(percentile(self.single_ms, 95), 2),
            "single_baseline_ms_p50": round(percentile(self.single_baseline_ms, 50), 2),
            "single_baseline_ms_p95": round(percentile(self.single_baseline_ms, 95), 2),
        }


@dataclass(frozen=True)
class BenchAccount:
    id: uuid.UUID
    customer_id: uuid.UUID
    iban: str


async def make_accounts(db: Database, count: int) -> list[BenchAccount]:
    made: list[BenchAccount] = []
    opened = utcnow() - timedelta(days=800)
    async with db.transaction() as session:
        plan = TariffPlan(
            code=f"B-{uuid.uuid4().hex[:8].upper()}",
            name="Benchmark retail",
            segment="retail",
            currency="EUR",
        )
        session.add(plan)
        await session.flush()
        for i in range(count):
            number = (
                await run_sql(session, "SELECT nextval('customer_reference_seq')")
            ).scalar_one()
            serial = (await run_sql(session, "SELECT nextval('account_number_seq')")).scalar_one()
            customer = Customer(
                reference=f"CUS-{number}",
                kind="individual",
                name=f"Bench Customer {i}",
                segment="retail",
                country="DE",
                risk_level="low",
                legacy_ref=f"BENCH-{uuid.uuid4().hex[:12]}",
                created_at=opened,
            )
            session.add(customer)
            await session.flush()
            account = Account(
                customer_id=customer.id,
                iban=iban_for(serial),
                currency="EUR",
                tariff_plan_id=plan.id,
                opened_at=opened,
            )
            session.add(account)
            await session.flush()
            made.append(BenchAccount(account.id, customer.id, account.iban))
    return made


def _flat(
    n: str,
    iban: str,
    at: datetime,
    amount: str,
    direction: str,
    channel: str,
    name: str | None,
    *,
    account: str = "",
    country: str = "DE",
    currency: str = "EUR",
    description: str = "",
) -> dict[str, str]:
    return {
        "external_id": n,
        "account_iban": iban,
        "booked_at": at.isoformat(),
        "amount": amount,
        "currency": currency,
        "direction": direction,
        "channel": channel,
        "counterparty_name": name or "",
        "counterparty_account": account,
        "counterparty_country": country if name else "",
        "description": description,
    }


def history(accounts: list[BenchAccount], days: int, end: datetime) -> Iterator[dict[str, str]]:
    """Ordinary life per account over `days` before `end`: about three bookings a day."""
    rng = random.Random(11)
    start = end - timedelta(days=days)
    for k, a in enumerate(accounts):
        employer = EMPLOYERS[k % len(EMPLOYERS)]
        employer_iban = iban_for(700_000 + k % len(EMPLOYERS), bank_code="10070000")
        landlord_iban = iban_for(600_000 + k, bank_code="10020000")
        salary = f"{2400 + (k * 37) % 2500}.00"
        for day in range(days):
            at = start + timedelta(days=day, hours=8)
            tag = f"h-{a.id.hex[:12]}-{day}"
            if day % 30 == k % 30:
                yield _flat(f"{tag}-s", a.iban, at, salary, "in", "sepa", employer,
                            account=employer_iban, description="Gehalt")  # fmt: skip
            if day % 30 == (k + 2) % 30:
                yield _flat(f"{tag}-r", a.iban, at + timedelta(hours=1), "1150.00", "out", "sepa",
                            f"Hausverwaltung {k}", account=landlord_iban)  # fmt: skip
            for j in range(rng.choice((1, 2, 3, 3, 4))):
                shop = SHOPS[rng.randrange(len(SHOPS))]
                amount = f"{rng.randint(3, 120)}.{rng.randint(0, 99):02d}"
                yield _flat(f"{tag}-c{j}", a.iban, at + timedelta(hours=3 + 3 * j), amount,
                            "out", "card", shop)  # fmt: skip


def live_rows(
    accounts: list[BenchAccount], count: int, start: datetime, span: timedelta, seed: int
) -> list[dict[str, Any]]:
    """`count` API rows booked in order over `span` from `start`; one in 1000 alerts."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    step = span / count
    for i in range(count):
        a = accounts[rng.randrange(len(accounts))]
        at = start + step * i
        kind = rng.random()
        cp: dict[str, str | None]
        if i % 1000 == 999:  # a large wire to a high-risk country: several rules fire
            cp = {"name": "Gulf Horizon Trading FZE", "account": "AE070331234567890123456",
                  "country": "AE"}  # fmt: skip
            amount, direction, channel, currency = "48000.00", "out", "swift", "EUR"
        elif kind < 0.75:
            cp = {"name": SHOPS[rng.randrange(len(SHOPS))], "account": None, "country": "DE"}
            amount = f"{rng.randint(3, 120)}.{rng.randint(0, 99):02d}"
            direction, channel, currency = "out", "card", "EUR"
        elif kind < 0.85:
            name, country, currency = ABROAD[rng.randrange(len(ABROAD))]
            cp = {"name": name, "account": None, "country": country}
            amount = f"{rng.randint(3, 60)}.{rng.randint(0, 99):02d}"
            direction, channel = "out", "card"
        else:
            k = rng.randrange(50)
            cp = {
                "name": f"Friend {k}",
                "account": iban_for(500_000 + k, bank_code="10010010"),
                "country": "DE",
            }
            amount = f"{rng.randint(10, 400)}.00"
            direction, channel, currency = rng.choice(("in", "out")), "sepa", "EUR"
        rows.append(
            {
                "external_id": f"live-{seed}-{i}-{uuid.uuid4().hex[:8]}",
                "account": a.iban,
                "booked_at": at.isoformat(),
                "amount": amount,
                "currency": currency,
                "direction": direction,
                "channel": channel,
                "counterparty": cp,
                "description": None,
            }
        )
    return rows


def _plain_values(rows: list[dict[str, Any]], by_iban: dict[str, BenchAccount]) -> list[tuple]:
    now = utcnow()
    out = []
    for r in rows:
        a = by_iban[r["account"]]
        cp = r["counterparty"] or {}
        out.append(
            (uuid.uuid4(), r["external_id"], a.id, a.customer_id, r["booked_at"], r["amount"],
             r["currency"], r["direction"], r["channel"], cp.get("name"), cp.get("account"),
             cp.get("country"), r["description"], "api", now)
        )  # fmt: skip
    return out


def create_plain_table(services: Services) -> None:
    with psycopg.connect(services.owner_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PLAIN}")
        conn.execute(f"CREATE TABLE {PLAIN} (LIKE transaction INCLUDING DEFAULTS)")
        conn.execute(f"GRANT SELECT, INSERT ON {PLAIN} TO backoffice_app")


async def run(
    services: Services,
    *,
    accounts: int,
    history_days: int,
    batches: int,
    batch_size: int,
    samples: int,
    progress: Callable[[str], None],
) -> AmlBench:
    client = await connect(services.temporal_address)
    await ensure_search_attributes(client)
    settings = services.settings(queue_name("bench-aml"))
    db = Database(services.urls.app, pool_size=10, application_name="bench-aml")
    result = AmlBench(accounts=accounts, batch_size=batch_size)
    try:
        await import_ofac_file(db, DEFAULT_LIST_FILE)
        made = await make_accounts(db, accounts)
        by_iban = {a.iban: a for a in made}
        actor = await bench_actor(db, "upstream_system")
        live_start = utcnow() - timedelta(hours=24)
        create_plain_table(services)

        # History through the importer, then the same file by plain COPY.
        csv_path = services.workdir / "aml-history.csv"
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for r in history(made, history_days, live_start):
                writer.writerow(r)
                result.history_rows += 1
        progress(f"aml: importing {result.history_rows} rows of history ({accounts} accounts)")
        started = time.perf_counter()
        imported = await import_transactions_csv(
            db,
            settings,
            csv_path,
            alert=False,
            progress=lambda done, total: None,
            report_path=services.workdir / "aml-history-rejected.csv",
        )
        result.import_seconds = time.perf_counter() - started
        if imported.inserted != result.history_rows:
            raise RuntimeError(f"history import inserted {imported.inserted}: {imported.reasons}")
        result.import_baseline_seconds = _copy_baseline(services, csv_path)
        with psycopg.connect(services.owner_dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE transaction")
        progress(
            f"  import {result.history_rows / result.import_seconds:.0f} rows/s, "
            f"plain COPY {result.history_rows / result.import_baseline_seconds:.0f} rows/s"
        )

        # Warm-up: the watch-list index is built on first use (once per process).
        warm = live_rows(made, 100, live_start - timedelta(minutes=30), timedelta(minutes=1), 0)
        await ingest(db, client, settings, actor, warm)

        progress(f"aml: ingest {batches} x {batch_size} rows, every rule on")
        span = timedelta(hours=20) / batches
        prepared = [
            live_rows(made, batch_size, live_start + span * b, span, b + 1) for b in range(batches)
        ]
        started = time.perf_counter()
        for rows in prepared:
            outcome = await ingest(db, client, settings, actor, rows)
            if outcome.accepted != len(rows):
                raise RuntimeError(f"ingest refused rows: {outcome.rejected_rows[:3]}")
            result.alerts += len(outcome.alerts)
            result.cases += len(outcome.cases)
        result.batch_seconds = time.perf_counter() - started
        result.batch_rows = batches * batch_size
        result.batch_baseline_seconds = await insert_baseline(services, prepared, by_iban)
        progress(
            f"  {result.batch_rows / result.batch_seconds:.0f} transactions/s "
            f"({result.alerts} alerts); plain INSERT "
            f"{result.batch_rows / result.batch_baseline_seconds:.0f}/s"
        )

        progress(f"aml: {samples} single-transaction ingests")
        late = live_start + timedelta(hours=21)
        singles = live_rows(made, samples + 10, late, timedelta(hours=2), 99)
        singles = [r for i, r in enumerate(singles) if i % 1000 != 999][:samples]
        for r in singles:
            started = time.perf_counter()
            await ingest(db, client, settings, actor, [r])
            result.single_ms.append((time.perf_counter() - started) * 1000)
        result.single_baseline_ms = await _single_baseline(services, singles, by_iban)
    finally:
        await db.dispose()
    return result


def _copy_baseline(services: Services, path: Path) -> float:
    """COPY the CSV into the plain table as the app role (ids and owners resolved by SQL)."""
    with psycopg.connect(services.app_dsn) as conn:
        started = time.perf_counter()
        conn.execute(
            "CREATE TEMP TABLE plain_stage (external_id text, account_iban text, "
            "booked_at timestamptz, amount numeric, currency text, direction text, channel text, "
            "counterparty_name text, counterparty_account text, counterparty_country text, "
            "description text) ON COMMIT DROP"
        )
        with conn.cursor().copy(
            f"COPY plain_stage ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy, path.open("rb") as handle:  # fmt: skip
            while chunk := handle.read(1 << 16):
                copy.write(chunk)
        conn.execute(
            f"INSERT INTO {PLAIN} ({PLAIN_COLUMNS}) SELECT gen_random_uuid(), s.external_id, "
            "a.id, a.customer_id, s.booked_at, s.amount, s.currency, s.direction, s.channel, "
            "nullif(s.counterparty_name, ''), nullif(s.counterparty_account, ''), "
            "nullif(s.counterparty_country, ''), nullif(s.description, ''), 'import', now() "
            "FROM plain_stage s JOIN account a ON a.iban = s.account_iban"
        )
        conn.commit()
        return time.perf_counter() - started


async def insert_baseline(
    services: Services, batches: list[list[dict[str, Any]]], by_iban: dict[str, BenchAccount]
) -> float:
    values = [_plain_values(rows, by_iban) for rows in batches]
    sql = f"INSERT INTO {PLAIN} ({PLAIN_COLUMNS}) VALUES ({', '.join(['%s'] * 15)})"
    async with await psycopg.AsyncConnection.connect(services.app_dsn) as conn:
        started = time.perf_counter()
        for batch in values:
            async with conn.cursor() as cursor:
                await cursor.executemany(sql, batch)
            await conn.commit()
        return time.perf_counter() - started


async def _single_baseline(
    services: Services, rows: list[dict[str, Any]], by_iban: dict[str, BenchAccount]
) -> list[float]:
    sql = f"INSERT INTO {PLAIN} ({PLAIN_COLUMNS}) VALUES ({', '.join(['%s'] * 15)})"
    latencies: list[float] = []
    async with await psycopg.AsyncConnection.connect(services.app_dsn) as conn:
        for value in _plain_values(rows, by_iban):
            started = time.perf_counter()
            await conn.execute(sql, value)
            await conn.commit()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies
