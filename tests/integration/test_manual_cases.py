"""Manual cases through their doors: support opens a complaint, compliance an investigation,
each on a customer, run by the generic case workflow (session worker, Temporal dev server);
the JSON API, the form page, refusals, need-to-know and the opener kept off its steps."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from casework import cases as case_service
from casework import manual as manual_service
from casework import tasks as task_service
from casework.inbox import inbox
from core.db import Database
from core.settings import Settings
from models.case_follow_up import ManualCase
from models.cases import Case, Task
from shared.errors import Forbidden, Invalid
from tests.aml_data import new_customers
from tests.helpers import Staff, api_headers, audit_count, eventually, new_staff, web_login

pytestmark = pytest.mark.usefixtures("worker")

DESCRIPTION = "The customer says the card fee was charged twice in November."


async def _work_task(db: Database, case_id: uuid.UUID) -> Task:
    async def probe() -> Task | None:
        async with db.session() as session:
            return (
                await session.exec(
                    select(Task).where(Task.case_id == case_id, Task.task_key == "work#1")
                )
            ).first()

    found = await eventually(probe, what="the manual case's work step")
    assert found is not None
    return found


async def _in_inbox(db: Database, who: Staff, reference: str) -> bool:
    page = await inbox(db, who.actor, q=reference)
    return [t.case_reference for t in page.items] == [reference]


async def test_support_opens_a_complaint_that_lands_in_the_disputes_agents_inbox(
    http: httpx.AsyncClient, db: Database
) -> None:
    [customer] = await new_customers(db, 1)
    support = await new_staff(db, "support")
    agent = await new_staff(db, "disputes_agent")
    response = await http.post(
        "/api/v1/cases",
        json={
            "case_type": "complaint",
            "customer_id": str(customer.id),
            "title": "Card fee charged twice",
            "reason": "fees_charges",
            "description": DESCRIPTION,
        },
        headers=await api_headers(http, support.username),
    )
    assert response.status_code == 201, response.text
    opened = response.json()
    assert opened["reference"].startswith("CMP-") and opened["case_type"] == "complaint"
    case_id = uuid.UUID(opened["case_id"])
    task = await _work_task(db, case_id)
    assert task.candidate_role == "disputes_agent" and task.kind == "complaint_work"
    assert await eventually(lambda: _in_inbox(db, agent, opened["reference"]), what="inbox")
    async with db.session() as session:
        case = await session.get(Case, case_id)
        kept = await session.get(ManualCase, case_id)
    assert case is not None and case.customer_id == customer.id
    assert case.opened_by == support.actor.user_id
    assert kept is not None and kept.description == DESCRIPTION
    assert await audit_count(db, "case.opened", case_id) == 1
    # Support may read the complaint it opened, not work it.
    page = await http.get(
        f"/api/v1/cases/{case_id}/follow-up", headers=await api_headers(http, support.username)
    )
    assert page.status_code == 200


async def test_compliance_opens_an_investigation_through_the_form_and_its_words_are_compliance_only(
    http: httpx.AsyncClient, db: Database
) -> None:
    [customer] = await new_customers(db, 1)
    analyst = await new_staff(db, "aml_analyst")
    engineer = await new_staff(db, "engineer")
    csrf = await web_login(http, analyst.username)
    found = await http.get(
        "/manual-cases/new", params={"type": "investigation", "q": customer.reference}
    )
    assert found.status_code == 200 and customer.reference in found.text
    chosen = await http.get(
        "/manual-cases/new", params={"type": "investigation", "customer": str(customer.id)}
    )
    assert 'id="chosen-customer"' in chosen.text and "Adverse media" in chosen.text

    refused = await http.post(
        "/manual-cases/new",
        data={
            "csrf_token": csrf,
            "case_type": "investigation",
            "customer_id": str(customer.id),
            "title": "No",
            "reason": "adverse_media",
            "description": "short",
        },
    )
    assert refused.status_code == 422
    assert "5 to 200 characters" in refused.text and "20 to 2000 characters" in refused.text
    done = await http.post(
        "/manual-cases/new",
        data={
            "csrf_token": csrf,
            "case_type": "investigation",
            "customer_id": str(customer.id),
            "title": "Press reports on the customer's company",
            "reason": "adverse_media",
            "description": "Two newspapers link the director to a fraud inquiry in 2026.",
        },
    )
    assert done.status_code == 303, done.text
    page = (await http.get(done.headers["location"])).text
    assert "Investigation opened by hand" in page and "fraud inquiry" in page
    assert customer.reference in page

    case_id = uuid.UUID(done.headers["location"].split("/cases/")[1].split("?")[0])
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    seen = await manual_service.manual_case_view(db, engineer.actor, case)
    assert seen is not None and seen.description is None
    task = await _work_task(db, case_id)
    assert task.candidate_role == "aml_investigator"


async def test_who_may_open_which_and_bad_input_opens_nothing(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    [customer] = await new_customers(db, 1)
    support = await new_staff(db, "support")
    auditor = await new_staff(db, "auditor")
    analyst = await new_staff(db, "aml_analyst")

    async def open_as(who: Staff, case_type: str, **change: str) -> object:
        values = {
            "customer_id": str(customer.id),
            "title": "Something to look into",
            "reason_code": "other",
            "description": DESCRIPTION,
            **change,
        }
        return await manual_service.open_manual_case(
            db,
            temporal_env.client,
            settings.task_queue,
            who.actor,
            case_type=case_type,
            **values,
        )

    with pytest.raises(Forbidden):
        await open_as(support, "investigation")  # tipping-off: support never opens one
    with pytest.raises(Forbidden):
        await open_as(auditor, "complaint")
    with pytest.raises(Invalid) as refused:
        await open_as(analyst, "investigation", customer_id=str(uuid.uuid4()))
    assert "customer_id" in refused.value.fields
    with pytest.raises(Invalid) as refused:
        await open_as(analyst, "investigation", reason_code="fees_charges")
    assert "reason" in refused.value.fields
    with pytest.raises(Invalid) as refused:
        await open_as(analyst, "audit")
    assert "case_type" in refused.value.fields
    async with db.session() as session:
        opened = (await session.exec(select(Case).where(Case.customer_id == customer.id))).all()
    assert opened == []


async def test_the_opener_never_works_the_case_they_opened(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    [customer] = await new_customers(db, 1)
    investigator = await new_staff(db, "aml_investigator")
    colleague = await new_staff(db, "aml_investigator")
    opened = await manual_service.open_manual_case(
        db,
        temporal_env.client,
        settings.task_queue,
        investigator.actor,
        case_type="investigation",
        customer_id=customer.id,
        title="Cash deposits split below the threshold",
        reason_code="unusual_behaviour",
        description="Seven cash deposits of 9,500 EUR within two weeks at three branches.",
    )
    task = await _work_task(db, opened.case_id)
    assert not await _in_inbox(db, investigator, opened.reference)
    with pytest.raises(Forbidden):
        await task_service.claim_task(db, investigator.actor, task.id)
    assert await eventually(lambda: _in_inbox(db, colleague, opened.reference), what="inbox")
    claimed = await task_service.claim_task(db, colleague.actor, task.id)
    assert claimed.assignee == colleague.username


async def test_an_investigations_words_are_aml_narrative_engineers_do_not_read(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    [customer] = await new_customers(db, 1)
    analyst = await new_staff(db, "aml_analyst")
    investigator = await new_staff(db, "aml_investigator")
    engineer = await new_staff(db, "engineer")
    mlro = await new_staff(db, "mlro")
    opened = await manual_service.open_manual_case(
        db,
        temporal_env.client,
        settings.task_queue,
        analyst.actor,
        case_type="investigation",
        customer_id=customer.id,
        title="Payments to a shell company",
        reason_code="internal_referral",
        description="Payments team noticed monthly transfers to a newly formed company.",
    )
    task = await _work_task(db, opened.case_id)
    await task_service.claim_task(db, investigator.actor, task.id)
    comment = "Company formed last month, no website, director also a customer."
    await task_service.decide_task(
        db,
        temporal_env.client,
        investigator.actor,
        task.id,
        outcome="escalate",
        reason=None,
        comment=comment,
    )
    seen_by_mlro = await case_service.get_case(db, mlro.actor, opened.case_id)
    seen_by_engineer = await case_service.get_case(db, engineer.actor, opened.case_id)
    assert seen_by_mlro is not None and seen_by_engineer is not None
    assert [d.decision.comment for d in seen_by_mlro.decisions] == [comment]
    assert [d.decision.comment for d in seen_by_engineer.decisions] == [None]
    assert [d.decision.outcome for d in seen_by_engineer.decisions] == ["escalate"]
