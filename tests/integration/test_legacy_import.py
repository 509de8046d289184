"""`backoffice import customers` / `import transactions`: a legacy book of 100 000 rows each
goes in through the real command line, bad rows are reported with reasons, a second run
creates nothing, and the migrated customers show in the customer pages."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, func, select
from temporalio.testing import WorkflowEnvironment

from core.db import Database, DatabaseUrls
from core.settings import Settings
from customers.legacy_import import IMPORT_ACTION
from models.aml import Transaction
from models.audit import AuditEvent
from models.onboarding import Account, Customer
from shared.iban import format_iban, iban_for
from tests.helpers import environment_without_services, new_plan, new_staff, run_command, web_login

# A watch list: the customers import starts screening the new customers when there is one.
pytestmark = pytest.mark.usefixtures("onboarding_ready")

ROWS = 100_000
CUSTOMER_HEADER = [
    "legacy_ref", "kind", "name", "segment", "country", "email", "risk_level", "risk_score",
    "iban", "currency", "opened_at", "tariff_plan",
]  # fmt: skip


# A customers import that creates customers starts a re-screening of those customers.
# Pointed at a queue no worker polls, that run (this book's 100 000) waits instead of
# loading the suite: these tests check that the import starts it;
# tests/integration/test_rescreen_imported.py and tests/workflows/test_rescreening.py what
# a run does.
UNPOLLED_QUEUE = f"unpolled-{uuid.uuid4().hex[:8]}"


async def cli(
    args: list[str],
    urls: DatabaseUrls,
    settings: Settings,
    *,
    temporal_address: str | None = None,
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = environment_without_services()
    env.update(
        DATABASE_URL=urls.app,
        DATABASE_ADMIN_URL=urls.admin,
        TEMPORAL_ADDRESS=temporal_address or settings.temporal_address,
        TASK_QUEUE=settings.task_queue if args[0] == "transactions" else UNPOLLED_QUEUE,
        ENVIRONMENT="test",
    )
    started = time.monotonic()
    done = await run_command(
        [sys.executable, "-m", "core.cli", "import", *args], env=env, kill_after=180
    )
    return done, time.monotonic() - started


@dataclass
class Book:
    run: str  # in every legacy_ref and name of this book, so counts see only it
    bank_code: str
    customers_csv: Path
    customers_report: Path
    good_rows: int
    customers: int
    bad: dict[int, str]  # line -> words the report's reason must hold
    plan_code: str
    good: list[int] = field(default_factory=list)  # rows that open an account

    def ref(self, i: int) -> str:
        # Every fifth row is a second account of the customer before it.
        return f"L{self.run}-{i - 1 if i % 5 == 4 else i:06d}"

    def iban(self, i: int) -> str:
        return iban_for(i + 1, bank_code=self.bank_code)


def write_customers(path: Path, run: str, bank_code: str, plan_code: str) -> Book:
    book = Book(run, bank_code, path, path.with_name("customers.rejected.csv"), 0, 0, {}, plan_code)
    good_refs: set[str] = set()
    countries = ("DE", "FR", "NL", "AT", "ES")
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(CUSTOMER_HEADER)
        for i in range(ROWS):
            ref = book.ref(i)
            number = int(ref[-6:])
            business = number % 7 == 0
            name = f"{'Firma' if business else 'Ida'} Legacy{run} {ref[-6:]}"
            iban = book.iban(i)
            row = [
                ref,
                "business" if business else "individual",
                name,
                "business" if business else "retail",
                countries[number % 5],
                "" if business else f"ida.{ref.lower()}@example.org",
                ("low", "medium", "high")[number % 3],
                str(number % 100),
                format_iban(iban) if i % 2 else iban,  # both ways people write them
                "GBP" if i % 11 == 0 else "EUR",
                f"20{10 + i % 14}-0{1 + i % 9}-1{i % 10}",
                plan_code if i % 1000 == 7 else "",
            ]
            line = i + 2  # the header is line 1
            if i % 100 == 50:
                kind = (i // 100) % 5
                if kind == 0:  # check digits that do not match
                    row[8] = iban[:2] + ("01" if iban[2:4] != "01" else "02") + iban[4:]
                    book.bad[line] = "check digits"
                elif kind == 1:
                    row[9] = "XYZ"
                    book.bad[line] = "currency 'XYZ'"
                elif kind == 2:
                    row[4] = "ZZ"
                    book.bad[line] = "country 'ZZ'"
                elif kind == 3:
                    row[2] = ""
                    book.bad[line] = "name is empty"
                else:  # the IBAN of the row before, under another customer
                    row[8] = book.iban(i - 1)
                    book.bad[line] = f"is already on line {line - 1}"
            elif i % 1000 == 504:  # a second account whose owner is described differently
                row[2] = name + " Junior"
                book.bad[line] = "is described differently on line"
            out.writerow(row)
            if line not in book.bad:
                book.good_rows += 1
                book.good.append(i)
                good_refs.add(ref)
    book.customers = len(good_refs)
    return book


@pytest.fixture(scope="module")
async def book(tmp_path_factory: pytest.TempPathFactory, db: Database) -> Book:
    # A plan of our own, named by some rows; the others get their segment's default plan.
    plan = await new_plan(db, segment="retail")
    await new_plan(db, segment="retail", is_default=True)
    await new_plan(db, segment="business", currency="USD", is_default=True)
    run = uuid.uuid4().hex[:8]
    bank_code = f"{random.randrange(10_000_000, 99_999_999)}"
    while bank_code == "37040044":  # ours
        bank_code = f"{random.randrange(10_000_000, 99_999_999)}"
    return write_customers(
        tmp_path_factory.mktemp("book") / "customers.csv", run, bank_code, plan.code
    )


async def _counts(db: Database, book: Book) -> tuple[int, int]:
    async with db.session() as session:
        customers = (
            await session.exec(
                select(func.count())
                .select_from(Customer)
                .where(col(Customer.legacy_ref).startswith(f"L{book.run}-"))
            )
        ).one()
        accounts = (
            await session.exec(
                select(func.count())
                .select_from(Account)
                .join(Customer, col(Customer.id) == Account.customer_id)
                .where(col(Customer.legacy_ref).startswith(f"L{book.run}-"))
            )
        ).one()
    return customers, accounts


@dataclass
class Run:
    done: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
async def imported(book: Book, db_urls: DatabaseUrls, settings: Settings) -> Run:
    """The book's first import, which the other tests build on."""
    done, seconds = await cli(["customers", str(book.customers_csv)], db_urls, settings)
    assert done.returncode == 0, done.stderr
    print(
        f"\n100k customers: {seconds:.1f} s ({ROWS / seconds:,.0f} rows/s)\n{done.stdout}{done.stderr}"
    )
    return Run(done, seconds)


