"""`/api/v1/transactions` against the real services: idempotency, row-by-row validation,
the batch limit, permissions (refusals audited), single transactions and reading back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

from core.db import Database
from models.aml import AmlAlert, Transaction
from models.audit import AuditEvent
from models.base import utcnow
from shared.iban import iban_for
from tests.aml_data import new_customer, row
from tests.helpers import api_headers, new_staff

pytestmark = pytest.mark.usefixtures("onboarding_ready")


async def _service(http: httpx.AsyncClient, db: Database) -> tuple[str, dict[str, str]]:
    service = await new_staff(db, "upstream_system", prefix="svc")
    return service.username, await api_headers(http, service.username)


async def _ingested_events(db: Database, username: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.actor == username, AuditEvent.action == "transactions.ingested")
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def _count(db: Database, model: Any, *conditions: Any) -> int:
    async with db.session() as session:
        return int(
            (await session.exec(select(func.count()).select_from(model).where(*conditions))).one()
        )


async def test_reposting_a_batch_changes_nothing(http: httpx.AsyncClient, db: Database) -> None:
    username, headers = await _service(http, db)
    customer = await new_customer(db)
    now = utcnow()
    batch = [
        row(customer.iban, "42.50", booked_at=now - timedelta(hours=h), channel="card")
        for h in range(1, 5)
    ]
    batch.append(row(customer.iban, "60000.00", booked_at=now, channel="swift", name="Big Buyer"))
    first = await http.post("/api/v1/transactions", json={"transactions": batch}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (5, 0, 0)
    assert "large_transaction" in {a["rule"] for a in body["alerts"]}
    assert len(body["cases"]) == 1 and body["cases"][0]["reference"].startswith("AML-")
    alerts_before = await _count(db, AmlAlert, AmlAlert.customer_id == customer.id)

    again = await http.post("/api/v1/transactions", json={"transactions": batch}, headers=headers)
    assert again.status_code == 200, again.text
    repeat = again.json()
    assert (repeat["accepted"], repeat["duplicates"], repeat["rejected"]) == (0, 5, 0)
    assert repeat["alerts"] == [] and repeat["cases"] == []
    ids = [r["external_id"] for r in batch]
    assert await _count(db, Transaction, col(Transaction.external_id).in_(ids)) == 5
    assert await _count(db, AmlAlert, AmlAlert.customer_id == customer.id) == alerts_before
    events = await _ingested_events(db, username)
    assert [(e.details["accepted"], e.details["duplicates"]) for e in events] == [(5, 0), (0, 5)]


async def test_a_batch_keeps_its_good_rows_and_names_each_bad_field(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, headers = await _service(http, db)
    customer = await new_customer(db)
    good = row(customer.iban, "120.00", channel="card", name="REWE Markt")
    not_ours = iban_for(9_876_543_210, bank_code="50010517")
    rows: list[Any] = [
        good,
        {**row(customer.iban, "10.00"), "amount": 10.5},
        row(not_ours, "10.00"),
        {**row(customer.iban, "10.00"), "booked_at": "2026-11-26T09:30:00", "currency": "XXX"},
        {**row(customer.iban, "10.00"), "direction": "sideways", "channel": "pigeon"},
        row(customer.iban, "10.00", country="ZZ"),
        {**good, "amount": "999.00"},  # the good row's external_id with other content
        {**row(customer.iban, "10.123"), "colour": "blue"},
        "not an object",
        row(customer.iban, "75.00", direction="in", name="Mama"),
    ]
    response = await http.post("/api/v1/transactions", json={"transactions": rows}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 8)
    errors = {r["index"]: r["errors"] for r in body["rejected_rows"]}
    assert "floating point" in errors[1]["amount"]
    assert errors[2] == {"account": "no account with this IBAN at this bank"}
    assert "timezone" in errors[3]["booked_at"] and "currency" in errors[3]
    assert set(errors[4]) == {"direction", "channel"}
    assert set(errors[5]) == {"counterparty.country"}
    assert "already used for a different transaction" in errors[6]["external_id"]
    assert set(errors[7]) == {"amount", "colour"}
    assert errors[8] == {"row": "must be a JSON object"}
    assert body["rejected_rows"][0]["external_id"] == rows[1]["external_id"]
    async with db.session() as session:
        stored = (
            await session.exec(
                select(Transaction).where(Transaction.account_id == customer.account_id)
            )
        ).all()
    assert sorted(str(t.amount) for t in stored) == ["120.0000", "75.0000"]


async def test_a_batch_over_the_limit_is_refused_explaining_the_limit(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, headers = await _service(http, db)
    rows = [{"external_id": f"x-{i}"} for i in range(10_001)]
    response = await http.post("/api/v1/transactions", json={"transactions": rows}, headers=headers)
    assert response.status_code == 422
    assert "at most 10,000 transactions" in response.json()["message"]
    assert await _count(db, Transaction, Transaction.external_id == "x-0") == 0


async def test_a_caller_without_the_permission_is_refused_and_audited(
    http: httpx.AsyncClient, db: Database
) -> None:
    customer = await new_customer(db)
    for role in ("product_manager", "auditor"):
        member = await new_staff(db, role)
        headers = await api_headers(http, member.username)
        tx = row(customer.iban, "10.00")
        response = await http.post("/api/v1/transactions", json=tx, headers=headers)
        assert response.status_code == 403, (role, response.text)
        async with db.session() as session:
            denied = (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.actor == member.username,
                        AuditEvent.action == "transaction.submit",
                        AuditEvent.outcome == "denied",
                    )
                )
            ).all()
        assert len(denied) == 1
        assert await _count(db, Transaction, Transaction.external_id == tx["external_id"]) == 0


async def test_a_single_transaction_is_booked_and_read_back(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, headers = await _service(http, db)
    customer = await new_customer(db)
    tx = row(customer.iban, "89.90", channel="card", name="Lidl", description="Einkauf")
    response = await http.post("/api/v1/transactions", json=tx, headers=headers)
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["alerts"]) == (1, [])

    refused = await http.post(
        "/api/v1/transactions",
        json={**row(customer.iban, "1"), "currency": "EURO"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert set(refused.json()["fields"]) == {"currency"}

    analyst = await new_staff(db, "aml_analyst")
    reader = await api_headers(http, analyst.username)
    page = await http.get("/api/v1/transactions", params={"account": customer.iban}, headers=reader)
    assert page.status_code == 200, page.text
    [item] = page.json()["items"]
    assert (item["external_id"], item["amount"], item["currency"]) == (
        tx["external_id"],
        "89.90",
        "EUR",
    )
    assert item["counterparty"]["name"] == "Lidl" and item["account"] == customer.iban


async def test_transactions_are_listed_newest_first_page_by_page(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, headers = await _service(http, db)
    customer = await new_customer(db)
    other = await new_customer(db)
    now = utcnow()
    mine = [
        row(customer.iban, f"{10 + i}.00", booked_at=now - timedelta(days=i), channel="card")
        for i in range(5)
    ]
    batch = [*mine, row(other.iban, "1.00", channel="card")]
    await http.post("/api/v1/transactions", json={"transactions": batch}, headers=headers)
    page = await http.get(
        "/api/v1/transactions",
        params={"customer_id": str(customer.id), "page": 2, "per_page": 2},
        headers=headers,
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == 5 and (body["page"], body["per_page"]) == (2, 2)
    assert [i["external_id"] for i in body["items"]] == [
        mine[2]["external_id"],
        mine[3]["external_id"],
    ]

    # The same filters as customer 360: direction, channel, booking days (UTC, both ends in).
    await http.post(
        "/api/v1/transactions",
        json=row(customer.iban, "99.00", booked_at=now - timedelta(days=1), direction="in"),
        headers=headers,
    )
    filtered = await http.get(
        "/api/v1/transactions",
        params={
            "account": customer.iban,
            "direction": "out",
            "channel": "card",
            "booked_from": (now - timedelta(days=3)).date().isoformat(),
            "booked_to": (now - timedelta(days=1)).date().isoformat(),
        },
        headers=headers,
    )
    assert filtered.status_code == 200, filtered.text
    assert [i["external_id"] for i in filtered.json()["items"]] == [
        m["external_id"] for m in mine[1:4]
    ]
    bad = await http.get("/api/v1/transactions", params={"channel": "telex"}, headers=headers)
    assert bad.status_code == 422

    pm = await new_staff(db, "product_manager")
    refused = await http.get("/api/v1/transactions", headers=await api_headers(http, pm.username))
    assert refused.status_code == 403


async def test_the_api_documents_the_row_format_and_the_answer(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    post = schema["paths"]["/api/v1/transactions"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    single, batch = body["oneOf"]
    assert {"external_id", "account", "booked_at", "amount", "counterparty"} <= set(
        single["properties"]
    )
    assert batch["properties"]["transactions"]["maxItems"] == 10_000
    assert "$ref" not in str(body)  # inlined: resolvable in the docs page
    answer = schema["components"]["schemas"]["IngestResult"]["properties"]
    assert all(answer[k].get("description") for k in ("accepted", "duplicates", "rejected"))
    assert "customer_id" in {
        p["name"] for p in schema["paths"]["/api/v1/transactions"]["get"]["parameters"]
    }


async def test_a_batch_raising_thousands_of_alerts_is_stored_and_routed_to_one_case(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, headers = await _service(http, db)
    customer = await new_customer(db)
    now = utcnow()
    rows = [
        row(customer.iban, "1500.00", booked_at=now - timedelta(minutes=i), country="IR",
            channel="swift", name=f"Tehran Supplier {i % 50}")
        for i in range(5_500)
    ]  # fmt: skip
    response = await http.post("/api/v1/transactions", json={"transactions": rows}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 5_500
    assert sum(a["rule"] == "high_risk_country" for a in body["alerts"]) == 5_500
    assert len(body["cases"]) == 1 and body["cases"][0]["alerts"] == len(body["alerts"])
