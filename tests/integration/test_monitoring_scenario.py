"""The issue's "done when": among thirty-odd customers going about their lives, one structures
cash deposits and one wires a large sum to a high-risk country. Exactly their alerts are
raised, each alerted customer gets exactly one AML case, nobody else gets one, and a later
alert for the same customer joins the open case."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from aml.commands.transactions import ingest
from core.db import Database
from core.settings import Settings
from models.aml import AmlAlert, AmlCase
from models.base import utcnow
from tests.aml_data import CustomerRef, cash_deposit, new_customers, normal_month, row
from tests.helpers import api_headers, new_staff, task_of

pytestmark = pytest.mark.usefixtures("onboarding_ready")


def _between(rows: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [r for r in rows if start <= datetime.fromisoformat(r["booked_at"]) < end]


async def _alerts(db: Database, customers: list[CustomerRef]) -> list[AmlAlert]:
    async with db.session() as session:
        found = await session.exec(
            select(AmlAlert).where(col(AmlAlert.customer_id).in_([c.id for c in customers]))
        )
        return list(found.all())


async def _cases(db: Database, customers: list[CustomerRef]) -> list[AmlCase]:
    async with db.session() as session:
        found = await session.exec(
            select(AmlCase).where(col(AmlCase.customer_id).in_([c.id for c in customers]))
        )
        return list(found.all())


async def test_structuring_and_a_large_wire_abroad_are_caught_among_normal_customers(
    http: httpx.AsyncClient, db: Database, temporal_env: Any, settings: Settings
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    headers = await api_headers(http, service.username)
    customers = await new_customers(db, 32, prefix="Scenario")
    structurer, wirer, others = customers[0], customers[1], customers[2:]
    now = utcnow().replace(microsecond=0)
    live_from = now - timedelta(days=5)

    # Three months of ordinary history for everyone, loaded without monitoring (a migration).
    history: list[dict[str, Any]] = []
    for i, c in enumerate(customers):
        for month in range(3):
            start = now - timedelta(days=95 - 30 * month)
            history += _between(normal_month(c.iban, i, start=start), start, live_from)
    loaded = await ingest(
        db, temporal_env.client, settings, service.actor, history, source="import", monitor=False
    )
    assert loaded.accepted == len(history) > 32 * 40 and not loaded.alerts

    # The last five days, as core banking posts them: ordinary life for thirty customers...
    live: list[dict[str, Any]] = []
    for i, c in enumerate(others, start=2):
        live += normal_month(c.iban, i, start=live_from, days=5, salary=f"{2800 + 40 * i}.00")
    # ...three cash deposits just under 10 000 EUR within five days...
    live += [
        cash_deposit(structurer.iban, "9500.00", booked_at=now - timedelta(days=4)),
        cash_deposit(structurer.iban, "9700.00", booked_at=now - timedelta(days=2)),
        cash_deposit(structurer.iban, "9900.00", booked_at=now - timedelta(hours=12)),
    ]
    # ...and a large SWIFT payment to a trading company in the United Arab Emirates.
    live.append(
        row(
            wirer.iban,
            "60000.00",
            booked_at=now - timedelta(days=1),
            channel="swift",
            name="Gulf Horizon General Trading FZE",
            cp_account="AE070331234567890123456",
            country="AE",
            description="Invoice 2026-118",
        )
    )
    live.sort(key=lambda r: r["booked_at"])
    for day in range(5):
        start = live_from + timedelta(days=day)
        batch = _between(live, start, start + timedelta(days=1))
        response = await http.post(
            "/api/v1/transactions", json={"transactions": batch}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.json()["rejected_rows"]
        assert response.json()["accepted"] == len(batch) > 0

    alerts = await _alerts(db, customers)
    assert {(a.customer_id, a.rule_key) for a in alerts} == {
        (structurer.id, "structuring"),
        (wirer.id, "large_transaction"),
        (wirer.id, "high_risk_country"),
        (wirer.id, "velocity"),
        (wirer.id, "new_counterparty"),
    }
    assert len(alerts) == 5
    [structuring] = [a for a in alerts if a.rule_key == "structuring"]
    assert structuring.reason == (
        "3 cash deposits of 9 500\N{EN DASH}9 900 EUR within 5 days, each under the 10 000 EUR threshold"
    )
    assert len(structuring.transaction_ids) == 3 and structuring.rule_version >= 1

    cases = await _cases(db, customers)
    assert sorted(c.customer_id for c in cases) == sorted([structurer.id, wirer.id])
    case_of = {c.customer_id: c.case_id for c in cases}
    assert all(a.case_id == case_of[a.customer_id] for a in alerts)
    # Each case's workflow received its alerts and opened the first-tier review.
    for customer_id in (structurer.id, wirer.id):
        await task_of(db, f"aml-{case_of[customer_id]}", "l1#1")

    # A new alert for the structuring customer goes into the same open case.
    # 25 000 in cash after 9 900 twelve hours earlier: far over 75 average days in one day.
    more = [cash_deposit(structurer.iban, "25000.00", booked_at=now)]
    response = await http.post("/api/v1/transactions", json={"transactions": more}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {a["rule"] for a in body["alerts"]} == {"large_transaction", "velocity"}
    assert [(c["case_id"], c["opened"]) for c in body["cases"]] == [
        (str(case_of[structurer.id]), False)
    ]
    cases = await _cases(db, customers)
    assert len(cases) == 2
    latest = [a for a in await _alerts(db, [structurer]) if a.rule_key != "structuring"]
    assert {a.case_id for a in latest} == {case_of[structurer.id]}
