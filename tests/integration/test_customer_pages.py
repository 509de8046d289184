"""The customer list and customer 360, and the onboarding case page, against the real
services: applications go in through intake, the worker runs the onboarding workflow."""

from __future__ import annotations

import random
import re
import string
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from audit import trail as audit
from casework import tasks
from core.db import Database, run_sql
from core.settings import Settings
from models.aml import AccountRestriction, AmlAlert, AmlCase, Transaction
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Case
from models.onboarding import Account, Application, ApplicationParty, Customer, ScreeningResult
from models.tariffs import TariffPlan
from onboarding.commands import intake
from screening.commands.service import current_list_version, get_entry
from shared.iban import format_iban, iban_for
from tests.aml_cases import customer_with_account
from tests.helpers import api_headers, eventually, new_plan, new_staff, task_of, web_login
from tests.onboarding_data import (
    business,
    individual,
    listed_individual,
    medium_individual,
    parsed,
)

pytestmark = pytest.mark.usefixtures("onboarding_ready")


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


def unique_name(first: str = "Greta") -> str:
    """A person's name no other test uses (names may not contain digits)."""
    return f"{first} {''.join(random.choices(string.ascii_lowercase, k=10)).capitalize()}"


async def _submit(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, payload: dict[str, Any]
) -> intake.ApplicationAccepted:
    service = await new_staff(db, "upstream_system", prefix="svc")
    return await intake.submit_application(
        db, temporal_env.client, settings, service.actor, parsed(payload)
    )


async def _settled(db: Database, application_id: uuid.UUID, *statuses: str) -> Application:
    async def probe() -> Application | None:
        async with db.session() as session:
            found = await session.get(Application, application_id)
        return found if found is not None and found.status in statuses else None

    found = await eventually(probe, what=f"application {' or '.join(statuses)}")
    assert found is not None
    return found


async def _approved_customer(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, name: str
) -> tuple[Application, Account]:
    accepted = await _submit(db, temporal_env, settings, individual(name))
    application = await _settled(db, accepted.application_id, "approved")
    assert application.customer_id and application.account_id
    async with db.session() as session:
        account = await session.get(Account, application.account_id)
    assert account is not None
    return application, account


def escaped(text: str) -> str:
    """Text as Jinja's autoescape writes it."""
    return str(escape(text))