async def test_customers_import_with_progress_and_a_report_of_rejected_rows(
    book: Book, imported: Run, db: Database
) -> None:
    done = imported.done
    # Progress on stderr: rows done of total, percentage, rate.
    assert f"{ROWS:,}/{ROWS:,} rows" in done.stderr and "100%" in done.stderr
    assert "rows/s" in done.stderr
    assert (
        f"{book.customers:,} customers created, {book.good_rows:,} accounts opened" in done.stdout
    )
    assert f"{len(book.bad):,} rows rejected" in done.stdout
    assert f"report: {book.customers_report}" in done.stdout
    assert await _counts(db, book) == (book.customers, book.good_rows)
    # The new customers are screened now, not at the next daily run.
    assert f"sanctions screening of the {book.customers:,} new customers started" in done.stdout

    with book.customers_report.open(newline="") as handle:
        rejected = {int(r["line"]): r for r in csv.DictReader(handle)}
    assert set(rejected) == set(book.bad)
    for line, words in book.bad.items():
        assert words in rejected[line]["reason"], (line, rejected[line])
        assert rejected[line]["legacy_ref"].startswith(f"L{book.run}-")

    async with db.session() as session:
        first = (
            await session.exec(select(Customer).where(Customer.legacy_ref == book.ref(1)))
        ).one()
        accounts = (
            await session.exec(select(Account).where(Account.customer_id == first.id))
        ).all()
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == IMPORT_ACTION,
                    col(AuditEvent.details)["file"].astext == "customers.csv",
                    col(AuditEvent.details)["rows"].astext == str(ROWS),
                )
            )
        ).all()
    assert first.reference.startswith("CUS-") and first.kyc_status == "migrated"
    assert first.application_id is None and first.status == "active"
    assert [a.iban for a in accounts] == [book.iban(1)]
    assert accounts[0].application_id is None
    # One summary event for the run, with its counts.
    assert len(events) == 1
    assert events[0].details["customers_created"] == book.customers
    assert events[0].details["rejected"] == len(book.bad)


