"""The dispute pages against the real services: the support form, evidence (notes and
uploads, downloads), withdrawal, the sandbox merchant, and the customer 360's dispute
links and adjustments. Every form post carries the session's CSRF token."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from casework import tasks
from core.db import Database
from core.settings import Settings
from disputes.commands.evidence import MAX_BYTES
from models.audit import AuditEvent
from models.cases import Case
from models.disputes import AccountAdjustment, Dispute, DisputeEvidence
from tests.dispute_data import card_payment, opened_dispute
from tests.helpers import eventually, new_staff, task_of, web_login

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
async def second(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser (its own cookies) on the same app."""
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as c:
        yield c


async def _signed_in(http: httpx.AsyncClient, db: Database, *roles: str) -> str:
    user = await new_staff(db, *roles)
    return await web_login(http, user.username)


async def _case(db: Database, case_id: uuid.UUID) -> Case:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case


def _case_url(case_id: uuid.UUID) -> str:
    return f"/cases/{case_id}"


# ----------------------------------------------------------------------------- the form
async def test_support_opens_a_dispute_through_the_form(
    http: httpx.AsyncClient, db: Database
) -> None:
    csrf = await _signed_in(http, db, "support")
    payment = await card_payment(db, amount="250.00", merchant="Tom & Jerry <Shop>")

    form = await http.get(f"/disputes/new?transaction_id={payment.transaction_id}")
    assert form.status_code == 200, form.text
    assert str(escape("Tom & Jerry <Shop>")) in form.text  # escaped, never raw
    assert "<Shop>" not in form.text
    assert 'name="amount" type="text" inputmode="decimal" value="250.00"' in form.text
    assert payment.customer.iban[:4] in form.text
    assert "Fraud — the customer did not make or allow the payment" in form.text

    refused = await http.post(
        "/disputes/new",
        data={
            "csrf_token": csrf,
            "transaction_id": str(payment.transaction_id),
            "category": "consumer_dispute",
            "scheme": "mastercard",
            "amount": "260.00",
            "statement": "The <b>parcel</b> never arrived, I asked twice.",
        },
    )
    assert refused.status_code == 422, refused.text
    assert "At most the transaction&#39;s 250.00 EUR" in refused.text
    assert 'id="amount-error"' in refused.text
    assert 'value="260.00"' in refused.text  # what was typed is kept
    assert "The &lt;b&gt;parcel&lt;/b&gt; never arrived" in refused.text
    assert '<option value="mastercard" selected>' in refused.text

    opened = await http.post(
        "/disputes/new",
        data={
            "csrf_token": csrf,
            "transaction_id": str(payment.transaction_id),
            "category": "consumer_dispute",
            "scheme": "mastercard",
            "amount": "120.50",
            "statement": "The parcel never arrived, I asked the shop twice.",
        },
    )
    assert opened.status_code == 303, opened.text
    async with db.session() as session:
        dispute = (
            await session.exec(
                select(Dispute).where(Dispute.transaction_id == payment.transaction_id)
            )
        ).one()
    assert opened.headers["location"].startswith(f"http://testserver{_case_url(dispute.case_id)}")
    assert (dispute.scheme, dispute.scheme_reason_code, str(dispute.amount)) == (
        "mastercard",
        "4853",
        "120.5000",
    )
    case_page = await http.get(_case_url(dispute.case_id))
    assert case_page.status_code == 200

    # Now disputed: the form says so, names the dispute, and offers no second one.
    again = await http.get(f"/disputes/new?transaction_id={payment.transaction_id}")
    assert again.status_code == 200
    case = await _case(db, dispute.case_id)
    assert f"already has a dispute, {case.reference}" in again.text
    assert 'id="dispute-form"' not in again.text
    assert f'href="http://testserver{_case_url(case.id)}"' in again.text
    replayed = await http.post(
        "/disputes/new",
        data={
            "csrf_token": csrf,
            "transaction_id": str(payment.transaction_id),
            "category": "fraud",
            "scheme": "visa",
            "statement": "Someone else used my card, not me.",
        },
    )
    assert replayed.status_code == 409
    assert "a card payment can be charged back only once" in replayed.text


