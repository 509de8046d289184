"""`import_transactions_csv`: 100 000 rows streamed in chunks with progress, refused rows
reported with reasons, a re-run inserting nothing; with `alert`, imported rows are monitored
in booked order whatever the file's order."""

from __future__ import annotations

import csv
import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from aml.commands.legacy_transactions import COLUMNS, import_transactions_csv
from core.db import Database
from core.settings import Settings
from models.aml import AmlAlert, AmlCase, Transaction
from models.base import utcnow
from shared.errors import Invalid
from shared.iban import iban_for
from tests.aml_data import new_customers

pytestmark = pytest.mark.usefixtures("onboarding_ready")


def _write(path: Path, rows: list[dict[str, Any]] | Any) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow(r)


def _rows(ibans: list[str], count: int, tag: str) -> Any:
    """`count` ordinary rows over the accounts, every 20 000th one refused for a reason."""
    start = utcnow() - timedelta(days=365)
    shops = ("REWE Markt", "Lidl", "Amazon EU", "Stadtwerke", "dm-drogerie markt")
    for i in range(count):
        r = {
            "external_id": f"{tag}-{i:06d}",
            "account_iban": ibans[i % len(ibans)],
            "booked_at": (start + timedelta(minutes=5 * i)).isoformat(),
            "amount": f"{10 + i % 400}.{i % 100:02d}",
            "currency": "EUR",
            "direction": "in" if i % 7 == 0 else "out",
            "channel": "card" if i % 3 else "sepa",
            "counterparty_name": shops[i % len(shops)],
            "counterparty_account": "",
            "counterparty_country": "DE",
            "description": f"Legacy booking {i}",
        }
        if i % 20_000 == 1:
            r["amount"] = "12,50"
        elif i % 20_000 == 2:
            r["account_iban"] = iban_for(9_999_000_000 + i, bank_code="50010517")
        elif i % 20_000 == 3:
            r["booked_at"] = "2025-13-45"
            r["counterparty_country"] = "XX"
        yield r


