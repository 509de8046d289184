"""AML tiers: nobody decides two tiers of one case, nor approves their own closure — any door."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from core.settings import Settings
from models.audit import AuditEvent
from models.cases import Case, Decision
from models.workflow_io import DecisionInput
from tests.aml_cases import alerted_customer
from tests.helpers import api_headers, eventually, new_staff, task_of, web_login


async def _decide_api(
    http: httpx.AsyncClient, headers: dict[str, str], task_id: object, **body: object
) -> httpx.Response:
    claim = await http.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    assert claim.status_code == 200, claim.text
    return await http.post(f"/api/v1/tasks/{task_id}/decision", json=body, headers=headers)


async def test_one_person_cannot_decide_two_tiers_via_api_ui_or_workflow(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    both = await new_staff(db, "aml_analyst", "aml_investigator")
    headers = await api_headers(http, both.username)
    l1 = await task_of(db, routed.workflow_id, "l1#1")
    decided = await _decide_api(
        http, headers, l1.id, outcome="escalate", comment="Payment to Iran needs an L2 review."
    )
    assert decided.status_code == 200, decided.text

    l2 = await task_of(db, routed.workflow_id, "l2#1")
    claim = await http.post(f"/api/v1/tasks/{l2.id}/claim", headers=headers)
    assert claim.status_code == 403
    assert claim.json()["error"] in ("decided_other_step", "excluded")
    decide = await http.post(
        f"/api/v1/tasks/{l2.id}/decision", json={"outcome": "escalate"}, headers=headers
    )
    assert decide.status_code == 403

    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, both.username)
        page_claim = await web.post(f"/tasks/{l2.id}/claim", data={"csrf_token": csrf})
        assert page_claim.status_code == 403
        page_decide = await web.post(
            f"/tasks/{l2.id}/decision", data={"csrf_token": csrf, "outcome": "escalate"}
        )
        assert page_decide.status_code == 403

    # The workflow's validator refuses it too, when the web checks are bypassed.
    handle = temporal_env.client.get_workflow_handle(routed.workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            "decide",
            DecisionInput(
                task_id=l2.id,
                actor_id=both.actor.user_id,
                actor_name=both.username,
                actor_roles=["aml_investigator"],
                outcome="escalate",
            ),
        )
    assert getattr(refused.value.cause, "type", None) in ("decided_other_step", "excluded")
    async with db.session() as session:
        denied = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.object_id == str(l2.id), AuditEvent.outcome == "denied"
                )
            )
        ).all()
        decisions = (await session.exec(select(Decision).where(Decision.task_id == l2.id))).all()
    assert len(denied) == 4 and decisions == []


async def test_an_investigator_cannot_approve_their_own_closure_and_a_second_one_can(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    analyst = await new_staff(db, "aml_analyst")
    proposer = await new_staff(db, "aml_investigator")
    second = await new_staff(db, "aml_investigator")
    l1 = await task_of(db, routed.workflow_id, "l1#1")
    assert (
        await _decide_api(
            http,
            await api_headers(http, analyst.username),
            l1.id,
            outcome="escalate",
            comment="Payment to Iran needs an L2 review.",
        )
    ).status_code == 200
    l2 = await task_of(db, routed.workflow_id, "l2#1")
    proposer_headers = await api_headers(http, proposer.username)
    closed = await _decide_api(
        http,
        proposer_headers,
        l2.id,
        outcome="close",
        reason="explained_activity",
        comment="Invoice for machinery seen.",
    )
    assert closed.status_code == 200, closed.text

    approval = await task_of(db, routed.workflow_id, "l2-closure#1")
    assert proposer.actor.user_id in approval.excluded_actors
    claim = await http.post(f"/api/v1/tasks/{approval.id}/claim", headers=proposer_headers)
    assert claim.status_code == 403
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, proposer.username)
        page = await web.post(
            f"/tasks/{approval.id}/decision", data={"csrf_token": csrf, "outcome": "approve"}
        )
        assert page.status_code == 403

    approved = await _decide_api(
        http, await api_headers(http, second.username), approval.id, outcome="approve"
    )
    assert approved.status_code == 200, approved.text

    async def closed_case() -> Case | None:
        async with db.session() as session:
            case = await session.get(Case, routed.case_id)
        return case if case and case.status == "closed" else None

    case = await eventually(closed_case, what="case closed")
    assert case.outcome == "closed_explained_activity"
    async with db.session() as session:
        deciders = (
            await session.exec(
                select(Decision.actor_id)
                .where(Decision.case_id == routed.case_id)
                .order_by(col(Decision.decided_at))
            )
        ).all()
    assert deciders == [analyst.actor.user_id, proposer.actor.user_id, second.actor.user_id]


async def test_the_sar_decision_needs_a_rationale(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    for role, key in (("aml_analyst", "l1#1"), ("aml_investigator", "l2#1")):
        staff = await new_staff(db, role)
        task = await task_of(db, routed.workflow_id, key)
        response = await _decide_api(
            http,
            await api_headers(http, staff.username),
            task.id,
            outcome="escalate",
            comment=f"{key}: large SWIFT payment, needs the next tier.",
        )
        assert response.status_code == 200, response.text
    mlro = await new_staff(db, "mlro")
    headers = await api_headers(http, mlro.username)
    task = await task_of(db, routed.workflow_id, "mlro#1")
    refused = await _decide_api(
        http, headers, task.id, outcome="no_sar", reason="insufficient_grounds"
    )
    assert refused.status_code == 422, refused.text
    assert "rationale" in refused.json()["fields"]["comment"]
    accepted = await http.post(
        f"/api/v1/tasks/{task.id}/decision",
        json={
            "outcome": "no_sar",
            "reason": "insufficient_grounds",
            "comment": "Payment matches the customer's declared trade with the supplier.",
        },
        headers=headers,
    )
    assert accepted.status_code == 200, accepted.text
    result = await temporal_env.client.get_workflow_handle(routed.workflow_id).result()
    assert result == "no_sar"
