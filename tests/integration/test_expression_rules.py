"""A rule written without code: proposed, approved by a second risk manager, fires on ingest
with its reason in words; a shadow rule's alerts are recorded and never routed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlmodel import select

from aml.commands.judges import load_judges
from aml.engines.judging import JudgeMemory
from aml.engines.monitoring import judge_all
from aml.engines.monitoring_data import Txn
from core.db import Database
from models.aml import AmlAlert, Transaction
from models.base import utcnow
from tests.aml_data import new_customer, row
from tests.helpers import api_headers, eventually, new_staff, task_of, web_login


def _slug() -> str:
    return f"senders_{uuid.uuid4().hex[:8]}"


def _senders(iban: str, n: int, amount: str = "900.00") -> list[dict[str, Any]]:
    now = utcnow()
    return [
        row(
            iban,
            amount,
            direction="in",
            name=f"Sender {i}",
            booked_at=now - timedelta(days=n - i),
        )
        for i in range(n)
    ]


async def _approve(http: httpx.AsyncClient, db: Database, headers: dict[str, str], wf: str) -> None:
    task = await task_of(db, wf)
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claim.status_code == 200, claim.text

    async def decided() -> bool:
        # A rule change waits for its backtest: approval is refused until it has finished.
        answer = await http.post(
            f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=headers
        )
        return answer.status_code == 200

    await eventually(decided, within=60, what="approval after the backtest")


async def test_a_rule_proposed_and_approved_fires_on_ingest_with_why_in_words(
    http: httpx.AsyncClient, db: Database, worker: None
) -> None:
    maker = await new_staff(db, "risk_manager")
    checker = await new_staff(db, "risk_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    slug = _slug()
    expression = 'distinct_counterparties(days=60, direction="in") >= 6'

    bad = await http.post(
        "/api/v1/aml/rules",
        json={
            "slug": slug,
            "values": {"title": "Many senders", "expression": "count(days=400) >= 1"},
            "reason": "Fan-in of small payments seen in the book",
        },
        headers=mh,
    )
    assert bad.status_code == 422
    assert "365" in bad.json()["fields"]["changes.expression"]
    explained = await http.post(
        "/api/v1/aml/rules/explain", json={"expression": expression}, headers=mh
    )
    assert explained.json()["meaning"].startswith("Raises an alert when distinct senders")

    created = await http.post(
        "/api/v1/aml/rules",
        json={
            "slug": slug,
            "values": {
                "title": "Many senders",
                "expression": expression,
                "mode": "live",
                "severity": "high",
                "score": 80,
            },
            "reason": "Fan-in of small payments seen in the book",
        },
        headers=mh,
    )
    assert created.status_code == 201, created.text
    listed = (await http.get("/api/v1/aml/rules/expressions", headers=mh)).json()
    mine = next(r for r in listed if r["slug"] == slug)
    assert mine["status"] == "awaiting approval" and mine["pending"]

    customer = await new_customer(db, prefix="Fan In")
    service = await new_staff(db, "upstream_system", prefix="svc")
    sh = await api_headers(http, service.username)
    # Before approval the rule runs nowhere.
    first = await http.post(
        "/api/v1/transactions", json={"transactions": _senders(customer.iban, 3)}, headers=sh
    )
    assert not [a for a in first.json()["alerts"] if a["rule"] == f"expr_{slug}"]

    self_approval = await task_of(db, created.json()["workflow_id"])
    refused = await http.post(f"/api/v1/tasks/{self_approval.id}/claim", headers=mh)
    assert refused.status_code in (403, 404, 409)
    await _approve(http, db, ch, created.json()["workflow_id"])

    async def live() -> bool:
        rules = (await http.get("/api/v1/aml/rules/expressions", headers=mh)).json()
        return any(r["slug"] == slug and r["status"] == "live" for r in rules)

    await eventually(live)
    later = [row(customer.iban, "1200.00", direction="in", name=f"Later {i}") for i in range(3)]
    posted = await http.post("/api/v1/transactions", json={"transactions": later}, headers=sh)
    assert posted.status_code == 200, posted.text
    async with db.session() as session:
        alerts = (
            await session.exec(select(AmlAlert).where(AmlAlert.rule_key == f"expr_{slug}"))
        ).all()
    assert len(alerts) == 1
    [alert] = alerts
    assert alert.rule_version == 2 and alert.severity == "high" and not alert.shadow
    assert alert.case_id is not None
    assert alert.reason.startswith("Many senders: 6 distinct senders within 60 days")
    assert "(rule: at least 6)" in alert.reason

    # Editing is proposing a new version of the document; a wrong expression is refused
    # with the place and the reason, before anything is saved.
    doc = (await http.get(f"/api/v1/config/aml_expr_{slug}", headers=mh)).json()
    assert doc["version"] == 2 and doc["values"]["expression"] == expression
    edit = await http.post(
        "/api/v1/changes",
        json={
            "target_type": "config",
            "target_id": doc["id"],
            "changes": {"expression": 'sum(days=30, direction="sideways") > 1'},
            "reason": "Try money in over 30 days instead",
        },
        headers=mh,
    )
    assert edit.status_code == 422
    assert "'sideways' is not known" in edit.json()["fields"]["changes.expression"]

    # A second batch inside the cool-down raises nothing more.
    again = await http.post(
        "/api/v1/transactions",
        json={"transactions": [row(customer.iban, "50.00", direction="in", name="One more")]},
        headers=sh,
    )
    assert not [a for a in again.json()["alerts"] if a["rule"] == f"expr_{slug}"]


async def test_a_proposed_version_is_judged_dry_through_load_judges_overrides(
    db: Database,
) -> None:
    customer = await new_customer(db, prefix="Peer")
    others = [await new_customer(db, prefix="Peer Other") for _ in range(3)]
    now = utcnow()
    async with db.transaction() as session:
        for who, n, amount in [(customer, 8, 3000), *((o, 2, 500) for o in others)]:
            for i in range(n):
                session.add(
                    Transaction(
                        external_id=f"peer-{uuid.uuid4().hex}",
                        account_id=who.account_id,
                        customer_id=who.id,
                        booked_at=now - timedelta(days=i + 1, hours=1),
                        amount=Decimal(amount),
                        currency="EUR",
                        direction="in",
                        channel="sepa",
                        counterparty_name=f"Payer {i}",
                    )
                )
    async with db.session() as session:
        stored = (
            await session.exec(select(Transaction).where(Transaction.customer_id == customer.id))
        ).all()
    new = [
        Txn(
            id=t.id,
            external_id=t.external_id,
            account_id=t.account_id,
            customer_id=t.customer_id,
            booked_at=t.booked_at,
            amount=t.amount,
            currency=t.currency,
            direction=t.direction,
            channel=t.channel,
            counterparty_name=t.counterparty_name,
        )
        for t in stored
    ]
    key = f"aml_expr_{_slug()}"
    proposed = {
        "enabled": True,
        "title": "Far above peers",
        "expression": 'distinct_counterparties(days=30, direction="in") >= 8 and '
        'sum(days=30, direction="in") >= 3 * peer_median(sum(days=30, direction="in"))',
        "mode": "shadow",
        "shadow_days": 0,
    }
    judges = await load_judges(db, overrides={key: proposed})
    memory = JudgeMemory()
    async with db.session() as session:
        drafts = await judge_all(session, new, judges, memory)
    mine = [d for d in drafts if d.rule == "expr_" + key.removeprefix("aml_expr_")]
    assert len(mine) == 1
    [draft] = mine
    assert draft.shadow and draft.score == 50 and draft.version == 1
    assert "8 distinct senders within 30 days" in draft.reason
    assert "24 000 EUR money in within 30 days" in draft.reason
    assert "segment's median of" in draft.reason
    async with db.session() as session:
        count = (
            await session.exec(select(AmlAlert).where(AmlAlert.customer_id == customer.id))
        ).all()
    assert count == []  # dry: nothing stored


async def test_the_rules_page_lists_a_proposed_rule_and_its_document_can_be_edited(
    http: httpx.AsyncClient, db: Database
) -> None:
    maker = await new_staff(db, "risk_manager")
    slug = _slug()
    created = await http.post(
        "/api/v1/aml/rules",
        json={
            "slug": slug,
            "values": {
                "title": "Cash from many places",
                "expression": 'count(days=30, channel="cash") >= 12',
            },
            "reason": "Cash deposits spread over many branches",
        },
        headers=await api_headers(http, maker.username),
    )
    assert created.status_code == 201, created.text
    again = await http.post(
        "/api/v1/aml/rules",
        json={
            "slug": slug,
            "values": {"title": "x", "expression": "count(days=1) > 1"},
            "reason": "the same name again",
        },
        headers=await api_headers(http, maker.username),
    )
    assert again.status_code == 409 and "exists already" in again.json()["message"]
    analyst = await new_staff(db, "aml_analyst")
    refused = await http.post(
        "/api/v1/aml/rules",
        json={"slug": _slug(), "values": {"title": "x"}, "reason": "not allowed to propose"},
        headers=await api_headers(http, analyst.username),
    )
    assert refused.status_code == 403

    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        await web_login(web, maker.username)
        page = await web.get("/aml/rules")
        assert page.status_code == 200
        assert f'id="rule-aml_expr_{slug}"' in page.text and "awaiting approval" in page.text
        assert "Cash from many places" in page.text
        assert "as a template" in page.text
        form = await web.get("/aml/rules/new", params={"template": "structuring"})
        assert "count(days=5, direction=&#34;in&#34;, channel=&#34;cash&#34;" in form.text
        setting = await web.get(f"/settings/aml_expr_{slug}")
        assert setting.status_code == 200 and "expression" in setting.text