async def test_a_second_run_of_the_same_file_creates_nothing(
    book: Book, imported: Run, db: Database, db_urls: DatabaseUrls, settings: Settings
) -> None:
    before = await _counts(db, book)
    assert before == (book.customers, book.good_rows)
    again, _ = await cli(["customers", str(book.customers_csv)], db_urls, settings)
    assert again.returncode == 0, again.stderr
    assert "0 customers created, 0 accounts opened" in again.stdout
    assert f"{book.good_rows:,} rows already imported" in again.stdout
    assert f"{len(book.bad):,} rows rejected" in again.stdout
    assert "screening" not in again.stdout  # no new customer, nothing to screen
    assert await _counts(db, book) == before


async def test_the_import_starts_a_rescreening_of_its_new_customers(
    imported: Run, temporal_env: WorkflowEnvironment
) -> None:
    """The run the import started: a re-screening of its own (not the schedule's run of the
    whole book), on the import's task queue."""
    client = temporal_env.client
    workflow_id = imported.done.stdout.split("(workflow ", 1)[1].split(";", 1)[0]
    assert workflow_id.startswith("rescreen-import-")
    run = await client.get_workflow_handle(workflow_id).describe()
    assert run.workflow_type == "RescreenWorkflow"
    assert run.raw_description.execution_config.task_queue.name == UNPOLLED_QUEUE
    assert "only the customers this import created" in imported.done.stdout