@pytest.fixture
def web(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return _client(http)


async def test_customer_list_finds_a_customer_by_name_and_by_iban(
    web: httpx.AsyncClient,
    http: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    name = unique_name()
    application, account = await _approved_customer(db, temporal_env, settings, name)
    support = await new_staff(db, "support")
    async with web:
        await web_login(web, support.username)
        by_name = await web.get("/customers", params={"q": name.split()[1].lower()})
        assert by_name.status_code == 200
        assert name in by_name.text and format_iban(account.iban) in by_name.text
        # The IBAN as people write it, in groups of four, finds the same customer.
        by_iban = await web.get("/customers", params={"q": format_iban(account.iban)})
        assert name in by_iban.text
        # The HTMX request for the list block gets only that block.
        block = await web.get(
            "/customers",
            params={"q": account.iban[-8:]},
            headers={"HX-Request": "true", "HX-Target": "customer-list"},
        )
        assert block.status_code == 200 and name in block.text
        assert "<html" not in block.text and 'id="customer-list"' in block.text
        nobody = await web.get("/customers", params={"q": "nobody-by-this-name"})
        assert "No customers match." in nobody.text

    headers = await api_headers(http, support.username)
    found = await http.get("/api/v1/customers", params={"q": account.iban}, headers=headers)
    assert found.status_code == 200
    items = found.json()["items"]
    assert [i["id"] for i in items] == [str(application.customer_id)]
    detail = await http.get(f"/api/v1/customers/{application.customer_id}", headers=headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["customer"]["name"] == name
    assert body["accounts"][0]["iban"] == format_iban(account.iban)
    assert body["cases"][0]["case_type"] == "onboarding"


async def test_customer_360_shows_profile_account_tariff_cases_and_timeline(
    web: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    name = unique_name("Hanna")
    application, account = await _approved_customer(db, temporal_env, settings, name)
    async with db.session() as session:
        plan = await session.get(TariffPlan, account.tariff_plan_id)
        case = await session.get(Case, application.case_id)
    assert plan is not None and case is not None
    analyst = await new_staff(db, "kyc_analyst")
    async with web:
        await web_login(web, analyst.username)
        page = await web.get(f"/customers/{application.customer_id}")
    assert page.status_code == 200
    text = page.text
    # Profile, from the application as submitted.
    for expected in (name, "1988-04-12", "Friedrichstraße 123", "10117 Berlin", "+49301234567"):
        assert expected in text, expected
    # The account with its IBAN in print form and the tariff with its fees and limits.
    assert format_iban(account.iban) in text
    assert plan.name in text and "ATM withdrawal" in text and "1,000.00" in text
    # KYC: approved, automatically; the analyst sees the whole document number.
    assert "KYC approved" in text and "C01X00T47" in text
    # Its onboarding case, linked.
    assert case.reference in text and f"/cases/{case.id}" in text
    # One timeline: the application, its screening, the customer and the account.
    for action in (
        "application.received",
        "screening.party_screened",
        "application.risk_scored",
        "customer.created",
        "account.opened",
    ):
        assert action in text, action
    assert text.index("application.received") < text.index("account.opened")


async def test_a_role_without_customer_read_gets_not_found_and_it_is_audited(
    web: httpx.AsyncClient,
    http: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    application, _ = await _approved_customer(db, temporal_env, settings, unique_name())
    outsider = await new_staff(db, "product_manager")
    async with web:
        await web_login(web, outsider.username)
        page = await web.get(f"/customers/{application.customer_id}")
        listing = await web.get("/customers")
        inbox = await web.get("/inbox")
        missing = await web.get(f"/customers/{uuid.uuid4()}")
    assert page.status_code == 404
    assert missing.status_code == 404  # the same answer: ids are no oracle
    assert listing.status_code == 403
    assert "Customers" not in inbox.text  # no nav link either
    headers = await api_headers(http, outsider.username)
    api = await http.get(f"/api/v1/customers/{application.customer_id}", headers=headers)
    assert api.status_code == 404
    async with db.session() as session:
        refusals = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.actor == outsider.username,
                    AuditEvent.action == "customer.read",
                    AuditEvent.object_id == str(application.customer_id),
                )
            )
        ).all()
    assert len(refusals) == 2 and {e.outcome for e in refusals} == {"denied"}


async def test_support_sees_document_numbers_masked(
    web: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    application, _ = await _approved_customer(db, temporal_env, settings, unique_name())
    support = await new_staff(db, "support")
    async with web:
        await web_login(web, support.username)
        customer_page = await web.get(f"/customers/{application.customer_id}")
        case_page = await web.get(f"/cases/{application.case_id}")
    for page in (customer_page, case_page):
        assert page.status_code == 200
        assert "C01X00T47" not in page.text
        assert "••••••T47" in page.text
        assert "Passport" in page.text  # type, country and expiry stay visible
        # Support may read the case but works no tasks.
        assert "Claim this task" not in page.text


async def test_names_from_the_application_are_rendered_escaped(
    web: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    name = f"Eve <script>alert('x')</script> {unique_name('Mallory').split()[1]}"
    application, _ = await _approved_customer(db, temporal_env, settings, name)
    analyst = await new_staff(db, "kyc_analyst")
    async with web:
        await web_login(web, analyst.username)
        pages = [
            await web.get(f"/customers/{application.customer_id}"),
            await web.get("/customers", params={"q": name.split()[-1]}),
            await web.get(f"/cases/{application.case_id}"),
        ]
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(" in page.text


async def test_onboarding_case_page_shows_hits_with_reasons_and_the_risk_explanation(
    web: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    accepted = await _submit(db, temporal_env, settings, listed_individual())
    application = await _settled(db, accepted.application_id, "in_review")
    async with db.session() as session:
        result = (
            await session.exec(
                select(ScreeningResult)
                .where(ScreeningResult.application_id == application.id)
                .order_by(col(ScreeningResult.screened_at).desc())
            )
        ).first()
    assert result is not None and result.hits and application.risk
    hit = result.hits[0]
    task = await task_of(db, application.workflow_id, "review-analyst#1")
    analyst = await new_staff(db, "kyc_analyst")
    async with web:
        csrf = await web_login(web, analyst.username)
        page = await web.get(f"/cases/{application.case_id}")
        claimed = await web.post(f"/tasks/{task.id}/claim", data={"csrf_token": csrf})
        assert claimed.status_code == 303
        form_page = await web.get(f"/cases/{application.case_id}")
    assert page.status_code == 200
    text = page.text
    assert "Eduardo Restrepo Victoria" in text
    for reason in hit["reasons"]:
        assert escaped(reason) in text, reason
    # The listed entry beside the hit.
    entry = await get_entry(db, hit["list_entry_id"], result.list_version)
    assert entry is not None
    assert f"Hit on listed entry #{entry.list_entry_id}" in text
    assert escaped(entry.remarks or "—") in text
    assert escaped(application.risk["explanation"]) in text
    for factor in application.risk["factors"]:
        assert escaped(factor["label"]) in text
    assert "four-eyes" in text  # the route
    assert "Claim this task" in text
    # Once claimed, the form offers the review's outcomes and reasons per outcome.
    form = form_page.text[form_page.text.index('class="decision-form"') :]
    for outcome in ('value="approve"', 'value="reject"', 'value="request_info"'):
        assert outcome in form
    assert "Reason (required to reject or request information)" in form
    assert '<optgroup label="To reject" data-outcome="reject">' in form
    assert '<optgroup label="To request information" data-outcome="request_info">' in form
    assert "Confirmed sanctions match" in form and "Proof of address" in form
    assert "what the applicant must send" in form


async def test_business_case_lists_directors_and_owners_with_their_shares(
    web: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    accepted = await _submit(db, temporal_env, settings, business(listed_owner=True))
    application = await _settled(db, accepted.application_id, "in_review")
    analyst = await new_staff(db, "kyc_analyst")
    async with web:
        await web_login(web, analyst.username)
        page = await web.get(f"/cases/{application.case_id}")
    text = page.text
    assert "Nordlicht Software GmbH" in text and "HRB 123456" in text
    assert "Klaus Meyer" in text and "60 %" in text
    assert "Ibrahim Taher" in text and "40 %" in text
    assert "beneficial owner" in text


async def test_case_page_shows_an_information_request_and_a_rejection(
    web: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    analyst = await new_staff(db, "kyc_analyst")
    waiting = await _submit(db, temporal_env, settings, medium_individual())
    rejected = await _submit(db, temporal_env, settings, medium_individual())
    for accepted, outcome, reason, comment in (
        (waiting, "request_info", "proof_of_address", "Please send a recent utility bill."),
        (rejected, "reject", "documents_invalid", "The passport photo page is unreadable."),
    ):
        task = await task_of(db, accepted.workflow_id, "review-analyst#1")
        await tasks.claim_task(db, analyst.actor, task.id)
        await tasks.decide_task(
            db,
            temporal_env.client,
            analyst.actor,
            task.id,
            outcome=outcome,
            reason=reason,
            comment=comment,
        )
    await _settled(db, waiting.application_id, "awaiting_information")
    await _settled(db, rejected.application_id, "rejected")
    async with web:
        await web_login(web, analyst.username)
        waiting_page = (await web.get(f"/cases/{waiting.case_id}")).text
        rejected_page = (await web.get(f"/cases/{rejected.case_id}")).text
    assert "awaiting information" in waiting_page and "Information due" in waiting_page
    assert "Messages to the applicant" in waiting_page
    assert "Please send a recent utility bill." in waiting_page
    assert "Decided <strong>request information</strong>" in waiting_page
    assert "reason proof_of_address" in waiting_page
    assert "status-rejected" in rejected_page and "documents_invalid" in rejected_page
    assert "The passport photo page is unreadable." in rejected_page


async def test_screening_alert_case_shows_the_customer_and_the_new_hit(
    web: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """A re-screening alert as the re-screening activity leaves it (written here directly:
    a new list version is not needed to show how the case page reads it)."""
    application, _ = await _approved_customer(db, temporal_env, settings, unique_name())
    assert application.customer_id is not None
    version = await current_list_version(db)
    assert version is not None
    async with db.session() as session:
        party = (
            await session.exec(
                select(ApplicationParty).where(ApplicationParty.application_id == application.id)
            )
        ).one()
    hit = {
        "list_entry_id": 9563,
        "listed_name": "RESTREPO VICTORIA, Eduardo",
        "matched_name": "RESTREPO VICTORIA, Eduardo",
        "score": 91.0,
        "reasons": ["a reason only this alert gives"],
        "entry_type": "person",
        "programs": ["SDNT"],
    }
    workflow_id = f"screening-alert-{application.customer_id}-9563"
    async with db.transaction() as session:
        session.add(
            ScreeningResult(
                idempotency_key=f"rescreen-test-{uuid.uuid4()}/{party.id}",
                party_id=party.id,
                application_id=application.id,
                customer_id=application.customer_id,
                context="rescreen",
                list_version=version,
                hit_count=1,
                best_score=91.0,
                hits=[hit],
            )
        )
        await session.flush()
        case = Case(
            reference=f"SCR-T{uuid.uuid4().hex[:8]}",
            case_type="screening_alert",
            title="Re-screening hit",
            subject_type="customer",
            subject_id=str(application.customer_id),
            workflow_id=workflow_id,
            customer_id=application.customer_id,
        )
        session.add(case)
        await session.flush()
        await audit.record(
            session,
            action="screening.alert_opened",
            actor=audit.SYSTEM,
            object_type="case",
            object_id=case.id,
            details={"customer_id": application.customer_id, "new_entries": [9563]},
        )
    analyst = await new_staff(db, "kyc_analyst")
    support = await new_staff(db, "support")
    async with web:
        await web_login(web, analyst.username)
        page = await web.get(f"/cases/{case.id}")
        customer_page = await web.get(f"/customers/{application.customer_id}")
        await web_login(web, support.username)
        refused = await web.get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert "Re-screening hit" in page.text and "#9563" in page.text
    assert "a reason only this alert gives" in page.text
    assert f"/customers/{application.customer_id}" in page.text
    assert case.reference in customer_page.text  # listed among the customer's alerts
    assert refused.status_code == 404  # support may not see screening alerts


async def test_migrated_customer_360_shows_its_screening_like_an_onboarded_one(
    web: httpx.AsyncClient, db: Database
) -> None:
    """A customer migrated without an application, screened by its own name (results as
    the re-screening activity leaves them: the customer, no party, no application)."""
    version = await current_list_version(db)
    assert version is not None
    name = f"{unique_name('Ilse')} & <Söhne>"
    screened, _ = await customer_with_account(db, name=name)
    unscreened, _ = await customer_with_account(db, name=unique_name("Jost"))
    hit = {
        "list_entry_id": 9563,
        "listed_name": "RESTREPO VICTORIA, Eduardo",
        "matched_name": "RESTREPO VICTORIA, Eduardo",
        "score": 88.0,
        "reasons": ["a reason only this screening gives"],
        "entry_type": "person",
        "programs": ["SDNT"],
    }
    now = utcnow()
    async with db.transaction() as session:
        for n, hits in enumerate(([], [hit])):  # an older clean result, then a hit
            session.add(
                ScreeningResult(
                    idempotency_key=f"rescreen-test-{uuid.uuid4()}/{screened.id}",
                    customer_id=screened.id,
                    context="rescreen",
                    list_version=version,
                    hit_count=len(hits),
                    best_score=88.0 if hits else None,
                    hits=hits,
                    screened_at=now - timedelta(days=1 - n),
                )
            )
    analyst = await new_staff(db, "kyc_analyst")
    async with web:
        await web_login(web, analyst.username)
        page = (await web.get(f"/customers/{screened.id}")).text
        empty = (await web.get(f"/customers/{unscreened.id}")).text
    screening = page[page.index('<article id="screening">') :]
    screening = screening[: screening.index("</article>\n\n")]
    assert f"<strong>{escape(name)}</strong> — 1 hit against {version}" in screening
    assert "<Söhne>" not in page  # the name is escaped everywhere
    assert "#9563" in screening and "a reason only this screening gives" in screening
    assert "History (2 screenings)" in screening
    assert "Screened by name alone" in screening and "Not screened" not in screening
    assert "Not screened yet" in empty


# ----------------------------------------------------------------------------- activity
@dataclass
class Activity:
    customer_id: uuid.UUID
    accounts: list[Account]
    case: Case
    alert_reason: str
    restriction_reason: str


async def _customer_with_activity(db: Database) -> Activity:
    """A migrated customer (no application) with 30 transactions over two accounts, an AML
    case with two alerts, and an active restriction — as the AML code leaves them (written
    here directly: the monitoring itself is not what these pages test)."""
    plan = await new_plan(db)
    placer = await new_staff(db, "aml_investigator")
    tag = uuid.uuid4().hex[:8]
    now = utcnow()
    async with db.transaction() as session:
        number = (await run_sql(session, "SELECT nextval('customer_reference_seq')")).scalar_one()
        customer = Customer(
            reference=f"CUS-{number}",
            kind="individual",
            name=unique_name("Mira"),
            segment="retail",
            country="AT",
            email=None,
            kyc_status="migrated",
            risk_level="medium",
            legacy_ref=f"OLD-{tag}",
        )
        session.add(customer)
        await session.flush()
        accounts = [
            Account(
                customer_id=customer.id,
                iban=iban_for(n, bank_code=f"{random.randrange(10**7, 10**8)}"),
                currency=currency,
                tariff_plan_id=plan.id,
            )
            for n, currency in ((1, "EUR"), (2, "GBP"))
        ]
        session.add_all(accounts)
        await session.flush()
        for n in range(30):
            account = accounts[n % 2]
            session.add(
                Transaction(
                    external_id=f"t-{tag}-{n}",
                    account_id=account.id,
                    customer_id=customer.id,
                    booked_at=now - timedelta(days=n),
                    amount=Decimal("1234.50") + n,
                    currency=account.currency,
                    direction="out" if n % 3 == 0 else "in",
                    channel="swift" if n % 5 == 0 else "sepa",
                    counterparty_name=f"Counterparty {n:02d} <b>Ltd</b>",
                    counterparty_account=f"CP{n:04d}",
                    counterparty_country="CY" if n % 5 == 0 else "DE",
                    description=f"Invoice {tag}-{n:02d}",
                    source="import",
                )
            )
        case_id = uuid.uuid4()
        case = Case(
            id=case_id,
            reference=f"AML-T{tag.upper()}",
            case_type="aml",
            title="AML alerts (test)",
            stage="l2",
            subject_type="customer",
            subject_id=str(customer.id),
            workflow_id=f"aml-{case_id}",
            customer_id=customer.id,
        )
        session.add(case)
        await session.flush()
        session.add(
            AmlCase(
                case_id=case_id,
                customer_id=customer.id,
                tier="l2",
                detected_at=now,
                sar_due_at=now + timedelta(days=30),
            )
        )
        alert_reason = f"5 outgoing SWIFT payments to CY within 7 days <{tag}>"
        for n, reason in enumerate((alert_reason, "an older alert")):
            session.add(
                AmlAlert(
                    dedupe_key=f"test-{tag}-{n}",
                    customer_id=customer.id,
                    account_id=accounts[0].id,
                    rule_key="high_risk_country",
                    rule_version=1,
                    severity="high" if n == 0 else "low",
                    transaction_ids=[],
                    reason=reason,
                    details={},
                    detected_at=now - timedelta(hours=n),
                    case_id=case_id if n == 0 else None,
                )
            )
        restriction_reason = f"Funds may be moved on while the case is open ({tag})."
        session.add(
            AccountRestriction(
                account_id=accounts[0].id,
                case_id=case_id,
                reason=restriction_reason,
                created_by=placer.actor.user_id,
                created_at=now - timedelta(hours=1),
            )
        )
    return Activity(customer.id, accounts, case, alert_reason, restriction_reason)


def _rows(html: str) -> list[str]:
    """The invoice numbers of the transaction rows shown, in order."""
    return re.findall(r"Invoice [0-9a-f]{8}-(\d\d)", html)


async def test_customer_360_shows_transactions_alerts_cases_and_restrictions(
    web: httpx.AsyncClient, db: Database
) -> None:
    activity = await _customer_with_activity(db)
    investigator = await new_staff(db, "aml_investigator")
    url = f"/customers/{activity.customer_id}"
    async with web:
        await web_login(web, investigator.username)
        page = await web.get(url)
        older = await web.get(
            url,
            params={"tx_page": 2},
            headers={"HX-Request": "true", "HX-Target": "customer-transactions"},
        )
        outgoing_swift = await web.get(url, params={"tx_direction": "out", "tx_channel": "swift"})
        window = await web.get(
            url,
            params={
                "tx_from": (utcnow() - timedelta(days=4)).date().isoformat(),
                "tx_to": (utcnow() - timedelta(days=2)).date().isoformat(),
            },
        )
        bad_filter = await web.get(url, params={"tx_from": "last tuesday"})
    assert page.status_code == 200
    text = page.text
    # Migrated: no application, and the page says where the customer came from.
    assert "migrated from legacy book" in text and "no onboarding application here" in text
    # Newest first, 25 to a page, amounts with their currency and sign, counterparty, country.
    assert _rows(text) == [f"{n:02d}" for n in range(25)]
    assert "\u22121,234.50 EUR" in text and "+1,235.50 GBP" in text  # a minus sign
    assert "Counterparty 01 &lt;b&gt;Ltd&lt;/b&gt;" in text and "<b>Ltd</b>" not in text
    assert "CP0001" in text and "<td>CY</td>" in text
    assert "30 transactions · page 1 of 2" in text
    # The pager's HTMX request gets the table block only: the last five.
    assert older.status_code == 200 and older.headers["vary"] == "HX-Request"
    assert "<html" not in older.text and 'id="customer-transactions"' in older.text
    assert _rows(older.text) == [f"{n:02d}" for n in range(25, 30)]
    assert _rows(outgoing_swift.text) == ["00", "15"]  # out: n % 3 == 0; swift: n % 5 == 0
    assert _rows(window.text) == ["02", "03", "04"]
    assert bad_filter.status_code == 422
    # The restriction, prominently on its account, with its case.
    case_link = (
        f'<a href="http://testserver/cases/{activity.case.id}">{activity.case.reference}</a>'
    )
    banner = text[text.index('class="notice bad restriction"') :]
    banner = banner[: banner.index("</p>")]
    assert "Outgoing payments blocked</strong> since" in banner
    assert f"(case {case_link})" in banner
    assert escaped(activity.restriction_reason) in banner
    # Alerts with rule, reason and a link to their case; the AML case with its stage.
    assert escaped(activity.alert_reason) in text and "high_risk_country" in text
    assert "2 alerts" in text and "an older alert" in text
    aml = text[text.index('id="aml"') :]
    assert f"/cases/{activity.case.id}" in aml and "SAR due" in aml


async def test_customer_360_shows_each_role_only_its_sections(
    web: httpx.AsyncClient, db: Database
) -> None:
    activity = await _customer_with_activity(db)
    support = await new_staff(db, "support")
    kyc = await new_staff(db, "kyc_analyst")
    url = f"/customers/{activity.customer_id}"
    async with web:
        await web_login(web, support.username)
        as_support = (await web.get(url)).text
        await web_login(web, kyc.username)
        as_kyc = (await web.get(url)).text
    # Support reads transactions and sees that the account is restricted, but not the alerts,
    # the case or why: "restricted — refer to compliance" (need-to-know, never tip off).
    assert 'id="customer-transactions"' in as_support
    assert "<strong>Restricted — refer to compliance</strong>" in as_support
    assert "Outgoing payments blocked" not in as_support
    assert activity.case.reference not in as_support
    assert f"/cases/{activity.case.id}" not in as_support
    assert escaped(activity.restriction_reason) not in as_support
    assert 'id="aml"' not in as_support and escaped(activity.alert_reason) not in as_support
    # KYC analysts read customers but not transactions.
    assert 'id="transactions"' not in as_kyc and 'id="aml"' not in as_kyc
    assert "Restricted — refer to compliance" in as_kyc
    assert escaped(activity.restriction_reason) not in as_kyc
