"""The dispute pages against the real services: the queue (and its JSON twin), the dispute
section of the case page, and the report with its CSV export.

Disputes are opened through the domain function the web and the API call, and driven by the
real workflow on the dev server (the sandbox merchant is scripted before the evidence task is
decided). Each test's disputes belong to a customer of its own, so the queue is searched by
that customer's name; the report counts every dispute, so it is compared before and after.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from casework import tasks
from core.db import Database, run_sql
from core.settings import Settings
from disputes.commands.opening import open_dispute
from disputes.engines.sandbox import set_merchant_response
from disputes.queries.report import AtRiskRow, DisputeReport, to_csv
from models.cases import Case
from models.disputes import DisputeCreate, DisputeOpened
from shared.spreadsheets import share
from tests.aml_data import CustomerRef, new_customer
from tests.dispute_data import card_payment
from tests.helpers import Staff, api_headers, eventually, new_staff, task_of, web_login

STATEMENT = "I returned the goods on 3 November and never got a refund."


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


def _row(html: str, marker: str) -> str:
    """The table row (<tr …>…</tr>) holding `marker`."""
    at = html.index(marker)
    start = html.rindex("<tr", 0, at)
    return html[start : html.index("</tr>", at) + 5]


def _listing(html: str) -> str:
    return html.split('id="dispute-queue"', 1)[1]


async def _dispute(
    db: Database,
    client: Client,
    settings: Settings,
    opener: Staff,
    customer: CustomerRef,
    *,
    amount: str = "40.00",
    category: str = "consumer_dispute",
    days_ago: float = 3,
    statement: str = STATEMENT,
) -> DisputeOpened:
    payment = await card_payment(db, amount=amount, days_ago=days_ago, customer=customer)
    return await open_dispute(
        db,
        client,
        settings,
        opener.actor,
        DisputeCreate(
            transaction_id=payment.transaction_id, category=category, statement=statement
        ),
    )


async def _case(db: Database, case_id: uuid.UUID) -> Case:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case


async def _reach(db: Database, opened: DisputeOpened, stage: str) -> Case:
    async def probe() -> Case | None:
        case = await _case(db, opened.case_id)
        return case if case.stage == stage else None

    return await eventually(probe, what=f"{opened.reference} at {stage}")


async def _priority(db: Database, opened: DisputeOpened, priority: str) -> None:
    async def probe() -> bool:
        return (await _case(db, opened.case_id)).priority == priority

    await eventually(probe, what=f"{opened.reference} {priority}")


async def _submit_evidence(
    db: Database, client: Client, agent: Staff, opened: DisputeOpened
) -> None:
    task = await task_of(db, opened.workflow_id, "agent#evidence")
    await tasks.claim_task(db, agent.actor, task.id)
    await tasks.decide_task(
        db, client, agent.actor, task.id, outcome="submit", reason=None, comment=None
    )


async def _win(db: Database, client: Client, agent: Staff, opened: DisputeOpened) -> None:
    """The sandbox merchant accepts the chargeback as soon as it is filed."""
    await set_merchant_response(
        db, client, agent.actor, opened.case_id, stage="chargeback", response="accept", note=None
    )
    await _submit_evidence(db, client, agent, opened)
    assert (await _reach(db, opened, "closed")).outcome == "won"


async def _lose(
    db: Database, client: Client, agent: Staff, reviewer: Staff, opened: DisputeOpened
) -> None:
    """The merchant represents; a second agent (each step needs a different person) accepts
    the loss."""
    await set_merchant_response(
        db, client, agent.actor, opened.case_id, stage="chargeback", response="represent",
        note="Signed delivery receipt attached.",
    )  # fmt: skip
    await _submit_evidence(db, client, agent, opened)
    review = await task_of(db, opened.workflow_id, "agent#representment")
    await tasks.claim_task(db, reviewer.actor, review.id)
    await tasks.decide_task(
        db, client, reviewer.actor, review.id, outcome="accept_loss",
        reason="compelling_evidence", comment="The receipt is signed by the customer.",
    )  # fmt: skip
    assert (await _reach(db, opened, "closed")).outcome == "lost"


# ----------------------------------------------------------------------------- queue
async def test_queue_lists_open_disputes_soonest_deadline_first_with_filters_and_json_twin(
    http: httpx.AsyncClient, db: Database, settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    client = temporal_env.client
    support = await new_staff(db, "support", prefix="sup")
    agent = await new_staff(db, "disputes_agent", prefix="dsp")
    kyc = await new_staff(db, "kyc_analyst", prefix="kyc")
    customer = await new_customer(db, prefix="Dispute Queue")
    # Over the threshold: waits for the provisional-credit decision (our deadline: filing).
    large = await _dispute(db, client, settings, support, customer, amount="250.00")
    # Booked 118 days ago: the scheme's 120-day filing window closes in two days.
    urgent = await _dispute(db, client, settings, support, customer, category="fraud", days_ago=118)
    done = await _dispute(db, client, settings, support, customer, days_ago=10)
    await _reach(db, large, "provisional_credit")
    await _reach(db, urgent, "evidence")
    await _priority(db, urgent, "urgent")  # the workflow's deadline warning
    await _reach(db, done, "evidence")
    await _win(db, client, agent, done)
    credit_task = await task_of(db, large.workflow_id, "agent#credit")
    await tasks.claim_task(db, agent.actor, credit_task.id)
    search = {"q": customer.name}

    async with _client(http) as web:
        await web_login(web, support.username)
        page = await web.get("/disputes", params=search)
        assert page.status_code == 200, page.text
        listing = _listing(page.text)
        # Open ones only by default, the soonest deadline first.
        assert urgent.reference in listing and large.reference in listing
        assert done.reference not in listing
        assert listing.index(urgent.reference) < listing.index(large.reference)
        urgent_row = _row(listing, urgent.reference)
        assert "at risk" in urgent_row and "due in 47 h" in urgent_row
        assert "ours — chargeback filing deadline" in urgent_row
        assert "Evidence and chargeback submission" in urgent_row
        assert "Fraud" in urgent_row and "10.4" in urgent_row and "prio-urgent" in urgent_row
        assert "40.00 EUR" in urgent_row and "Electro Shop Online GmbH" in urgent_row
        assert f'href="http://testserver/cases/{urgent.case_id}"' in urgent_row
        assert "unclaimed" in urgent_row
        large_row = _row(listing, large.reference)
        assert "Provisional credit decision" in large_row and "at risk" not in large_row
        assert re.search(r"due in 11[67] d", large_row)
        assert "Consumer dispute" in large_row and "13.1" in large_row
        assert f"held by {agent.username}" in large_row
        assert "2 disputes · page 1 of 1" in listing

        # Filters: stage, category, status, outcome, deadline within N days.
        async def references(**params: str) -> set[str]:
            found = await web.get("/disputes", params={**search, **params})
            assert found.status_code == 200, found.text
            text = _listing(found.text)
            return {o.reference for o in (large, urgent, done) if o.reference in text}

        assert await references(stage="evidence") == {urgent.reference}
        assert await references(stage="provisional_credit") == {large.reference}
        assert await references(category="fraud") == {urgent.reference}
        assert await references(status="closed") == {done.reference}
        assert await references(status="all") == {large.reference, urgent.reference, done.reference}
        assert await references(status="all", outcome="won") == {done.reference}
        assert await references(status="all", outcome="lost") == set()
        assert await references(within="5") == {urgent.reference}
        assert await references(within="") == {large.reference, urgent.reference}
        closed = await web.get("/disputes", params={**search, "status": "closed"})
        assert "won" in _row(_listing(closed.text), done.reference)
        empty = await web.get("/disputes", params={**search, "category": "authorisation"})
        assert "No open disputes with these filters" in empty.text
        bad = await web.get("/disputes", params={"stage": "nowhere"})
        assert bad.status_code == 422

        # Pagination keeps the filters.
        first = await web.get("/disputes", params={**search, "status": "all", "per_page": "2"})
        listing = _listing(first.text)
        assert "3 disputes · page 1 of 2" in listing
        assert urgent.reference in listing and large.reference in listing
        assert done.reference not in listing
        assert "page=2" in listing and "per_page=2" in listing and "status=all" in listing
        second = await web.get(
            "/disputes", params={**search, "status": "all", "per_page": "2", "page": "2"}
        )
        listing = _listing(second.text)
        assert done.reference in listing and urgent.reference not in listing

        # The HTMX filter request gets only the list block.
        block = await web.get(
            "/disputes", params=search, headers={"HX-Request": "true", "HX-Target": "dispute-queue"}
        )
        assert "<html" not in block.text and 'id="dispute-queue"' in block.text
        assert urgent.reference in block.text
        assert block.headers["vary"].lower().count("hx-request") == 1

    # The JSON twin: the same rows in the same order.
    headers = await api_headers(http, support.username)
    found = await http.get("/api/v1/disputes", params={**search, "status": "all"}, headers=headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["total"] == 3 and body["status"] == "all"
    assert [i["reference"] for i in body["items"]] == [
        urgent.reference,
        large.reference,
        done.reference,
    ]
    by_ref = {i["reference"]: i for i in body["items"]}
    assert by_ref[urgent.reference]["at_risk"] is True
    assert by_ref[urgent.reference]["deadline_owner"] == "ours"
    assert by_ref[urgent.reference]["stage"] == "evidence"
    assert by_ref[urgent.reference]["amount"] == "40.00"
    assert by_ref[urgent.reference]["deadline_text"] == "due in 47 h"
    assert by_ref[large.reference]["assignee"] == agent.username
    assert by_ref[large.reference]["task_title"] == f"Provisional credit {large.reference}"
    assert by_ref[large.reference]["customer_name"] == customer.name
    assert by_ref[done.reference]["outcome"] == "won"
    assert by_ref[done.reference]["deadline_at"] is None
    paged = await http.get(
        "/api/v1/disputes", params={**search, "status": "all", "per_page": 2, "page": 2},
        headers=headers,
    )  # fmt: skip
    assert [i["reference"] for i in paged.json()["items"]] == [done.reference]
    filtered = await http.get("/api/v1/disputes", params={**search, "within": 5}, headers=headers)
    assert [i["reference"] for i in filtered.json()["items"]] == [urgent.reference]
    bad = await http.get("/api/v1/disputes", params={"category": "nonsense"}, headers=headers)
    assert bad.status_code == 422 and "category" in bad.text

    # A KYC analyst may not read disputes: refused (and audited), on the page and the API.
    kyc_headers = await api_headers(http, kyc.username)
    assert (await http.get("/api/v1/disputes", headers=kyc_headers)).status_code == 403
    async with _client(http) as web:
        await web_login(web, kyc.username)
        refused = await web.get("/disputes")
        assert refused.status_code == 403
        assert 'href="http://testserver/disputes"' not in (await web.get("/inbox")).text
    async with db.session() as session:
        denied = (
            await run_sql(
                session,
                "SELECT count(*) FROM audit_event WHERE action = 'dispute.queue' "
                "AND outcome = 'denied' AND actor = :who",
                {"who": kyc.username},
            )
        ).scalar_one()
    assert denied == 2


# ----------------------------------------------------------------------------- case page
async def test_case_page_shows_the_dispute_section_escaped_with_forms_by_role(
    http: httpx.AsyncClient, db: Database, settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    client = temporal_env.client
    support = await new_staff(db, "support", prefix="sup")
    agent = await new_staff(db, "disputes_agent", prefix="dsp")
    kyc = await new_staff(db, "kyc_analyst", prefix="kyc")
    customer = await new_customer(db, prefix="Dispute Page")
    hostile = 'Not me! <script>alert("x")</script> & that is all.'
    small = await _dispute(
        db, client, settings, support, customer, amount="40.00", statement=hostile
    )
    large = await _dispute(db, client, settings, support, customer, amount="250.00")
    await _reach(db, small, "evidence")
    await _reach(db, large, "provisional_credit")

    async with _client(http) as web:
        token = await web_login(web, agent.username)
        page = await web.get(f"/cases/{small.case_id}")
        assert page.status_code == 200, page.text
        html = page.text
        assert 'id="dispute"' in html
        # The customer's own words, escaped.
        assert '<script>alert("x")</script>' not in html
        assert "Not me! &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; that is all." in html
        # The transaction and the claim.
        assert "Electro Shop Online GmbH (DE)" in html and "Kartenzahlung" in html
        assert f'href="http://testserver/customers/{customer.id}"' in html
        assert customer.iban[:4] in html and "40.00 EUR" in html
        assert "Consumer dispute" in html and "<code>13.1</code>" in html
        assert "SANDBOX — not a real card scheme" in html
        # The stages: the evidence stage is current, with our deadline.
        stages = html.split('id="dispute-stages"', 1)[1].split("</article>", 1)[0]
        assert "Provisional credit decision" not in stages  # automatic: never a stage
        evidence_row = _row(stages, "Evidence and chargeback submission")
        assert "current" in evidence_row and "ours" in evidence_row
        assert "chargeback filing deadline" in evidence_row and "due in 11" in evidence_row
        # Under 100 EUR: credited at once, provisionally.
        money = html.split('id="dispute-money"', 1)[1].split("</article>", 1)[0]
        assert "credit-automatic" in money
        credit_row = _row(money, "+40.00 EUR")
        assert "<td>Provisional credit</td>" in credit_row and ">provisional<" in credit_row
        # The outbox: acknowledgement and credit notice, without an e-mail address on file.
        outbox = html.split('id="dispute-messages"', 1)[1].split("</article>", 1)[0]
        assert f"We received your dispute {small.reference}" in outbox
        assert f"Provisional credit for your dispute {small.reference}" in outbox
        assert "no address" in outbox
        # A disputes agent gets the evidence, withdrawal and sandbox forms, each with CSRF.
        evidence_action = f'action="http://testserver/disputes/{small.case_id}/evidence"'
        sandbox_action = f'action="http://testserver/disputes/{small.case_id}/sandbox"'
        withdraw_action = f'action="http://testserver/disputes/{small.case_id}/withdraw"'
        assert evidence_action in html and 'enctype="multipart/form-data"' in html
        assert sandbox_action in html and withdraw_action in html
        for action in (evidence_action, sandbox_action, withdraw_action):
            form = html.split(action, 1)[1].split("</form>", 1)[0]
            assert f'name="csrf_token" value="{token}"' in form
        assert 'value="represent"' in html and 'value="customer_recognised"' in html

        # Evidence added through the form shows escaped, its file linked for download.
        added = await web.post(
            f"/disputes/{small.case_id}/evidence",
            data={"note": "Courier says <b>delivered</b>", "csrf_token": token},
            files={"file": ("receipt.txt", b"Receipt 42\n", "text/plain")},
        )
        assert added.status_code == 303, added.text
        html = (await web.get(f"/cases/{small.case_id}")).text
        box = html.split('id="dispute-evidence"', 1)[1].split("</article>", 1)[0]
        assert "Courier says &lt;b&gt;delivered&lt;/b&gt;" in box and "<b>delivered" not in box
        link = re.search(
            r'href="http://testserver/disputes/[^/]+/evidence/([^"]+)">receipt.txt', box
        )
        assert link, box
        assert agent.username in box and "11 Bytes" in box
        download = await web.get(f"/disputes/{small.case_id}/evidence/{link.group(1)}")
        assert download.status_code == 200 and download.content == b"Receipt 42\n"

        # The sandbox panel's form scripts the merchant; the script shows, its note escaped.
        scripted = await web.post(
            f"/disputes/{small.case_id}/sandbox",
            data={
                "stage": "chargeback",
                "response": "represent",
                "note": "Delivered <i>intact</i>",
                "csrf_token": token,
            },
        )
        assert scripted.status_code == 303, scripted.text
        html = (await web.get(f"/cases/{small.case_id}")).text
        panel = html.split('id="dispute-sandbox"', 1)[1].split("</article>", 1)[0]
        assert "chargeback: Represent with evidence" in panel
        assert f"set by {agent.username}" in panel
        assert "Delivered &lt;i&gt;intact&lt;/i&gt;" in panel and "<i>intact" not in panel
        assert 'id="sandbox-merchant"' in panel and 'name="stage"' in panel

        # Over the threshold: the credit waits for an agent; no money moved yet.
        html = (await web.get(f"/cases/{large.case_id}")).text
        money = html.split('id="dispute-money"', 1)[1].split("</article>", 1)[0]
        assert "credit-pending" in money and "No money moved on the account yet." in money
        assert "Provisional credit decision" in _row(html, 'id="stage-provisional_credit"')

    # Support reads the section, may withdraw, but neither adds evidence nor scripts the sandbox.
    async with _client(http) as web:
        await web_login(web, support.username)
        html = (await web.get(f"/cases/{small.case_id}")).text
        assert 'id="dispute"' in html and "&lt;script&gt;" in html
        assert "SANDBOX — not a real card scheme" in html and 'id="dispute-sandbox"' in html
        assert f"/disputes/{small.case_id}/withdraw" in html
        assert f'/disputes/{small.case_id}/evidence"' not in html
        assert f"/disputes/{small.case_id}/sandbox" not in html
        assert "+40.00 EUR" in html  # support may read adjustments

    # Not the sandbox: no sandbox panel, no sandbox label.
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE dispute SET processor = 'acme_cards' WHERE case_id = :c",
            {"c": large.case_id},
        )
    async with _client(http) as web:
        await web_login(web, agent.username)
        html = (await web.get(f"/cases/{large.case_id}")).text
        assert 'id="dispute"' in html and "acme_cards" in html
        assert 'id="dispute-sandbox"' not in html and "SANDBOX" not in html
        assert f"/disputes/{large.case_id}/sandbox" not in html
        assert f"/disputes/{large.case_id}/evidence" in html

    # Once the dispute is closed, no forms at all; the outcome is shown.
    await _win(db, client, agent, small)
    async with _client(http) as web:
        await web_login(web, agent.username)
        html = (await web.get(f"/cases/{small.case_id}")).text
        claim = html.split('id="dispute-claim"', 1)[1].split("</article>", 1)[0]
        assert "Won — decided for the customer" in claim
        assert f"/disputes/{small.case_id}/withdraw" not in html
        assert f'/disputes/{small.case_id}/sandbox"' not in html
        assert f'action="http://testserver/disputes/{small.case_id}/evidence"' not in html
        assert "final" in _row(html, "+40.00 EUR")
        assert "accept" in html.split('id="dispute-sandbox"', 1)[1].split("</article>", 1)[0]

    # A KYC analyst cannot open the case at all.
    async with _client(http) as web:
        await web_login(web, kyc.username)
        assert (await web.get(f"/cases/{small.case_id}")).status_code == 404


# ----------------------------------------------------------------------------- report
def _summary(text: str) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["figure", "value"]
    return {k: v for k, v in rows[1:]}


async def test_report_counts_outcomes_win_rate_and_risks_and_its_csv_agrees(
    http: httpx.AsyncClient, db: Database, settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    client = temporal_env.client
    support = await new_staff(db, "support", prefix="sup")
    agent = await new_staff(db, "disputes_agent", prefix="dsp")
    reviewer = await new_staff(db, "disputes_agent", prefix="dsp")
    customer = await new_customer(db, prefix="Dispute Report")

    async with _client(http) as web:
        await web_login(web, agent.username)
        before = _summary((await web.get("/disputes/report.csv")).text)
        categories_before = {
            r[0]: r for r in list(csv.reader(io.StringIO(
                (await web.get("/disputes/report.csv", params={"table": "categories"})).text
            )))[1:]
        }  # fmt: skip

    won = await _dispute(db, client, settings, support, customer, category="fraud")
    lost = await _dispute(db, client, settings, support, customer)
    at_risk = await _dispute(db, client, settings, support, customer, days_ago=118)
    await _reach(db, won, "evidence")
    await _reach(db, lost, "evidence")
    await _reach(db, at_risk, "evidence")
    await _win(db, client, agent, won)
    await _lose(db, client, agent, reviewer, lost)

    async with _client(http) as web:
        await web_login(web, agent.username)
        response = await web.get("/disputes/report.csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        today = datetime.now(UTC).date()
        first = today - timedelta(days=89)
        assert (
            f'filename="dispute-report-summary-{first}-to-{today}.csv"'
            in response.headers["content-disposition"]
        )
        after = _summary(response.text)
        assert int(after["won"]) == int(before["won"]) + 1
        assert int(after["lost"]) == int(before["lost"]) + 1
        assert int(after["closed"]) == int(before["closed"]) + 2
        w, lo = int(after["won"]), int(after["lost"])
        assert after["win_rate_pct"] == str(share(w, w + lo))
        assert after["from"] == first.isoformat() and after["to"] == today.isoformat()
        assert int(after["deadlines_at_risk_within_5_days"]) >= 1

        page = await web.get("/disputes/report")
        assert page.status_code == 200, page.text
        html = page.text
        rate = html.split('id="win-rate"', 1)[1].split("</dd>", 1)[0]
        win_rate = share(w, w + lo)
        assert win_rate is not None
        assert f"{win_rate.normalize():f} %" in rate and f"{w} ÷ {w + lo}" in rate
        assert f">{w}<" in _row(html, 'id="outcome-won"')
        assert f">{lo}<" in _row(html, 'id="outcome-lost"')
        assert html.count('class="bar-chart"') == 3
        assert f'data-label="Won" data-total="{w}"' in html
        # Open disputes by stage, in EUR; the same figures in the stages CSV.
        stages = list(csv.reader(io.StringIO(
            (await web.get("/disputes/report.csv", params={"table": "stages"})).text
        )))  # fmt: skip
        assert stages[0] == ["stage", "label", "open_disputes", "amount_eur"]
        evidence = next(r for r in stages if r[0] == "evidence")
        assert int(evidence[2]) >= 1 and Decimal(evidence[3]) >= Decimal("40.00")
        stage_row = _row(html, 'id="stage-evidence"')
        assert f">{evidence[2]}<" in stage_row
        assert f"{Decimal(evidence[3]):,} EUR" in stage_row
        assert int(after["open_disputes"]) == sum(int(r[2]) for r in stages[1:])
        # The deadline at risk is listed with a link to its case; its CSV row too.
        risks = html.split('id="report-at-risk"', 1)[1].split("</article>", 1)[0]
        assert f'href="http://testserver/cases/{at_risk.case_id}">{at_risk.reference}</a>' in risks
        assert won.reference not in risks
        risk_csv = (await web.get("/disputes/report.csv", params={"table": "at_risk"})).text
        assert at_risk.reference in risk_csv and "chargeback filing deadline" in risk_csv
        # By category: the fraud dispute won, the consumer dispute lost.
        categories = {
            r[0]: r for r in list(csv.reader(io.StringIO(
                (await web.get("/disputes/report.csv", params={"table": "categories"})).text
            )))[1:]
        }  # fmt: skip
        won_col, lost_col = 4, 5
        assert int(categories["fraud"][won_col]) == int(categories_before["fraud"][won_col]) + 1
        assert (
            int(categories["consumer_dispute"][lost_col])
            == int(categories_before["consumer_dispute"][lost_col]) + 1
        )
        fraud_row = _row(html, 'id="category-fraud"')
        assert f">{categories['fraud'][won_col]}<" in fraud_row

        # A period before any of this: nothing closed in it, and no win rate.
        old = await web.get(
            "/disputes/report.csv", params={"from": "2001-01-01", "to": "2001-12-31"}
        )
        figures = _summary(old.text)
        assert figures["closed"] == "0" and figures["win_rate_pct"] == ""
        assert figures["open_disputes"] == after["open_disputes"]  # open ones are as of now
        backwards = await web.get(
            "/disputes/report", params={"from": "2001-02-01", "to": "2001-01-01"}
        )
        assert backwards.status_code == 422

    # Support may read disputes but not the report.
    async with _client(http) as web:
        await web_login(web, support.username)
        assert (await web.get("/disputes/report")).status_code == 403
        assert (await web.get("/disputes/report.csv")).status_code == 403


def test_report_csv_neutralises_formula_injection() -> None:
    now = datetime.now(UTC)
    report = DisputeReport(
        start=date(2025, 1, 1),
        end=date(2025, 3, 31),
        within_days=5,
        stages=[],
        outcomes={"won": 0, "lost": 0, "withdrawn": 0, "expired": 0},
        avg_days_to_outcome=None,
        at_risk=[
            AtRiskRow(
                case_id=uuid.uuid4(),
                reference="@SUM(1+1)",
                stage="evidence",
                stage_label="Evidence",
                due_at=now,
                deadline_label='=HYPERLINK("http://evil.example","x")',
                countdown="due in 1 d",
                overdue=False,
                amount=Decimal("-12.00"),
                currency="EUR",
            )
        ],
        categories=[],
    )
    _, text = to_csv(report, "at_risk")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[0] == "'@SUM(1+1)"
    assert row[2] == '\'=HYPERLINK("http://evil.example","x")'
    assert row[5] == "'-12.00"
