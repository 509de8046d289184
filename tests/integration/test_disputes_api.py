"""`/api/v1/disputes` against the real services: opening a dispute (and every refusal, with
its reason), one dispute per transaction even under a race, permissions (refusals
audited), reading a dispute back, evidence notes, withdrawal, the sandbox merchant, and
an account's adjustments."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from casework import tasks
from core.db import Database
from core.settings import Settings
from models.audit import AuditEvent
from models.cases import Case
from models.disputes import AccountAdjustment, Dispute
from tests.dispute_data import CardPayment, card_payment, opened_dispute
from tests.helpers import api_headers, eventually, new_staff, task_of

STATEMENT = "I returned the goods on 3 November and never got a refund."


async def _headers(http: httpx.AsyncClient, db: Database, *roles: str) -> dict[str, str]:
    user = await new_staff(db, *roles)
    return await api_headers(http, user.username)


def _body(payment: CardPayment, **overrides: Any) -> dict[str, Any]:
    return {
        "transaction_id": str(payment.transaction_id),
        "category": "consumer_dispute",
        "scheme": "visa",
        "statement": STATEMENT,
        **overrides,
    }


async def _disputes_of(db: Database, transaction_id: uuid.UUID) -> int:
    async with db.session() as session:
        return int(
            (
                await session.exec(
                    select(func.count())
                    .select_from(Dispute)
                    .where(Dispute.transaction_id == transaction_id)
                )
            ).one()
        )


async def _events(db: Database, request_id: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.request_id == request_id)
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def test_support_opens_a_dispute_on_a_card_payment(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment
) -> None:
    headers = await _headers(http, db, "support")
    payment = await card_payment(db, amount="250.00")

    response = await http.post("/api/v1/disputes", json=_body(payment), headers=headers)

    assert response.status_code == 201, response.text
    opened = response.json()
    assert opened["reference"].startswith("DSP-")
    assert opened["scheme_reason_code"] == "13.1"
    assert opened["currency"] == "EUR"
    async with db.session() as session:
        case = await session.get(Case, uuid.UUID(opened["case_id"]))
    assert case is not None and case.case_type == "dispute" and case.status == "open"
    assert case.reference == opened["reference"]
    handle = temporal_env.client.get_workflow_handle(opened["workflow_id"])
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    [event] = [
        e
        for e in await _events(db, response.headers["x-request-id"])
        if e.action == "dispute.opened"
    ]
    assert event.outcome == "success" and event.object_id == opened["case_id"]

    async def staged() -> dict[str, Any] | None:
        read = await http.get(f"/api/v1/disputes/{opened['case_id']}", headers=headers)
        assert read.status_code == 200, read.text
        body: dict[str, Any] = read.json()
        return body if body["stages"] else None

    dispute = await eventually(staged, what="the dispute's first stage")
    assert dispute["reference"] == opened["reference"]
    assert dispute["status"] == "open"
    assert dispute["transaction_id"] == str(payment.transaction_id)
    assert dispute["transaction_external_id"].startswith("tx-")
    assert (dispute["category"], dispute["scheme"], dispute["scheme_reason_code"]) == (
        "consumer_dispute",
        "visa",
        "13.1",
    )
    assert (dispute["amount"], dispute["currency"]) == ("250.00", "EUR")
    assert dispute["statement"] == STATEMENT
    assert dispute["filing_deadline_at"]
    # 250 EUR is above the provisional-credit threshold: an agent decides it first.
    assert dispute["stages"][0]["stage"] == "provisional_credit"
    assert dispute["stages"][0]["deadline_owner"] == "ours"
    assert dispute["evidence"] == [] and dispute["adjustments"] == []


@pytest.mark.parametrize(
    ("payment_kwargs", "overrides", "field", "words"),
    [
        ({"channel": "sepa"}, {}, "transaction_id", "Only card payments can be disputed"),
        ({"direction": "in"}, {}, "transaction_id", "this one is money in"),
        ({"days_ago": 130}, {}, "transaction_id", "within 120 days"),
        ({}, {"amount": "250.01"}, "amount", "At most the transaction's 250.00 EUR"),
        ({}, {"amount": "10.001"}, "amount", "EUR has 2 decimal places"),
        ({}, {"statement": ""}, "statement", "customer's statement"),
        ({}, {"category": "changed_my_mind"}, "category", "Choose one of"),
    ],
    ids=[
        "sepa",
        "money-in",
        "too-old",
        "amount-above",
        "too-many-decimals",
        "no-statement",
        "bad-category",
    ],
)
async def test_a_refused_dispute_says_why_and_creates_nothing(
    http: httpx.AsyncClient,
    db: Database,
    payment_kwargs: dict[str, Any],
    overrides: dict[str, Any],
    field: str,
    words: str,
) -> None:
    headers = await _headers(http, db, "support")
    payment = await card_payment(db, **payment_kwargs)

    response = await http.post(
        "/api/v1/disputes", json=_body(payment, **overrides), headers=headers
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert words in body["message"] or words in body["fields"][field], body
    assert field in body["fields"], body
    assert await _disputes_of(db, payment.transaction_id) == 0
    [event] = await _events(db, response.headers["x-request-id"])
    assert event.outcome == "failure"


async def test_a_second_dispute_on_a_transaction_names_the_first(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _headers(http, db, "support")
    payment = await card_payment(db)
    first = await http.post("/api/v1/disputes", json=_body(payment), headers=headers)
    assert first.status_code == 201, first.text

    second = await http.post(
        "/api/v1/disputes", json=_body(payment, category="fraud"), headers=headers
    )

    assert second.status_code == 409, second.text
    assert second.json()["error"] == "already_disputed"
    assert first.json()["reference"] in second.json()["message"]
    assert await _disputes_of(db, payment.transaction_id) == 1


async def test_two_concurrent_opens_on_one_transaction_make_one_dispute(
    http: httpx.AsyncClient, db: Database
) -> None:
    one, two = await _headers(http, db, "support"), await _headers(http, db, "support")
    payment = await card_payment(db)

    answers = await asyncio.gather(
        http.post("/api/v1/disputes", json=_body(payment), headers=one),
        http.post("/api/v1/disputes", json=_body(payment, category="fraud"), headers=two),
    )

    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert await _disputes_of(db, payment.transaction_id) == 1


@pytest.mark.parametrize("role", ["kyc_analyst", "auditor"])
async def test_roles_without_dispute_open_are_refused_and_audited(
    http: httpx.AsyncClient, db: Database, role: str
) -> None:
    user = await new_staff(db, role)
    headers = await api_headers(http, user.username)
    payment = await card_payment(db)

    response = await http.post("/api/v1/disputes", json=_body(payment), headers=headers)

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "permission_denied"
    [event] = await _events(db, response.headers["x-request-id"])
    assert (event.action, event.outcome, event.actor) == ("dispute.open", "denied", user.username)
    assert event.object_id == str(payment.transaction_id)
    assert await _disputes_of(db, payment.transaction_id) == 0


async def test_reading_an_unknown_dispute_is_not_found(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _headers(http, db, "support")
    response = await http.get(f"/api/v1/disputes/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 404, response.text
    kyc = await _headers(http, db, "kyc_analyst")
    refused = await http.get(f"/api/v1/disputes/{uuid.uuid4()}", headers=kyc)
    assert refused.status_code == 403, refused.text


async def test_evidence_withdrawal_and_adjustments_through_the_api(
    http: httpx.AsyncClient, db: Database
) -> None:
    support = await _headers(http, db, "support")
    agent = await _headers(http, db, "disputes_agent")
    payment = await card_payment(db, amount="40.00")  # under the threshold: credited at once
    opened = (await http.post("/api/v1/disputes", json=_body(payment), headers=support)).json()
    case_id = opened["case_id"]

    note = await http.post(
        f"/api/v1/disputes/{case_id}/evidence",
        json={"note": "Customer sent the returns receipt."},
        headers=agent,
    )
    assert note.status_code == 201, note.text
    assert note.json()["note"] == "Customer sent the returns receipt."
    assert note.json()["size"] == 0 and note.json()["filename"] is None
    # Support opens and withdraws disputes but does not gather evidence.
    refused = await http.post(
        f"/api/v1/disputes/{case_id}/evidence", json={"note": "Mine."}, headers=support
    )
    assert refused.status_code == 403, refused.text
    empty = await http.post(
        f"/api/v1/disputes/{case_id}/evidence", json={"note": " "}, headers=agent
    )
    assert empty.status_code == 422 and "note" in empty.json()["fields"], empty.text

    account_id = (await http.get(f"/api/v1/disputes/{case_id}", headers=support)).json()[
        "account_id"
    ]

    async def credited() -> list[dict[str, Any]]:
        page = await http.get(f"/api/v1/accounts/{account_id}/adjustments", headers=support)
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    [credit] = await eventually(credited, what="the provisional credit")
    assert (credit["kind"], credit["amount"], credit["status"]) == (
        "provisional_credit",
        "40.00",
        "provisional",
    )
    assert credit["dispute_reference"] == opened["reference"]

    bad = await http.post(
        f"/api/v1/disputes/{case_id}/withdraw", json={"reason_code": "bored"}, headers=support
    )
    # The reason codes are an enum of the API: the field is named as the body names it.
    assert bad.status_code == 422 and "reason_code" in bad.json()["fields"], bad.text
    withdrawn = await http.post(
        f"/api/v1/disputes/{case_id}/withdraw",
        json={"reason_code": "refund_received", "comment": "Merchant refunded on 12 Nov."},
        headers=support,
    )
    assert withdrawn.status_code == 202, withdrawn.text

    async def concluded() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await http.get(f"/api/v1/disputes/{case_id}", headers=support)
        ).json()
        return body if body["status"] == "closed" else None

    dispute = await eventually(concluded, what="the dispute to conclude")
    assert dispute["outcome"] == "withdrawn"
    statuses = {a["kind"]: (a["status"], a["amount"]) for a in dispute["adjustments"]}
    assert statuses == {
        "provisional_credit": ("reversed", "40.00"),
        "credit_reversal": ("final", "-40.00"),
    }
    page = (
        await http.get(
            f"/api/v1/accounts/{account_id}/adjustments?per_page=1&page=2", headers=support
        )
    ).json()
    assert page["total"] == 2 and page["page"] == 2 and len(page["items"]) == 1
    assert page["items"][0]["kind"] == "provisional_credit"  # newest first: the reversal leads

    late = await http.post(
        f"/api/v1/disputes/{case_id}/evidence", json={"note": "Too late."}, headers=agent
    )
    assert late.status_code == 409 and late.json()["error"] == "case_closed", late.text
    again = await http.post(
        f"/api/v1/disputes/{case_id}/withdraw",
        json={"reason_code": "refund_received"},
        headers=support,
    )
    assert again.status_code == 409, again.text
    scripted = await http.post(
        f"/api/v1/disputes/{case_id}/sandbox-response",
        json={"stage": "chargeback", "response": "accept"},
        headers=agent,
    )
    assert scripted.status_code == 409, scripted.text


async def test_sandbox_response_through_the_api(http: httpx.AsyncClient, db: Database) -> None:
    support = await _headers(http, db, "support")
    agent = await _headers(http, db, "disputes_agent")
    payment = await card_payment(db)
    opened = (await http.post("/api/v1/disputes", json=_body(payment), headers=support)).json()
    url = f"/api/v1/disputes/{opened['case_id']}/sandbox-response"

    wrong = await http.post(url, json={"stage": "chargeback", "response": "decline"}, headers=agent)
    assert wrong.status_code == 422 and "response" in wrong.json()["fields"], wrong.text
    denied = await http.post(
        url, json={"stage": "chargeback", "response": "accept"}, headers=support
    )
    assert denied.status_code == 403, denied.text
    done = await http.post(
        url, json={"stage": "chargeback", "response": "accept", "note": "OK"}, headers=agent
    )
    assert done.status_code == 200, done.text
    assert done.json()["delivered"] is False
    assert "chargeback stage" in done.json()["message"]


async def test_adjustments_of_an_account_need_permission_and_a_real_account(
    http: httpx.AsyncClient, db: Database
) -> None:
    finance = await _headers(http, db, "finance_ops")
    payment = await card_payment(db)
    account_id = payment.customer.account_id
    empty = await http.get(f"/api/v1/accounts/{account_id}/adjustments", headers=finance)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"items": [], "total": 0, "page": 1, "per_page": 50}
    missing = await http.get(f"/api/v1/accounts/{uuid.uuid4()}/adjustments", headers=finance)
    assert missing.status_code == 404, missing.text
    kyc = await _headers(http, db, "kyc_analyst")
    denied = await http.get(f"/api/v1/accounts/{account_id}/adjustments", headers=kyc)
    assert denied.status_code == 403, denied.text
    async with db.session() as session:
        assert (
            await session.exec(
                select(func.count())
                .select_from(AccountAdjustment)
                .where(AccountAdjustment.account_id == account_id)
            )
        ).one() == 0


async def test_a_card_processor_reports_the_merchants_answer_to_the_chargeback_on_file(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """What a real processor's adapter does instead of the sandbox: its service account posts
    the merchant's answer, naming the chargeback; a misdirected or early answer is refused."""
    _, opened = await opened_dispute(db, temporal_env.client, settings, amount="40.00")
    processor = await _headers(http, db, "upstream_system")
    url = f"/api/v1/disputes/{opened.case_id}/merchant-response"
    answer = {"stage": "chargeback", "response": "represent", "processor_ref": "X"}

    early = await http.post(url, json=answer, headers=processor)
    assert early.status_code == 409, early.text
    assert "not the chargeback on file" in early.json()["message"]

    agent = await new_staff(db, "disputes_agent")
    evidence_task = await task_of(db, opened.workflow_id, "agent#evidence")
    await tasks.claim_task(db, agent.actor, evidence_task.id)
    await tasks.decide_task(
        db, temporal_env.client, agent.actor, evidence_task.id, outcome="submit", reason=None,
        comment=None,
    )  # fmt: skip

    async def filed() -> str | None:
        async with db.session() as session:
            dispute = await session.get(Dispute, opened.case_id)
            case = await session.get(Case, opened.case_id)
        assert dispute is not None and case is not None
        return dispute.processor_ref if case.stage == "chargeback" else None

    reference = await eventually(filed, what="the chargeback filed")
    wrong_ref = await http.post(url, json={**answer, "processor_ref": "SBX-0"}, headers=processor)
    assert wrong_ref.status_code == 409
    wrong_stage = await http.post(
        url,
        json={"stage": "pre_arbitration", "response": "decline", "processor_ref": reference},
        headers=processor,
    )
    assert wrong_stage.status_code == 409
    assert "not waiting" in wrong_stage.json()["message"]
    support = await _headers(http, db, "support")
    denied = await http.post(url, json={**answer, "processor_ref": reference}, headers=support)
    assert denied.status_code == 403

    accepted = await http.post(url, json={**answer, "processor_ref": reference}, headers=processor)
    assert accepted.status_code == 200, accepted.text

    async def in_review() -> bool:
        async with db.session() as session:
            case = await session.get(Case, opened.case_id)
        return case is not None and case.stage == "representment_review"

    await eventually(in_review, what="representment review")
    again = await http.post(url, json={**answer, "processor_ref": reference}, headers=processor)
    assert again.status_code == 409  # the window it answered is over