async def test_the_form_says_why_a_payment_cannot_be_disputed(
    http: httpx.AsyncClient, db: Database
) -> None:
    csrf = await _signed_in(http, db, "support")
    sepa = await card_payment(db, channel="sepa")
    old = await card_payment(db, days_ago=130)

    page = await http.get(f"/disputes/new?transaction_id={sepa.transaction_id}")
    assert page.status_code == 200
    assert "Only card payments can be disputed; this is a SEPA transfer." in page.text
    assert 'id="dispute-form"' not in page.text
    page = await http.get(f"/disputes/new?transaction_id={old.transaction_id}")
    assert "booked 130 days ago" in page.text and 'id="dispute-form"' not in page.text

    posted = await http.post(
        "/disputes/new",
        data={
            "csrf_token": csrf,
            "transaction_id": str(sepa.transaction_id),
            "category": "fraud",
            "scheme": "visa",
            "statement": "Someone else used my card, not me.",
        },
    )
    assert posted.status_code == 422
    assert "Only card payments can be disputed" in posted.text
    missing = await http.get(f"/disputes/new?transaction_id={uuid.uuid4()}")
    assert missing.status_code == 404
    no_csrf = await http.post(
        "/disputes/new",
        data={"transaction_id": str(old.transaction_id), "category": "fraud", "statement": "x"},
    )
    assert no_csrf.status_code == 403


async def test_the_form_is_refused_to_roles_that_cannot_open_disputes(
    http: httpx.AsyncClient, db: Database
) -> None:
    await _signed_in(http, db, "auditor")
    payment = await card_payment(db)
    page = await http.get(f"/disputes/new?transaction_id={payment.transaction_id}")
    assert page.status_code == 403
    assert "do not allow you to open dispute" in page.text


# ----------------------------------------------------------------------------- evidence
async def test_evidence_note_and_upload_then_download(
    http: httpx.AsyncClient,
    second: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    _, opened = await opened_dispute(db, temporal_env.client, settings)
    agent = await new_staff(db, "disputes_agent")
    csrf = await web_login(http, agent.username)
    url = f"/disputes/{opened.case_id}/evidence"

    # A note alone (the browser sends an empty file part when no file is chosen).
    note = await http.post(
        url,
        data={"csrf_token": csrf, "note": "Customer forwarded the <courier> e-mail."},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert note.status_code == 303, note.text
    assert note.headers["location"].endswith(
        f"{_case_url(opened.case_id)}?notice=evidence-added#dispute"
    )

    receipt = PDF + b"x" * 1000
    upload = await http.post(
        url,
        data={"csrf_token": csrf, "note": "Returns receipt"},
        files={"file": ("C:\\fakepath\\Rücksendung receipt.pdf", receipt, "application/pdf")},
    )
    assert upload.status_code == 303, upload.text
    [audited] = await _events_of(db, upload.headers["x-request-id"])
    assert (audited.action, audited.outcome, audited.actor) == (
        "dispute.evidence_added",
        "success",
        agent.username,
    )
    assert audited.details["sha256"] == hashlib.sha256(receipt).hexdigest()

    async with db.session() as session:
        rows = list(
            (
                await session.exec(
                    select(DisputeEvidence)
                    .where(DisputeEvidence.case_id == opened.case_id)
                    .order_by(col(DisputeEvidence.added_at))
                )
            ).all()
        )
    assert [r.note for r in rows] == ["Customer forwarded the <courier> e-mail.", "Returns receipt"]
    stored = rows[1]
    assert (stored.filename, stored.content_type, stored.size) == (
        "Rücksendung receipt.pdf",
        "application/pdf",
        len(receipt),
    )

    download = await http.get(f"/disputes/{opened.case_id}/evidence/{stored.id}")
    assert download.status_code == 200
    assert download.content == receipt
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="R_cksendung_receipt.pdf"')
    assert "filename*=UTF-8''R%C3%BCcksendung%20receipt.pdf" in disposition

    # Support may see the dispute (and so its documents); a KYC analyst may not even learn
    # that it exists.
    await web_login(second, (await new_staff(db, "support")).username)
    assert (await second.get(f"/disputes/{opened.case_id}/evidence/{stored.id}")).content == receipt
    second.cookies.clear()
    await web_login(second, (await new_staff(db, "kyc_analyst")).username)
    hidden = await second.get(f"/disputes/{opened.case_id}/evidence/{stored.id}")
    assert hidden.status_code == 404
    assert receipt not in hidden.content
    wrong_case = await http.get(f"/disputes/{uuid.uuid4()}/evidence/{stored.id}")
    assert wrong_case.status_code == 404

    # Text documents keep their bytes as sent (here Windows-1252), typed by us, not the browser.
    table = "Datum;Betrag\r\n03.11.;250,00 \u20ac\r\n".encode("cp1252")
    csv = await http.post(
        url, data={"csrf_token": csrf}, files={"file": ("returns.csv", table, "text/html")}
    )
    assert csv.status_code == 303, csv.text
    assert "notice=evidence-file-added" in csv.headers["location"]
    async with db.session() as session:
        csv_id = (
            await session.exec(
                select(DisputeEvidence.id).where(
                    DisputeEvidence.case_id == opened.case_id,
                    DisputeEvidence.filename == "returns.csv",
                )
            )
        ).one()
    sent = await http.get(f"/disputes/{opened.case_id}/evidence/{csv_id}")
    assert sent.content == table
    assert sent.headers["content-type"].startswith("text/csv")
    assert sent.headers["content-disposition"].startswith('attachment; filename="returns.csv"')


async def _events_of(db: Database, request_id: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id))
            ).all()
        )