async def test_an_import_without_temporal_succeeds_and_says_how_to_screen(
    book: Book, imported: Run, db_urls: DatabaseUrls, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "offline.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(CUSTOMER_HEADER)
        out.writerow([f"O{book.run}-1", "individual", "Olga Offline", "retail", "DE", "", "low",
                      "", iban_for(ROWS + 20, bank_code=book.bank_code), "EUR", "", ""])  # fmt: skip
    done, _ = await cli(["customers", str(path)], db_urls, settings, temporal_address="127.0.0.1:1")
    assert done.returncode == 0, done.stderr
    assert "1 customers created, 1 accounts opened" in done.stdout
    assert "not screened yet: Temporal is not reachable at 127.0.0.1:1" in done.stdout
    assert "daily re-screening" in done.stdout
    assert "`backoffice screening rescreen`" in done.stdout


async def test_rows_that_clash_with_the_database_are_rejected_and_the_rest_kept(
    book: Book,
    imported: Run,
    db: Database,
    db_urls: DatabaseUrls,
    settings: Settings,
    tmp_path: Path,
) -> None:
    async with db.session() as session:
        owner = (
            await session.exec(select(Customer).where(Customer.legacy_ref == book.ref(1)))
        ).one()
    fresh = iban_for(ROWS + 10, bank_code=book.bank_code)
    rows = [
        # An IBAN the book already gave to another customer.
        [f"X{book.run}-1", "individual", "Ana Clash", "retail", "PT", "", "low", "",
         book.iban(1), "EUR", "", ""],
        # An IBAN in the range onboarding hands out.
        [f"X{book.run}-2", "individual", "Ben Range", "retail", "DE", "", "low", "",
         iban_for(123_456), "EUR", "", ""],
        [f"X{book.run}-3", "individual", "Cy Plan", "retail", "DE", "", "low", "",
         iban_for(ROWS + 11, bank_code=book.bank_code), "EUR", "", "NO-SUCH-PLAN"],
        [f"X{book.run}-4", "individual", "Too Short"],
        # A new account for a customer the book created: added to that customer.
        [book.ref(1), "individual", owner.name, "retail", owner.country, owner.email or "",
         owner.risk_level, str(owner.risk_score), fresh, "EUR", "2020-05-01", ""],
    ]  # fmt: skip
    path = tmp_path / "more.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(CUSTOMER_HEADER)
        out.writerows(rows)
    report = tmp_path / "reports" / "more-report.csv"
    report.parent.mkdir()
    done, _ = await cli(["customers", str(path), "--report", str(report)], db_urls, settings)
    assert done.returncode == 0, done.stderr
    assert "0 customers created, 1 accounts opened (1 existing customers gained accounts)" in (
        done.stdout
    )
    with report.open(newline="") as handle:
        reasons = {int(r["line"]): r["reason"] for r in csv.DictReader(handle)}
    assert (
        reasons[2]
        == f"IBAN {format_iban(book.iban(1))} already belongs to customer {owner.reference}"
    )
    assert "range this back office issues" in reasons[3]
    assert reasons[4] == "tariff plan NO-SUCH-PLAN does not exist"
    assert reasons[5] == f"has 3 fields; the header has {len(CUSTOMER_HEADER)}"
    assert set(reasons) == {2, 3, 4, 5}
    async with db.session() as session:
        added = (await session.exec(select(Account).where(Account.iban == fresh))).one()
    assert added.customer_id == owner.id


async def test_a_file_that_cannot_be_read_exits_non_zero_naming_the_problem(
    tmp_path: Path, db_urls: DatabaseUrls, settings: Settings
) -> None:
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("legacy_ref,name,iban\nA-1,Someone,DE89370400440532013000\n")
    done, _ = await cli(["customers", str(lacking)], db_urls, settings)
    assert done.returncode == 1
    assert "lacks the required column(s) kind, segment, country, email, risk_level" in done.stderr
    missing, _ = await cli(["customers", str(tmp_path / "nothing.csv")], db_urls, settings)
    assert missing.returncode == 1 and "No file at" in missing.stderr
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(",".join(CUSTOMER_HEADER).encode() + b"\nA-1,individual,J\xf6rg\n")
    undecodable, _ = await cli(["customers", str(latin1)], db_urls, settings)
    assert undecodable.returncode == 1 and "is not UTF-8 text" in undecodable.stderr
    # The transactions import refuses the same files the same way.
    no_columns, _ = await cli(["transactions", str(lacking)], db_urls, settings)
    assert no_columns.returncode == 1
    assert "lacks the column(s) external_id, account_iban, booked_at" in no_columns.stderr
    not_utf8, _ = await cli(["transactions", str(latin1)], db_urls, settings)
    assert not_utf8.returncode == 1 and "is not UTF-8 text" in not_utf8.stderr
    gone, _ = await cli(["transactions", str(tmp_path / "nothing.csv")], db_urls, settings)
    assert gone.returncode == 1 and "No file at" in gone.stderr


async def test_migrated_customers_show_in_the_customer_list_and_360(
    book: Book, imported: Run, http: httpx.AsyncClient, db: Database
) -> None:
    async with db.session() as session:
        customer = (
            await session.exec(select(Customer).where(Customer.legacy_ref == book.ref(3)))
        ).one()
    support = await new_staff(db, "support")
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, support.username)
        by_name = await web.get("/customers", params={"q": customer.name})
        by_legacy_ref = await web.get("/customers", params={"q": book.ref(3)})
        page = await web.get(f"/customers/{customer.id}")
    for listing in (by_name, by_legacy_ref):
        assert listing.status_code == 200
        assert customer.reference in listing.text and format_iban(book.iban(3)) in listing.text
    assert page.status_code == 200
    text = page.text
    assert f"migrated from legacy book <code>{book.ref(3)}</code>" in text
    assert "KYC migrated" in text and format_iban(book.iban(3)) in text
    assert "no onboarding application here" in text
    # Its timeline starts with the import run that created it.
    assert IMPORT_ACTION in text and "from <code>customers.csv</code>" in text


