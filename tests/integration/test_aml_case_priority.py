"""An AML case's priority follows its alerts and its customer: stored with its reasons,
recomputed as alerts attach, carried by its tasks, shown on the case page and sorting the
AML queue."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from aml.commands.casework import route_alerts
from audit.trail import SYSTEM
from core.db import Database
from core.settings import Settings
from models.aml import AmlAlert, AmlCase, Transaction
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Case, Task
from tests.aml_data import CustomerRef, new_customer, new_customers
from tests.helpers import api_headers, eventually, new_staff, web_login


async def _alert(
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    customer: CustomerRef,
    *,
    rule: str,
    severity: str,
    amount: str,
    details: dict[str, Any] | None = None,
) -> uuid.UUID:
    """One transaction and one alert on it, routed to the customer's case; the case id."""
    account = customer.accounts[0]
    async with db.transaction() as session:
        tx = Transaction(
            external_id=f"prio-{uuid.uuid4().hex}",
            account_id=account.id,
            customer_id=customer.id,
            booked_at=utcnow(),
            amount=Decimal(amount),
            currency="EUR",
            direction="out",
            channel="sepa",
        )
        session.add(tx)
        await session.flush()
        alert = AmlAlert(
            dedupe_key=f"{rule}:{tx.id}",
            customer_id=customer.id,
            account_id=account.id,
            rule_key=rule,
            rule_version=1,
            severity=severity,
            transaction_ids=[tx.id],
            reason="priority test",
            details=details or {},
        )
        session.add(alert)
        await session.flush()
        [route] = await route_alerts(
            session, temporal_env.client, settings.task_queue, [alert], actor=SYSTEM
        )
    return route.case_id


async def _open_task(db: Database, case_id: uuid.UUID) -> Task:
    async def probe() -> Task | None:
        async with db.session() as session:
            return (
                await session.exec(
                    select(Task).where(Task.case_id == case_id, Task.status == "open")
                )
            ).first()

    task: Task | None = await eventually(probe, what=f"the open task of case {case_id}")
    assert task is not None
    return task


async def test_a_network_alert_on_a_high_risk_customer_makes_a_high_priority_case_first_in_the_queue(
    db: Database,
    http: httpx.AsyncClient,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    worker: None,
) -> None:
    rule = f"prio_{uuid.uuid4().hex[:8]}"  # one rule key of our own: the queue filters by it
    risky = await new_customer(db, risk_level="high", prefix="Prio Risky")
    plain = await new_customer(db, risk_level="low", prefix="Prio Plain")
    others = await new_customers(db, 3, prefix="Prio Ring")
    ring = [risky.accounts[0].id, *(o.accounts[0].id for o in others)]
    network_case = await _alert(
        db, temporal_env, settings, risky, rule=rule, severity="high", amount="4200.00",
        details={"score": 80, "network": {"typology": "cycle", "accounts": [str(a) for a in ring]}},
    )  # fmt: skip
    plain_case = await _alert(
        db, temporal_env, settings, plain, rule=rule, severity="low", amount="1200.00"
    )

    async with db.session() as session:
        stored = await session.get(AmlCase, network_case)
        low = await session.get(AmlCase, plain_case)
        case = await session.get(Case, network_case)
    assert stored is not None and low is not None and case is not None
    assert stored.priority_score == 80 and case.priority == "high"
    texts = [r["text"] for r in stored.priority_reasons]
    assert "a money network through 4 accounts" in texts and "high-risk customer" in texts
    assert "highest rule score 80 of 100" in texts
    assert low.priority_score == 4 + 3  # a low alert of 1 200 EUR

    # The case workflow opens its L1 task at its own "normal": it carries the case's priority.
    task = await _open_task(db, network_case)
    assert task.priority == "high" and task.urgency == 2
    assert (await _open_task(db, plain_case)).priority == "normal"

    analyst = await new_staff(db, "aml_analyst")
    headers = await api_headers(http, analyst.username)

    async def queue(sort: str) -> list[tuple[str, str, int]]:
        got = await http.get(
            "/api/v1/aml/queue",
            params={"tier": "l1", "rule": rule, "sort": sort},
            headers=headers,
        )
        assert got.status_code == 200, got.text
        return [(i["case_id"], i["priority"], i["priority_score"]) for i in got.json()["items"]]

    assert await queue("priority") == [
        (str(network_case), "high", 80),
        (str(plain_case), "normal", 7),
    ]
    assert [c for c, _, _ in await queue("priority_asc")] == [str(plain_case), str(network_case)]
    refused = await http.get("/api/v1/aml/queue", params={"sort": "name"}, headers=headers)
    assert refused.status_code == 422

    # A second, larger alert on the plain case: the score is recomputed from both alerts
    # and the open task's priority rises with it.
    await _alert(
        db, temporal_env, settings, plain, rule=rule, severity="high", amount="120000.00",
        details={"score": 40},
    )  # fmt: skip
    async with db.session() as session:
        again = await session.get(AmlCase, plain_case)
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.object_id == str(plain_case),
                    AuditEvent.action == "aml.alerts_attached",
                )
            )
        ).all()
    assert again is not None
    assert again.priority_score == 25 + 10 + 2 + 15  # high, score 40, two alerts, 121 200 EUR
    assert sorted(e.details["priority_score"] for e in events) == [7, 52]
    assert (await _open_task(db, plain_case)).priority == "high"

    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, analyst.username)
        page = await web.get(f"/cases/{network_case}")
        listed = await web.get("/aml", params={"tier": "l1", "rule": rule, "sort": "priority"})
    assert page.status_code == 200
    assert 'id="aml-priority"' in page.text and "a money network through 4 accounts" in page.text
    assert 'id="aml-priority-score">80<' in page.text
    assert listed.status_code == 200
    assert 'id="sort-priority"' in listed.text and "sort=priority_asc" in listed.text
    assert listed.text.index(str(network_case)) < listed.text.index(str(plain_case))
