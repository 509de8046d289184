"""The AML pages against the real services: the queue per tier, the AML section of the case
page, the printable SAR, the monitoring rules and the report with its CSV export.

Rows are inserted directly (customer, case, alerts, transactions, tasks, decisions) so each
test controls times and outcomes exactly; the queue and report filter on rule keys and date
ranges no other test uses.
"""

from __future__ import annotations

import csv
import io
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
from markupsafe import escape
from sqlmodel import select

from aml.rules import TIER_OUTCOMES, TIER_STEPS
from core.db import Database
from models.aml import AmlAlert, AmlCase, SarReport, Transaction
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Case, Decision, Task
from models.onboarding import Account, Customer
from shared.spreadsheets import neutralise
from tests.aml_cases import customer_with_account
from tests.helpers import api_headers, new_staff, web_login


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


def _rule(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


# ----------------------------------------------------------------------------- builder
@dataclass
class Built:
    customer: Customer
    account: Account


async def new_customer(db: Database, name: str | None = None) -> Built:
    customer, account = await customer_with_account(db, name=name)
    return Built(customer, account)


async def add_case(
    db: Database,
    who: Built,
    *,
    tier: str = "l1",
    detected_at: datetime | None = None,
    sar_due_at: datetime | None = None,
    closed_at: datetime | None = None,
    outcome: str | None = None,
    sar_decision: str | None = None,
    sar_decided_at: datetime | None = None,
    priority: str = "normal",
) -> Case:
    detected_at = detected_at or utcnow() - timedelta(days=3)
    case_id = uuid.uuid4()
    case = Case(
        id=case_id,
        reference=f"AML-T{uuid.uuid4().hex[:10].upper()}",
        case_type="aml",
        title=f"AML alerts on {who.customer.reference}",
        status="closed" if closed_at else "open",
        stage="closed" if closed_at else tier,
        priority=priority,
        risk_level=who.customer.risk_level,
        subject_type="customer",
        subject_id=str(who.customer.id),
        workflow_id=f"aml-{case_id}",
        opened_at=detected_at,
        closed_at=closed_at,
        outcome=outcome,
        customer_id=who.customer.id,
    )
    async with db.transaction() as session:
        session.add(case)
        await session.flush()
        session.add(
            AmlCase(
                case_id=case_id,
                customer_id=who.customer.id,
                detected_at=detected_at,
                sar_due_at=sar_due_at or detected_at + timedelta(days=30),
                sar_decision=sar_decision,
                sar_decided_at=sar_decided_at,
                closed_at=closed_at,
            )
        )
    return case


async def add_transaction(
    db: Database,
    who: Built,
    *,
    amount: str,
    direction: str,
    booked_at: datetime,
    currency: str = "EUR",
    counterparty: str = "Acme GmbH",
) -> Transaction:
    tx = Transaction(
        external_id=f"tx-{uuid.uuid4().hex}",
        account_id=who.account.id,
        customer_id=who.customer.id,
        booked_at=booked_at,
        amount=Decimal(amount),
        currency=currency,
        direction=direction,
        channel="swift",
        counterparty_name=counterparty,
        counterparty_country="AE",
    )
    async with db.transaction() as session:
        session.add(tx)
    return tx


async def add_alert(
    db: Database,
    case: Case,
    who: Built,
    *,
    rule: str,
    detected_at: datetime,
    transactions: list[Transaction] | None = None,
    version: int = 1,
    severity: str = "medium",
    reason: str = "Amount above threshold",
) -> AmlAlert:
    alert = AmlAlert(
        dedupe_key=f"{rule}:{uuid.uuid4().hex}",
        customer_id=who.customer.id,
        account_id=who.account.id,
        rule_key=rule,
        rule_version=version,
        severity=severity,
        transaction_ids=[t.id for t in transactions or []],
        reason=reason,
        details={},
        detected_at=detected_at,
        case_id=case.id,
    )
    async with db.transaction() as session:
        session.add(alert)
    return alert


async def add_task(
    db: Database,
    case: Case,
    *,
    tier: str,
    created_at: datetime,
    due_at: datetime,
    status: str = "open",
    priority: str = "normal",
    completed_at: datetime | None = None,
    escalation_level: int = 0,
    round_no: int = 1,
) -> Task:
    step, kind, role, label = TIER_STEPS[tier]
    outcomes, reason_required = TIER_OUTCOMES[tier]
    task = Task(
        case_id=case.id,
        workflow_id=case.workflow_id,
        task_key=f"{step}#{round_no}",
        kind=kind,
        title=f"{label} {case.reference}",
        candidate_role=role,
        status=status,
        priority=priority,
        escalation_level=escalation_level,
        allowed_outcomes=list(outcomes),
        reason_required_for=list(reason_required),
        created_at=created_at,
        due_at=due_at,
        completed_at=completed_at,
    )
    async with db.transaction() as session:
        session.add(task)
    return task


async def add_decision(
    db: Database,
    task: Task,
    actor_id: uuid.UUID,
    *,
    outcome: str,
    reason: str | None = None,
    comment: str | None = None,
    decided_at: datetime | None = None,
) -> None:
    async with db.transaction() as session:
        session.add(
            Decision(
                case_id=task.case_id,
                task_id=task.id,
                outcome=outcome,
                reason_code=reason,
                comment=comment,
                actor_id=actor_id,
                decided_at=decided_at or utcnow(),
            )
        )


def _row(html: str, marker: str) -> str:
    """The table row (<tr …>…</tr>) holding `marker`."""
    at = html.index(marker)
    start = html.rindex("<tr", 0, at)
    return html[start : html.index("</tr>", at) + 5]


# ----------------------------------------------------------------------------- queue
async def test_queue_shows_the_tiers_tasks_with_sla_countdown_filters_and_claim(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "aml_analyst", prefix="l1")
    investigator = await new_staff(db, "aml_investigator", prefix="l2")
    rule = _rule()
    now = utcnow()
    who = await new_customer(db)
    soon = await add_case(db, who)
    await add_alert(db, soon, who, rule=rule, detected_at=now - timedelta(hours=20))
    await add_alert(db, soon, who, rule="other_rule", detected_at=now - timedelta(hours=19))
    soon_task = await add_task(
        db,
        soon,
        tier="l1",
        created_at=now - timedelta(hours=20),
        due_at=now + timedelta(hours=5, minutes=30),
    )
    other = await new_customer(db)
    late = await add_case(db, other, priority="high")
    await add_alert(db, late, other, rule=rule, detected_at=now - timedelta(hours=26))
    late_task = await add_task(
        db,
        late,
        tier="l1",
        priority="high",
        created_at=now - timedelta(hours=26),
        due_at=now - timedelta(hours=2, minutes=10),
    )
    third = await new_customer(db)
    upper = await add_case(db, third, tier="l2")
    await add_alert(db, upper, third, rule=rule, detected_at=now - timedelta(days=2))
    upper_task = await add_task(
        db,
        upper,
        tier="l2",
        created_at=now - timedelta(days=1),
        due_at=now + timedelta(days=4, minutes=30),
    )

    async with _client(http) as web:
        token = await web_login(web, analyst.username)
        page = await web.get("/aml", params={"rule": rule})
        assert page.status_code == 200
        listing = page.text.split('id="aml-queue"', 1)[1]
        # An analyst's default tier is L1: both L1 tasks, not the L2 one, overdue first.
        assert soon.reference in listing and late.reference in listing
        assert upper.reference not in listing
        assert listing.index(late.reference) < listing.index(soon.reference)
        soon_row = _row(listing, soon.reference)
        assert "due in 5 h" in soon_row and "sla-due_soon" in soon_row  # 5 h of a 25 h SLA
        assert ">2<" in soon_row.replace(" ", "")  # two alerts on the case
        assert rule in soon_row and "other_rule" in soon_row
        late_row = _row(listing, late.reference)
        assert "overdue by 2 h" in late_row and "sla-overdue" in late_row
        assert "Claim" in late_row and escape(other.customer.name) in late_row
        # The L2 tab shows the L2 task (read-only for an analyst: no claim button).
        l2 = await web.get("/aml", params={"rule": rule, "tier": "l2"})
        l2_row = _row(l2.text, upper.reference)
        assert "due in 4 d" in l2_row and "Claim" not in l2_row
        # Filters: priority, and a rule no case has.
        high = await web.get("/aml", params={"rule": rule, "priority": "high"})
        listing = high.text.split('id="aml-queue"', 1)[1]
        assert late.reference in listing and soon.reference not in listing
        none = await web.get("/aml", params={"rule": _rule()})
        assert "No open AML tasks with these filters" in none.text
        # The HTMX filter request gets only the list block.
        block = await web.get(
            "/aml", params={"rule": rule}, headers={"HX-Request": "true", "HX-Target": "aml-queue"}
        )
        assert "<html" not in block.text and 'id="aml-queue"' in block.text
        assert block.headers["vary"].lower().count("hx-request") == 1

        # Claim through the inbox's HTMX route; the row then re-reads itself.
        claimed = await web.post(
            f"/tasks/{soon_task.id}/claim",
            headers={"HX-Request": "true", "X-CSRF-Token": token},
        )
        assert claimed.status_code == 200 and "You hold" in claimed.text
        row = await web.get(f"/aml/queue/rows/{soon_task.id}")
        assert row.status_code == 200 and "<html" not in row.text
        assert ">you<" in row.text and "Release" in row.text and "#decide" in row.text
        assert 'hx-trigger="htmx:afterRequest from:find form"' in row.text
        mine = await web.get("/aml", params={"rule": rule, "scope": "mine"})
        listing = mine.text.split('id="aml-queue"', 1)[1]
        assert soon.reference in listing and late.reference not in listing
        available = await web.get("/aml", params={"rule": rule, "scope": "available"})
        listing = available.text.split('id="aml-queue"', 1)[1]
        assert late.reference in listing and soon.reference not in listing

    async with _client(http) as web:
        await web_login(web, investigator.username)
        page = await web.get("/aml", params={"rule": rule})
        listing = page.text.split('id="aml-queue"', 1)[1]
        assert upper.reference in listing and soon.reference not in listing
        assert "Claim" in _row(listing, upper.reference)

    # The JSON twin.
    headers = await api_headers(http, analyst.username)
    found = await http.get(
        "/api/v1/aml/queue", params={"rule": rule, "tier": "all"}, headers=headers
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["total"] == 3 and body["tiers"] == ["l1", "l2", "closure_approval", "mlro"]
    by_task = {i["task_id"]: i for i in body["items"]}
    assert by_task[str(late_task.id)]["sla_state"] == "overdue"
    assert by_task[str(late_task.id)]["sla_text"] == "overdue by 2 h"
    assert by_task[str(soon_task.id)]["alert_count"] == 2
    assert by_task[str(soon_task.id)]["rules"] == sorted([rule, "other_rule"])
    assert by_task[str(soon_task.id)]["assignee"] == analyst.username
    assert by_task[str(upper_task.id)]["can_claim"] is False
    bad = await http.get("/api/v1/aml/queue", params={"tier": "l9"}, headers=headers)
    assert bad.status_code == 422


# ----------------------------------------------------------------------------- case page
async def test_case_page_shows_alerts_chart_transactions_decisions_and_sar_clock(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "aml_analyst", prefix="l1")
    investigator = await new_staff(db, "aml_investigator", prefix="l2")
    now = utcnow()
    today = now.date()
    who = await new_customer(db)
    earlier = await add_case(
        db,
        who,
        detected_at=now - timedelta(days=200),
        closed_at=now - timedelta(days=190),
        outcome="closed_false_positive",
    )
    case = await add_case(db, who, tier="l2", detected_at=now - timedelta(days=5))
    incoming = await add_transaction(
        db, who, amount="9500.00", direction="in", booked_at=_noon(today - timedelta(days=10))
    )
    outgoing = await add_transaction(
        db, who, amount="9400.00", direction="out", booked_at=_noon(today - timedelta(days=5))
    )
    await add_transaction(
        db, who, amount="120.50", direction="out", booked_at=_noon(today - timedelta(days=40))
    )
    # Outside the 90-day window: neither charted nor listed.
    old = await add_transaction(
        db, who, amount="777.00", direction="in", booked_at=_noon(today - timedelta(days=120))
    )
    first = await add_alert(
        db,
        case,
        who,
        rule="rapid_movement",
        version=2,
        severity="high",
        reason="Funds in and out within 5 days",
        detected_at=now - timedelta(days=5),
        transactions=[incoming, outgoing],
    )
    l1 = await add_task(
        db,
        case,
        tier="l1",
        status="done",
        created_at=now - timedelta(days=5),
        due_at=now - timedelta(days=4),
        completed_at=now - timedelta(days=4, hours=2),
    )
    await add_decision(
        db,
        l1,
        analyst.actor.user_id,
        outcome="escalate",
        comment="Pass-through pattern, needs L2",
        decided_at=now - timedelta(days=4, hours=2),
    )
    l2 = await add_task(
        db,
        case,
        tier="l2",
        created_at=now - timedelta(days=4, hours=2),
        due_at=now + timedelta(days=1),
    )
    late = await add_alert(
        db,
        case,
        who,
        rule="high_risk_country",
        reason="Counterparty in a high-risk country",
        detected_at=now - timedelta(hours=1),
    )

    async with _client(http) as web:
        token = await web_login(web, investigator.username)
        claimed = await web.post(f"/tasks/{l2.id}/claim", data={"csrf_token": token})
        assert claimed.status_code == 303
        page = await web.get(f"/cases/{case.id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    section = html[html.index('id="aml-sar-clock"') : html.index('id="decide"')]
    # Nothing the CSP would block: no inline script, no style attribute or element.
    assert "<script" not in section and "style=" not in section and "<style" not in section
    # SAR clock: detected 5 days ago, due in 25 days.
    clock = section[: section.index('id="aml-alerts"')]
    assert "24 days left" in clock and "L2 investigation" in clock
    # Alerts: rule and version, severity, why, the transactions; the later one is new.
    alerts = section[section.index('id="aml-alerts"') : section.index('id="aml-activity"')]
    assert "rapid_movement" in alerts and "v2" in alerts and "high" in alerts
    assert "Funds in and out within 5 days" in alerts and "9,500.00 EUR" in alerts
    assert "9,400.00 EUR" in alerts
    # Newest first: the later alert, then the first one.
    new_part = alerts[alerts.index(f"alert-{late.id}") : alerts.index(f"alert-{first.id}")]
    assert "alert-new" in new_part
    assert "alert-new" not in alerts[alerts.index(f"alert-{first.id}") :]
    assert alerts.count('class="badge warn alert-new"') == 1
    # The chart: an inline SVG with one group per day that moved money, alert days marked.
    activity = section[section.index('id="aml-activity"') : section.index('id="aml-customer"')]
    assert "<svg" in activity and 'class="flow-chart"' in activity
    days = dict(
        (d, (i, o))
        for d, i, o in re.findall(
            r'data-day="([\d-]+)" data-in="([\d.]+)" data-out="([\d.]+)"', activity
        )
    )
    assert Decimal(days[str(today - timedelta(days=10))][0]) == Decimal("9500")
    assert Decimal(days[str(today - timedelta(days=5))][1]) == Decimal("9400")
    assert Decimal(days[str(today - timedelta(days=40))][1]) == Decimal("120.5")
    assert str(today - timedelta(days=120)) not in days
    alert_days = re.findall(r'data-day="([\d-]+)"[^>]*data-alert="true"', activity)
    assert sorted(alert_days) == sorted(
        {str((now - timedelta(days=5)).date()), str((now - timedelta(hours=1)).date())}
    )
    # The transactions table: the window's transactions, the alerted ones marked.
    assert incoming.external_id in activity and outgoing.external_id in activity
    assert old.external_id not in activity
    assert "3 transactions in the window" in activity
    # Customer profile with the 360 link, and the earlier case with its outcome.
    profile = section[section.index('id="aml-customer"') : section.index('id="aml-decisions"')]
    assert f"/customers/{who.customer.id}" in profile and who.customer.reference in profile
    assert earlier.reference in profile and "closed false positive" in profile
    # Decisions per tier: who, outcome, rationale.
    decisions = section[section.index('id="aml-decisions"') :]
    row = _row(decisions, "L1 triage")
    assert analyst.username in row and "escalate" in row and "Pass-through pattern, needs L2" in row
    # Restrictions panel with the restrict form for an investigator.
    assert 'id="restrictions"' in section and "/restrict" in section
    # The generic decision form offers the AML close reasons on the claimed L2 task.
    form = html[html.index('id="decide"') :]
    assert 'value="explained_activity"' in form and "Activity explained (documented)" in form

    async with _client(http) as web:
        await web_login(web, analyst.username)
        seen = await web.get(f"/cases/{case.id}")
    assert seen.status_code == 200 and 'id="aml-alerts"' in seen.text
    # An analyst may not restrict accounts: no restrict form.
    assert 'name="account_id"' not in seen.text


async def test_sar_clock_shows_a_breach_and_a_decision(
    http: httpx.AsyncClient, db: Database
) -> None:
    mlro = await new_staff(db, "mlro", prefix="mlro")
    now = utcnow()
    who = await new_customer(db)
    breached = await add_case(
        db,
        who,
        tier="mlro",
        detected_at=now - timedelta(days=33),
        sar_due_at=now - timedelta(days=3, hours=1),
    )
    other = await new_customer(db)
    decided = await add_case(
        db,
        other,
        detected_at=now - timedelta(days=20),
        closed_at=now - timedelta(days=2),
        outcome="no_sar",
        sar_decision="no_sar",
        sar_decided_at=now - timedelta(days=2),
    )
    async with _client(http) as web:
        await web_login(web, mlro.username)
        late = await web.get(f"/cases/{breached.id}")
        done = await web.get(f"/cases/{decided.id}")
    clock = late.text[late.text.index('id="aml-sar-clock"') : late.text.index('id="aml-alerts"')]
    assert "breached — 4 days past the deadline" in clock and "sla-overdue" in clock
    clock = done.text[done.text.index('id="aml-sar-clock"') : done.text.index('id="aml-alerts"')]
    assert "no SAR" in clock and "on time" in clock


# ----------------------------------------------------------------------------- SAR page
def _sar_data(case: Case, who: Built, mlro_id: uuid.UUID, name: str) -> dict[str, Any]:
    return {
        "reference": "SAR-T1",
        "case_reference": case.reference,
        "filed_at": "2026-03-02T10:00:00+00:00",
        "filed_by": {"id": str(mlro_id), "name": "Mia Lro"},
        "reason_code": "structuring",
        "rationale": "Repeated cash deposits just under the threshold",
        "subject": {
            "customer_reference": who.customer.reference,
            "name": name,
            "kind": "individual",
            "country": "DE",
            "segment": "retail",
            "risk_level": "high",
            "accounts": [{"iban": who.account.iban, "currency": "EUR"}],
        },
        "alerts": [
            {
                "rule_key": "structuring",
                "rule_version": 3,
                "reason": "5 deposits of 9,900 EUR in 4 days",
                "detected_at": "2026-02-20T08:00:00+00:00",
                "severity": "high",
            }
        ],
        "transactions": [
            {
                "external_id": "tx-sar-1",
                "booked_at": "2026-02-18T09:30:00+00:00",
                "amount": "9900.00",
                "currency": "EUR",
                "direction": "in",
                "channel": "cash",
                "counterparty_name": None,
                "counterparty_country": None,
            }
        ],
        "totals": {"count": 1, "by_currency": {"EUR": "9900.00"}},
        "detected_at": "2026-02-20T08:00:00+00:00",
        "sar_due_at": "2026-03-22T08:00:00+00:00",
        "on_time": True,
    }


async def test_sar_page_renders_the_report_and_is_refused_to_others(
    http: httpx.AsyncClient, db: Database
) -> None:
    mlro = await new_staff(db, "mlro", prefix="mlro")
    support = await new_staff(db, "support", prefix="sup")
    name = "Sam <script>alert(1)</script> Sar"
    who = await new_customer(db, name=name)
    case = await add_case(
        db,
        who,
        closed_at=utcnow(),
        outcome="sar_filed",
        sar_decision="sar",
        sar_decided_at=utcnow(),
    )
    reference = f"SAR-{uuid.uuid4().hex[:8].upper()}"
    data = _sar_data(case, who, mlro.actor.user_id, name)
    data["reference"] = reference
    async with db.transaction() as session:
        session.add(
            SarReport(
                case_id=case.id, reference=reference, data=data, created_by=mlro.actor.user_id
            )
        )

    async with _client(http) as web:
        await web_login(web, mlro.username)
        page = await web.get(f"/aml/cases/{case.id}/sar")
        case_page = await web.get(f"/cases/{case.id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert reference in text and case.reference in text
    assert "Repeated cash deposits just under the threshold" in text and "Mia Lro" in text
    assert "5 deposits of 9,900 EUR in 4 days" in text and "tx-sar-1" in text
    assert "9,900.00 EUR" in text and "2026-02-18 09:30 UTC" in text
    assert "aml-print.css" in text and 'class="no-print"' in text
    assert str(escape(name)) in text and "<script>alert(1)" not in text
    # The case page links the report, and the SAR clock shows the decision.
    assert f"/aml/cases/{case.id}/sar" in case_page.text and reference in case_page.text

    headers = await api_headers(http, mlro.username)
    as_json = await http.get(f"/api/v1/aml/cases/{case.id}/sar", headers=headers)
    assert as_json.status_code == 200 and as_json.json()["data"] == data
    assert as_json.json()["reference"] == reference

    # Everyone but the MLRO and auditors is refused before anything is looked up (need-to-know).
    async with _client(http) as web:
        await web_login(web, support.username)
        hidden = await web.get(f"/aml/cases/{case.id}/sar")
    assert hidden.status_code == 403
    support_headers = await api_headers(http, support.username)
    hidden_json = await http.get(f"/api/v1/aml/cases/{case.id}/sar", headers=support_headers)
    assert hidden_json.status_code == 403
    nothing = await http.get(f"/api/v1/aml/cases/{uuid.uuid4()}/sar", headers=headers)
    assert nothing.status_code == 404
    async with db.session() as session:
        refused = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "aml.sar.read",
                    AuditEvent.object_id == str(case.id),
                    AuditEvent.outcome != "success",
                )
            )
        ).all()
    assert len(refused) == 2  # the page and the API refusal, each recorded


# ----------------------------------------------------------------------------- rules
async def test_rules_page_lists_the_monitoring_documents_with_links(
    http: httpx.AsyncClient, db: Database
) -> None:
    mlro = await new_staff(db, "mlro", prefix="mlro")
    kyc = await new_staff(db, "kyc_analyst", prefix="kyc")
    async with _client(http) as web:
        await web_login(web, mlro.username)
        page = await web.get("/aml/rules")
    assert page.status_code == 200, page.text
    row = _row(page.text, 'id="rule-aml_case"')
    assert "/settings/aml_case" in row and "v1" in row and "sar deadline days" in row
    # Every monitoring rule document the schemas register has a row linking its settings page.
    from configuration.schemas import CONFIG_SCHEMAS

    for key in CONFIG_SCHEMAS:
        if key.startswith("aml_rule_"):
            assert f'id="rule-{key}"' in page.text and f"/settings/{key}" in page.text
    async with _client(http) as web:
        await web_login(web, kyc.username)
        refused = await web.get("/aml/rules")
    assert refused.status_code == 403


# ----------------------------------------------------------------------------- report
async def test_report_counts_rules_sla_and_sar_timeliness_and_exports_csv(
    http: httpx.AsyncClient, db: Database
) -> None:
    mlro = await new_staff(db, "mlro", prefix="mlro")
    analyst = await new_staff(db, "aml_analyst", prefix="l1")
    # A ten-day range years ago that no other test writes into.
    start = date(2003, 1, 1) + timedelta(days=random.randrange(0, 3000, 20))
    end = start + timedelta(days=9)
    at = _noon(start + timedelta(days=2))
    rule_a, rule_b = _rule("a"), f"=cmd|{uuid.uuid4().hex[:8]}"  # B tries a CSV formula
    who = await new_customer(db)
    # Case 1: closed as a false positive at L1, no SAR decision needed.
    fp = await add_case(
        db, who, detected_at=at, closed_at=at + timedelta(days=1), outcome="closed_false_positive"
    )
    # Case 2: SAR filed on time.
    sar = await add_case(
        db,
        who,
        detected_at=at,
        closed_at=at + timedelta(days=10),
        outcome="sar_filed",
        sar_decision="sar",
        sar_decided_at=at + timedelta(days=10),
    )
    # Case 3: still open, its SAR deadline long past.
    still = await add_case(db, who, tier="l2", detected_at=at)
    # Case 4: no SAR, decided after the deadline.
    await add_case(
        db,
        who,
        detected_at=at,
        closed_at=at + timedelta(days=40),
        outcome="no_sar",
        sar_decision="no_sar",
        sar_decided_at=at + timedelta(days=40),
    )
    for case, rule in ((fp, rule_a), (fp, rule_a), (sar, rule_a), (sar, rule_b), (still, rule_b)):
        await add_alert(db, case, who, rule=rule, detected_at=at)
    # Outside the range: not counted.
    await add_alert(db, still, who, rule=rule_a, detected_at=at + timedelta(days=30))

    hour = timedelta(hours=1)
    await add_task(
        db,
        fp,
        tier="l1",
        status="done",
        created_at=at,
        due_at=at + 24 * hour,
        completed_at=at + 3 * hour,
    )
    await add_task(
        db,
        sar,
        tier="l1",
        status="done",
        created_at=at,
        due_at=at + 24 * hour,
        completed_at=at + 30 * hour,
    )
    await add_task(
        db,
        still,
        tier="l1",
        status="cancelled",
        created_at=at,
        due_at=at + 24 * hour,
        completed_at=at + 24 * hour,
    )
    await add_task(
        db,
        sar,
        tier="l2",
        status="done",
        created_at=at + 30 * hour,
        due_at=at + 200 * hour,
        completed_at=at + 100 * hour,
        escalation_level=1,
    )
    await add_task(db, still, tier="l2", created_at=at + 24 * hour, due_at=at + 144 * hour)
    await add_task(
        db,
        sar,
        tier="mlro",
        status="done",
        created_at=at + 100 * hour,
        due_at=at + 172 * hour,
        completed_at=at + 150 * hour,
    )

    params = {"from": start.isoformat(), "to": end.isoformat()}
    async with _client(http) as web:
        await web_login(web, mlro.username)
        page = await web.get("/aml/report", params=params)
        assert page.status_code == 200, page.text
        csvs = {}
        for table in ("rules", "sla", "sar"):
            response = await web.get(
                "/aml/report", params={**params, "format": "csv", "table": table}
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/csv")
            assert response.headers["content-disposition"] == (
                f'attachment; filename="aml-report-{table}-{start}-to-{end}.csv"'
            )
            csvs[table] = list(csv.reader(io.StringIO(response.text)))
        bad = await web.get("/aml/report", params={**params, "format": "csv", "table": "nope"})
        assert bad.status_code == 422
        backwards = await web.get(
            "/aml/report", params={"from": end.isoformat(), "to": start.isoformat()}
        )
        assert backwards.status_code == 422

    assert csvs["rules"] == [
        [
            "rule",
            "versions",
            "alerts",
            "open",
            "closed",
            "closed_false_positive",
            "false_positive_share_pct",
        ],
        [rule_a, "1", "3", "0", "3", "2", "66.7"],
        ["'" + rule_b, "1", "2", "1", "1", "0", "0.0"],
    ]
    assert csvs["sla"] == [
        [
            "tier",
            "tasks",
            "within_sla",
            "breached",
            "auto_escalated",
            "open_overdue",
            "open",
            "compliance_pct",
        ],
        ["l1", "3", "1", "1", "1", "0", "0", "33.3"],
        ["l2", "2", "0", "1", "0", "1", "1", "0.0"],
        ["closure_approval", "0", "0", "0", "0", "0", "0", ""],
        ["mlro", "1", "1", "0", "0", "0", "0", "100.0"],
    ]
    assert csvs["sar"] == [
        ["category", "cases", "sar", "no_sar"],
        ["on_time", "1", "1", "0"],
        ["late", "1", "0", "1"],
        ["open_past_due", "1", "0", "0"],
        ["open_in_time", "0", "0", "0"],
        ["closed_before_mlro", "1", "0", "0"],
    ]
    # The page shows the same numbers, each table with its bar chart.
    html = page.text
    rules = html[html.index('id="report-rules"') : html.index('id="report-sla"')]
    assert f'data-label="{rule_a}" data-total="3"' in rules and "66.7 %" in rules
    assert str(escape(rule_b)) in rules
    sla = html[html.index('id="report-sla"') : html.index('id="report-sar"')]
    assert 'data-label="L1 triage" data-total="3"' in sla and "33.3 %" in sla
    sar_part = html[html.index('id="report-sar"') :]
    assert (
        'class="bar-chart"' in sar_part and 'data-label="Decided late" data-total="1"' in sar_part
    )
    assert "format=csv&amp;table=sar" in sar_part

    async with _client(http) as web:
        await web_login(web, analyst.username)
        refused = await web.get("/aml/report", params=params)
    assert refused.status_code == 403


def test_csv_cells_that_start_a_formula_are_neutralised() -> None:
    assert neutralise("=1+2") == "'=1+2"
    assert neutralise("+SUM(A1)") == "'+SUM(A1)"
    assert neutralise("-2") == "'-2"
    assert neutralise("@cmd") == "'@cmd"
    assert neutralise("plain") == "plain" and neutralise(3) == "3" and neutralise(None) == ""


# ----------------------------------------------------------------------------- access, escaping
async def test_aml_pages_refuse_roles_without_aml_permissions(
    http: httpx.AsyncClient, db: Database
) -> None:
    support = await new_staff(db, "support", prefix="sup")
    analyst = await new_staff(db, "aml_analyst", prefix="l1")
    who = await new_customer(db)
    case = await add_case(db, who)
    async with _client(http) as web:
        await web_login(web, support.username)
        inbox = await web.get("/inbox")
        assert '/aml">AML</a>' not in inbox.text
        for path in ("/aml", "/aml/report", "/aml/rules"):
            response = await web.get(path)
            assert response.status_code == 403, path
            assert "do not allow you" in response.text
        assert (await web.get(f"/cases/{case.id}")).status_code == 404
        assert (await web.get(f"/aml/queue/rows/{uuid.uuid4()}")).status_code == 404
    headers = await api_headers(http, support.username)
    assert (await http.get("/api/v1/aml/queue", headers=headers)).status_code == 403
    async with _client(http) as web:
        await web_login(web, analyst.username)
        inbox = await web.get("/inbox")
        assert '/aml">AML</a>' in inbox.text


async def test_customer_and_alert_text_are_rendered_escaped(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "aml_analyst", prefix="l1")
    name = "<script>alert('x')</script>"
    who = await new_customer(db, name=name)
    now = utcnow()
    rule = _rule()
    case = await add_case(db, who)
    tx = await add_transaction(
        db,
        who,
        amount="50.00",
        direction="out",
        booked_at=now - timedelta(days=1),
        counterparty='<img src=x onerror="alert(1)">',
    )
    await add_alert(
        db,
        case,
        who,
        rule=rule,
        detected_at=now - timedelta(hours=3),
        transactions=[tx],
        reason="<b>why</b>",
    )
    await add_task(
        db, case, tier="l1", created_at=now - timedelta(hours=3), due_at=now + timedelta(hours=21)
    )
    async with _client(http) as web:
        await web_login(web, analyst.username)
        queue = await web.get("/aml", params={"rule": rule})
        page = await web.get(f"/cases/{case.id}")
    for response in (queue, page):
        assert response.status_code == 200
        assert "<script>alert(" not in response.text
        assert str(escape(name)) in response.text
    assert "<b>why</b>" not in page.text and str(escape("<b>why</b>")) in page.text
    assert "<img src=x" not in page.text