# ----------------------------------------------------------------------------- transactions
TRANSACTION_HEADER = [
    "external_id", "account_iban", "booked_at", "amount", "currency", "direction", "channel",
    "counterparty_name", "counterparty_account", "counterparty_country", "description",
]  # fmt: skip
CHANNELS = ("card", "sepa", "swift", "cash", "crypto")


@dataclass
class History:
    path: Path
    report: Path
    good: int
    bad: dict[int, str]  # line -> words the reason must hold
    first_iban: str  # of the account the first rows are booked on


@pytest.fixture(scope="module")
def history(book: Book, tmp_path_factory: pytest.TempPathFactory) -> History:
    """100 000 transactions on the book's accounts, amounts under every alert threshold."""
    path = tmp_path_factory.mktemp("history") / "transactions.csv"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    stranger = iban_for(4_242, bank_code=f"{int(book.bank_code) - 1}")
    bad: dict[int, str] = {}
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(TRANSACTION_HEADER)
        for i in range(ROWS):
            j = book.good[i % len(book.good)]
            line = i + 2
            row = [
                f"T{book.run}-{i:06d}",
                book.iban(j),
                (start + timedelta(minutes=7 * i)).isoformat().replace("+00:00", "Z"),
                f"{i % 900 + 1}.{i % 100:02d}",
                "GBP" if j % 11 == 0 else "EUR",
                "in" if i % 2 else "out",
                CHANNELS[i % 5],
                f"Counterparty {i % 500}",
                f"NL{i % 97:02d}BANK{i:010d}" if i % 3 else "",
                ("NL", "DE", "FR", "")[i % 4],
                f"Payment {i}",
            ]
            if i % 100 == 50:
                kind = (i // 100) % 5
                if kind == 0:
                    row[1] = stranger
                    bad[line] = "account_iban: no account with this IBAN"
                elif kind == 1:
                    row[3] = "-5.00"
                    bad[line] = "amount:"
                elif kind == 2:
                    row[5] = "sideways"
                    bad[line] = "direction: must be in or out"
                elif kind == 3:
                    row[2] = "2024-01-01T10:00:00"
                    bad[line] = "booked_at: needs a timezone"
                else:
                    row[3] = "1.234"
                    bad[line] = "amount:"
            out.writerow(row)
    return History(path, path.with_name("transactions.rejected.csv"), ROWS - len(bad), bad,
                   book.iban(book.good[0]))  # fmt: skip


async def _transaction_count(db: Database, book: Book) -> int:
    async with db.session() as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(Transaction)
                .where(col(Transaction.external_id).startswith(f"T{book.run}-"))
            )
        ).one()
    return int(count)