async def test_a_hundred_thousand_rows_import_with_progress_reasons_and_a_rerun_does_nothing(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    customers = await new_customers(db, 300, prefix="Legacy")
    tag = f"legacy-{time.time_ns()}"
    source = tmp_path / "transactions.csv"
    _write(source, _rows([c.iban for c in customers], 100_000, tag))
    calls: list[tuple[int, int]] = []

    started = time.perf_counter()
    report = await import_transactions_csv(
        db,
        settings,
        source,
        alert=False,
        progress=lambda done, total: calls.append((done, total)),
        report_path=tmp_path / "rejected.csv",
    )
    seconds = time.perf_counter() - started
    assert seconds < 60, f"100 000 rows took {seconds:.1f} s"
    assert (report.total, report.inserted, report.duplicates, report.rejected) == (
        100_000,
        99_985,
        0,
        15,
    )
    assert [done for done, _ in calls] == list(range(5_000, 100_001, 5_000))
    assert {total for _, total in calls} == {100_000}

    with (tmp_path / "rejected.csv").open(newline="") as handle:
        refused = list(csv.DictReader(handle))
    assert len(refused) == 15
    by_id = {r["external_id"]: r for r in refused}
    assert by_id[f"{tag}-000001"]["line"] == "3"  # header is line 1, row 0 line 2
    assert "amount:" in by_id[f"{tag}-000001"]["reason"]
    assert (
        by_id[f"{tag}-020002"]["reason"] == "account_iban: no account with this IBAN at this bank"
    )
    reason = by_id[f"{tag}-040003"]["reason"]
    assert "booked_at:" in reason and "counterparty_country:" in reason
    assert report.reasons == {"bad amount": 5, "unknown account": 5, "bad booked_at": 5}

    async with db.session() as session:
        stored = (
            await session.exec(
                select(func.count())
                .select_from(Transaction)
                .where(col(Transaction.external_id).startswith(tag))
            )
        ).one()
    assert stored == 99_985

    calls.clear()
    again = await import_transactions_csv(
        db,
        settings,
        source,
        alert=False,
        progress=lambda done, total: calls.append((done, total)),
        report_path=tmp_path / "rejected-again.csv",
    )
    assert (again.inserted, again.duplicates, again.rejected) == (0, 99_985, 15)
    assert calls[-1] == (100_000, 100_000)


async def test_a_changed_row_under_a_used_external_id_is_refused_on_rerun(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    [customer] = await new_customers(db, 1, prefix="Legacy")
    tag = f"legacy-{time.time_ns()}"
    rows = list(_rows([customer.iban], 3, tag))[:1]
    _write(tmp_path / "a.csv", rows)
    first = await import_transactions_csv(
        db, settings, tmp_path / "a.csv", alert=False, progress=lambda *_: None,
        report_path=tmp_path / "a-report.csv",
    )  # fmt: skip
    assert first.inserted == 1
    _write(tmp_path / "b.csv", [{**rows[0], "amount": "999.00"}])
    second = await import_transactions_csv(
        db, settings, tmp_path / "b.csv", alert=False, progress=lambda *_: None,
        report_path=tmp_path / "b-report.csv",
    )  # fmt: skip
    assert (second.inserted, second.duplicates, second.rejected) == (0, 0, 1)
    assert "already used for a different transaction" in (tmp_path / "b-report.csv").read_text()


async def test_header_case_spacing_and_missing_optional_columns_do_not_matter(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    [customer] = await new_customers(db, 1, prefix="Legacy")
    tag = f"legacy-{time.time_ns()}"
    source = tmp_path / "loose.csv"
    source.write_text(
        " External_ID ,ACCOUNT_IBAN,Booked_At,Amount,Currency,Direction,Channel,Notes\n"
        f"{tag}-1 , {customer.iban} ,2024-05-03T14:20:00+02:00, 12.50 ,eur, out ,card,x\n"
        "\n"
        f"{tag}-2,{customer.iban},2024-05-04T09:02:11Z,7,EUR,in,sepa,y,surplus\n",
        encoding="utf-8",
    )
    report = await import_transactions_csv(
        db, settings, source, alert=False, progress=lambda *_: None,
        report_path=tmp_path / "loose-report.csv",
    )  # fmt: skip
    assert (report.total, report.inserted, report.rejected) == (2, 1, 1)
    assert report.reasons == {"malformed row": 1}
    missing = tmp_path / "missing.csv"
    missing.write_text("external_id,amount\nx,1\n", encoding="utf-8")
    with pytest.raises(Invalid, match="account_iban, booked_at, currency, direction, channel"):
        await import_transactions_csv(
            db, settings, missing, alert=False, progress=lambda *_: None,
            report_path=tmp_path / "missing-report.csv",
        )  # fmt: skip
    assert not (tmp_path / "missing-report.csv").exists()


async def test_with_alert_imported_rows_are_monitored_in_booked_order(
    db: Database, settings: Settings, temporal_env: Any, worker: None, tmp_path: Path
) -> None:
    quiet, structurer = await new_customers(db, 2, prefix="Legacy")
    tag = f"legacy-{time.time_ns()}"
    now = utcnow()

    def deposit(n: int, amount: str, days_ago: float) -> dict[str, Any]:
        return {
            "external_id": f"{tag}-dep-{n}",
            "account_iban": structurer.iban,
            "booked_at": (now - timedelta(days=days_ago)).isoformat(),
            "amount": amount,
            "currency": "EUR",
            "direction": "in",
            "channel": "cash",
        }

    ordinary = list(_rows([quiet.iban], 50, tag))[4:]
    deposits = [deposit(1, "9400.00", 40), deposit(2, "9600.00", 39), deposit(3, "9800.00", 38)]
    rows = ordinary + deposits
    random.Random(7).shuffle(rows)  # the file is not in booked order
    _write(tmp_path / "alerting.csv", rows)

    report = await import_transactions_csv(
        db,
        settings,
        tmp_path / "alerting.csv",
        alert=True,
        progress=lambda *_: None,
        report_path=tmp_path / "alerting-report.csv",
        temporal=temporal_env.client,
        chunk_size=10,
    )
    assert (report.inserted, report.rejected, report.alerts) == (49, 0, 1)
    async with db.session() as session:
        alerts = (
            await session.exec(
                select(AmlAlert).where(col(AmlAlert.customer_id).in_([quiet.id, structurer.id]))
            )
        ).all()
        cases = (
            await session.exec(select(AmlCase).where(AmlCase.customer_id == structurer.id))
        ).all()
    [alert] = alerts
    assert (alert.customer_id, alert.rule_key) == (structurer.id, "structuring")
    assert alert.reason.startswith("3 cash deposits of 9 400\N{EN DASH}9 800 EUR within 5 days")
    assert len(cases) == 1 and alert.case_id == cases[0].case_id