@pytest.mark.parametrize(
    ("files", "note", "problem"),
    [
        (
            {"file": ("setup.exe", b"MZ\x90\x00" + b"\x00" * 64, "application/pdf")},
            "",
            "not accepted",
        ),
        (
            {"file": ("invoice.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
            "",
            "not a PDF file",
        ),
        (
            {"file": ("notes.txt", b"MZ\x90\x00\x03\x00\x00\x00", "text/plain")},
            "",
            "is not text",
        ),
        ({"file": ("big.pdf", PDF + b"0" * MAX_BYTES, "application/pdf")}, "", "larger than 5 MB"),
        ({"file": ("", b"", "application/octet-stream")}, "  ", "Write a note or attach a file"),
    ],
    ids=["exe", "disguised-pdf", "disguised-text", "too-large", "nothing"],
)
async def test_refused_evidence_says_why_and_stores_nothing(
    http: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    files: dict[str, Any],
    note: str,
    problem: str,
) -> None:
    _, opened = await opened_dispute(db, temporal_env.client, settings)
    csrf = await _signed_in(http, db, "disputes_agent")

    response = await http.post(
        f"/disputes/{opened.case_id}/evidence", data={"csrf_token": csrf, "note": note}, files=files
    )

    assert response.status_code == 422, response.text
    assert problem in response.text
    [event] = await _events_of(db, response.headers["x-request-id"])
    assert (event.action, event.outcome) == ("dispute.evidence_added", "failure")
    async with db.session() as session:
        stored = (
            await session.exec(
                select(DisputeEvidence).where(DisputeEvidence.case_id == opened.case_id)
            )
        ).all()
    assert stored == []


async def test_evidence_needs_permission_and_csrf(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    _, opened = await opened_dispute(db, temporal_env.client, settings)
    csrf = await _signed_in(http, db, "support")
    url = f"/disputes/{opened.case_id}/evidence"
    denied = await http.post(url, data={"csrf_token": csrf, "note": "A note from support."})
    assert denied.status_code == 403
    forged = await http.post(url, data={"note": "No token."})
    assert forged.status_code == 403 and "CSRF" in forged.text


# ----------------------------------------------------------------------------- withdrawal
async def test_withdrawal_through_the_page_reverses_the_provisional_credit(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    # 40 EUR is under the provisional-credit threshold: credited as soon as it opens.
    payment, opened = await opened_dispute(db, temporal_env.client, settings, amount="40.00")
    csrf = await _signed_in(http, db, "support")

    async def adjustments() -> list[AccountAdjustment]:
        async with db.session() as session:
            return list(
                (
                    await session.exec(
                        select(AccountAdjustment).where(AccountAdjustment.case_id == opened.case_id)
                    )
                ).all()
            )

    [credit] = await eventually(adjustments, what="the provisional credit")
    assert credit.kind == "provisional_credit"

    incomplete = await http.post(
        f"/disputes/{opened.case_id}/withdraw",
        data={"csrf_token": csrf, "reason": "other", "comment": ""},
    )
    assert incomplete.status_code == 422 and "Say why" in incomplete.text
    response = await http.post(
        f"/disputes/{opened.case_id}/withdraw",
        data={"csrf_token": csrf, "reason": "refund_received", "comment": "Refunded by the shop."},
    )
    assert response.status_code == 303, response.text
    assert "notice=dispute-withdrawn" in response.headers["location"]

    async def withdrawn() -> bool:
        case = await _case(db, opened.case_id)
        return case.status == "closed"

    await eventually(withdrawn, what="the dispute to conclude")
    assert (await _case(db, opened.case_id)).outcome == "withdrawn"
    reversal = next(a for a in await adjustments() if a.kind == "credit_reversal")
    assert reversal.reverses_id == credit.id and reversal.amount == -credit.amount

    # The customer 360 lists both, with where each stands.
    page = await http.get(f"/customers/{payment.customer.id}")
    section = _section(page.text, "adjustments")
    credit_row = _row(section, f"adjustment-{credit.id}")
    reversal_row = _row(section, f"adjustment-{reversal.id}")
    assert "+40.00 EUR" in credit_row and ">reversed<" in credit_row
    assert "\u221240.00 EUR" in reversal_row and ">final<" in reversal_row
    assert opened.reference in reversal_row

    again = await http.post(
        f"/disputes/{opened.case_id}/withdraw",
        data={"csrf_token": csrf, "reason": "refund_received"},
    )
    assert again.status_code == 409 and "already concluded" in again.text
    agent_csrf = await _signed_in(http, db, "disputes_agent")
    closed = await http.post(
        f"/disputes/{opened.case_id}/evidence",
        data={"csrf_token": agent_csrf, "note": "Late evidence."},
    )
    assert closed.status_code == 409 and "evidence can no longer be added" in closed.text


# ----------------------------------------------------------------------------- sandbox
async def test_a_scripted_representment_brings_the_dispute_to_review(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    _, opened = await opened_dispute(db, temporal_env.client, settings, amount="40.00")
    agent = await new_staff(db, "disputes_agent")
    csrf = await web_login(http, agent.username)
    evidence_task = await task_of(db, opened.workflow_id, "agent#evidence")

    wrong = await http.post(
        f"/disputes/{opened.case_id}/sandbox",
        data={"csrf_token": csrf, "stage": "chargeback", "response": "decline"},
    )
    assert wrong.status_code == 422
    scripted = await http.post(
        f"/disputes/{opened.case_id}/sandbox",
        data={
            "csrf_token": csrf,
            "stage": "chargeback",
            "response": "represent",
            "note": "Signed delivery receipt attached.",
        },
    )
    assert scripted.status_code == 303, scripted.text
    assert "notice=sandbox-scripted" in scripted.headers["location"]
    assert (await _case(db, opened.case_id)).stage == "evidence"  # nothing filed yet

    await tasks.claim_task(db, agent.actor, evidence_task.id)
    await tasks.decide_task(
        db, temporal_env.client, agent.actor, evidence_task.id, outcome="submit", reason=None,
        comment=None,
    )  # fmt: skip

    async def in_review() -> bool:
        return (await _case(db, opened.case_id)).stage == "representment_review"

    await eventually(in_review, what="representment review")
    review = await task_of(db, opened.workflow_id, "agent#representment")
    assert review.status == "open"


# ----------------------------------------------------------------------------- customer 360
def _section(html: str, element_id: str) -> str:
    match = re.search(rf'<article id="{element_id}">(.*?)</article>', html, re.S)
    assert match, f"no #{element_id} section"
    return match.group(1)


def _row(html: str, element_id: str) -> str:
    match = re.search(rf'<tr id="{element_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row #{element_id}"
    return match.group(1)


async def test_customer_360_offers_disputes_on_card_payments_and_lists_adjustments(
    http: httpx.AsyncClient,
    second: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    card = await card_payment(db, amount="30.00")
    sepa = await card_payment(db, channel="sepa", customer=card.customer)
    refund = await card_payment(db, direction="in", customer=card.customer)
    support = await new_staff(db, "support")
    await web_login(http, support.username)
    url = f"/customers/{card.customer.id}"

    page = await http.get(url)
    assert page.status_code == 200
    card_row = _row(page.text, f"transaction-{card.transaction_id}")
    assert 'class="dispute-action"' in card_row
    assert f"/disputes/new?transaction_id={card.transaction_id}" in card_row
    assert "dispute-action" not in _row(page.text, f"transaction-{sepa.transaction_id}")
    assert "dispute-action" not in _row(page.text, f"transaction-{refund.transaction_id}")
    assert "No adjustments." in _section(page.text, "adjustments")

    # A role that reads customers but may not open disputes gets no Dispute action, and no
    # adjustments section (it is not theirs to read).
    await web_login(second, (await new_staff(db, "aml_analyst")).username)
    other = await second.get(url)
    assert "dispute-action" not in _row(other.text, f"transaction-{card.transaction_id}")
    assert 'id="adjustments"' not in other.text

    from disputes.commands.opening import open_dispute
    from models.disputes import DisputeCreate

    opened = await open_dispute(
        db,
        temporal_env.client,
        settings,
        support.actor,
        DisputeCreate(
            transaction_id=card.transaction_id,
            category="fraud",
            statement="Someone else used my card in that shop.",
        ),
    )

    async def credited() -> str | None:
        text = (await http.get(url)).text
        return text if opened.reference in _section(text, "adjustments") else None

    page_text = await eventually(credited, what="the provisional credit on the 360")
    card_row = _row(page_text, f"transaction-{card.transaction_id}")
    assert "dispute-action" not in card_row
    assert f'href="http://testserver{_case_url(opened.case_id)}"' in card_row
    assert opened.reference in card_row
    adjustments = _section(page_text, "adjustments")
    assert "Provisional credit" in adjustments and "+30.00 EUR" in adjustments
    assert ">provisional<" in adjustments
    assert card.customer.iban[:4] in adjustments
    # The filtered, paged transactions block (HTMX) carries the same links.
    block = await http.get(
        url, headers={"HX-Request": "true", "HX-Target": "customer-transactions"}
    )
    assert opened.reference in _row(block.text, f"transaction-{card.transaction_id}")