async def test_transactions_import_once_with_progress_and_rejected_rows(
    book: Book,
    imported: Run,
    history: History,
    db: Database,
    db_urls: DatabaseUrls,
    settings: Settings,
) -> None:
    done, seconds = await cli(["transactions", str(history.path)], db_urls, settings)
    assert done.returncode == 0, done.stderr
    print(
        f"\n100k transactions: {seconds:.1f} s ({ROWS / seconds:,.0f} rows/s)\n{done.stdout}{done.stderr}"
    )
    assert f"{ROWS:,}/{ROWS:,} rows" in done.stderr and "100%" in done.stderr
    assert f"{history.good:,} transactions inserted" in done.stdout
    assert f"{len(history.bad):,} rows rejected" in done.stdout
    assert f"report: {history.report}" in done.stdout
    assert "alerts raised" not in done.stdout
    assert await _transaction_count(db, book) == history.good
    with history.report.open(newline="") as handle:
        rejected = {int(r["line"]): r for r in csv.DictReader(handle)}
    assert set(rejected) == set(history.bad)
    for line, words in history.bad.items():
        assert words in rejected[line]["reason"], (line, rejected[line])

    again, _ = await cli(["transactions", str(history.path)], db_urls, settings)
    assert again.returncode == 0, again.stderr
    assert "0 transactions inserted" in again.stdout
    assert f"{history.good:,} rows already imported" in again.stdout
    assert await _transaction_count(db, book) == history.good


async def test_migrated_customer_360_lists_its_imported_transactions(
    book: Book, imported: Run, history: History, http: httpx.AsyncClient, db: Database
) -> None:
    if await _transaction_count(db, book) == 0:
        pytest.skip("needs the transactions import above")
    async with db.session() as session:
        customer = (
            await session.exec(
                select(Customer)
                .join(Account, col(Account.customer_id) == Customer.id)
                .where(Account.iban == history.first_iban)
            )
        ).one()
    analyst = await new_staff(db, "aml_analyst")
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, analyst.username)
        page = await web.get(f"/customers/{customer.id}", params={"tx_channel": "card"})
    assert page.status_code == 200
    assert 'id="customer-transactions"' in page.text and "Counterparty 0" in page.text
    assert "No transactions" not in page.text


async def test_transactions_alert_raises_alerts_into_cases(
    book: Book,
    imported: Run,
    worker: None,
    db_urls: DatabaseUrls,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """A few recent rows through the rules: one large payment (over the 50 000 EUR default)
    raises an alert."""
    path = tmp_path / "recent.csv"
    now = datetime.now(UTC) - timedelta(hours=1)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(TRANSACTION_HEADER)
        for n, amount in enumerate(("120.00", "68000.00", "35.50")):
            out.writerow([f"R{book.run}-{n}", book.iban(book.good[1]),
                          (now + timedelta(minutes=n)).isoformat(), amount, "EUR", "out",
                          "sepa", "Someone", "", "DE", ""])  # fmt: skip
    done, _ = await cli(["transactions", str(path), "--alert"], db_urls, settings)
    assert done.returncode == 0, done.stderr
    assert "3 transactions inserted" in done.stdout
    raised = int(done.stdout.split(" alerts raised")[0].rsplit("\n", 1)[-1].strip())
    assert raised >= 1, done.stdout
    # The judging phase reports its progress, not minutes of silence after 100 %.
    assert "judging 0 / 3 transactions, 0 alerts" in done.stderr
    assert f"judging 3 / 3 transactions, {raised} alerts" in done.stderr


def _example(doc: str, after: str) -> str:
    """The first ```csv block after the heading `after` in docs/import.md."""
    section = doc[doc.index(after) :]
    start = section.index("```csv\n") + len("```csv\n")
    return section[start : section.index("```", start)]


async def test_the_documented_examples_import_as_documented(
    book: Book, imported: Run, db_urls: DatabaseUrls, settings: Settings, tmp_path: Path
) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text()  # noqa: ASYNC240 (a small file, read once)
    customers = tmp_path / "customers.csv"
    customers.write_text(_example(doc, "## Customers and accounts"))
    transactions = tmp_path / "transactions.csv"
    transactions.write_text(_example(doc, "## Transactions"))
    first, _ = await cli(["customers", str(customers)], db_urls, settings)
    assert first.returncode == 0, first.stderr
    assert "2 customers created, 3 accounts opened" in first.stdout
    assert "0 rows rejected" in first.stdout
    then, _ = await cli(["transactions", str(transactions)], db_urls, settings)
    assert then.returncode == 0, then.stderr
    assert "2 transactions inserted" in then.stdout and "0 rows rejected" in then.stdout
