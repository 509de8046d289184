"""The AML alert list: every alert, filtered by rule, severity, case state, days and customer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlmodel import col, select

from core.db import Database
from models.aml import AmlAlert, AmlCase
from models.base import utcnow
from tests.aml_data import cash_deposit, new_customer, row
from tests.helpers import api_headers, eventually, new_staff, web_login
from workflows.aml_case import AmlCaseWorkflow


async def test_alerts_are_listed_and_filtered_with_their_cases(
    http: httpx.AsyncClient, db: Database, worker: None
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    post_headers = await api_headers(http, service.username)
    wire = await new_customer(db, prefix="<b>Wire</b> Sender")
    cash = await new_customer(db, prefix="Cash Depositor")
    now = utcnow()
    posted = await http.post(
        "/api/v1/transactions",
        json={
            "transactions": [
                row(wire.iban, "60000.00", channel="swift", country="IR", name="Kish Trading"),
                *(
                    cash_deposit(cash.iban, amount, booked_at=now - timedelta(days=d))
                    for amount, d in (("9600.00", 3), ("9800.00", 2), ("9700.00", 1))
                ),
            ]
        },
        headers=post_headers,
    )
    assert posted.status_code == 200, posted.text
    assert {a["rule"] for a in posted.json()["alerts"]} >= {"large_transaction", "structuring"}

    analyst = await new_staff(db, "aml_analyst")
    headers = await api_headers(http, analyst.username)

    async def listed(**params: str) -> dict[str, object]:
        response = await http.get("/api/v1/aml/alerts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    mine = await listed(q=cash.reference)
    assert [i["rule_key"] for i in mine["items"]] == ["structuring"]  # type: ignore[index]
    [item] = mine["items"]  # type: ignore[misc]
    assert item["case_reference"].startswith("AML-") and item["case_status"] == "open"
    assert item["rule_title"] == "Structuring (cash just under a threshold)"
    assert item["transactions"] == 3

    wires = await listed(q=wire.reference, rule="large_transaction")
    assert wires["total"] == 1
    assert (await listed(q=wire.reference, rule="structuring"))["total"] == 0
    assert (await listed(q=cash.reference, case_state="closed"))["total"] == 0
    assert (await listed(q=cash.reference, severity="high"))["total"] == 1
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    assert (await listed(q=cash.reference, detected_from=tomorrow))["total"] == 0
    page = await listed(q=wire.reference, per_page="1")
    assert page["total"] >= 2 and len(page["items"]) == 1  # type: ignore[arg-type]
    bad = await http.get("/api/v1/aml/alerts", params={"severity": "huge"}, headers=headers)
    assert bad.status_code == 422

    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        await web_login(web, analyst.username)
        page_html = await web.get("/aml/alerts", params={"q": wire.reference})
        assert page_html.status_code == 200
        assert "&lt;b&gt;Wire&lt;/b&gt;" in page_html.text and "<b>Wire</b>" not in page_html.text
        assert "Large single transaction" in page_html.text

    support = await new_staff(db, "support")
    refused = await http.get(
        "/api/v1/aml/alerts", headers=await api_headers(http, support.username)
    )
    assert refused.status_code == 403


async def test_concurrent_alerts_for_one_customer_open_one_case(
    http: httpx.AsyncClient, db: Database, worker: None, temporal_env: object
) -> None:
    """Five ingests at once, each alerting on the same customer: one case, holding all five."""
    service = await new_staff(db, "upstream_system", prefix="svc")
    headers = await api_headers(http, service.username)
    customer = await new_customer(db, prefix="Concurrent")
    rows = [
        row(customer.iban, f"{50_000 + i}.00", channel="swift", name=f"Supplier {i}")
        for i in range(5)
    ]
    answers = await asyncio.gather(
        *(http.post("/api/v1/transactions", json=r, headers=headers) for r in rows)
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    cases = {c["case_id"] for a in answers for c in a.json()["cases"]}
    assert len(cases) == 1
    [case_id] = cases
    async with db.session() as session:
        open_cases = (
            await session.exec(
                select(AmlCase).where(
                    AmlCase.customer_id == customer.id, col(AmlCase.closed_at).is_(None)
                )
            )
        ).all()
        alerts = (
            await session.exec(select(AmlAlert).where(AmlAlert.customer_id == customer.id))
        ).all()
    assert [str(c.case_id) for c in open_cases] == [case_id]
    assert alerts and {str(a.case_id) for a in alerts} == {case_id}

    handle = temporal_env.client.get_workflow_handle(f"aml-{case_id}")  # type: ignore[attr-defined]

    async def all_seen() -> bool:
        state = await handle.query(AmlCaseWorkflow.current_state)
        return state["alerts"] == len(alerts)

    await eventually(all_seen, what="every alert in the one running case")
