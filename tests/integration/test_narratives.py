"""What a decision must say holds at every door: the case page's form, the JSON API and the
workflow's own update validator (a decision sent straight to Temporal) refuse the same things,
name the field at fault, and record nothing."""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from core.settings import Settings
from models.aml import AmlCase
from models.cases import Decision, Task
from models.workflow_io import DecisionInput
from tests.aml_cases import Routed, alerted_customer
from tests.helpers import Staff, api_headers, new_staff, task_of, web_login
from tests.onboarding_data import business

RATIONALE = "48,000 EUR to an Iranian trading company with no business relationship on file."
NO_SAR_REASON = "activity_explained"


@pytest.fixture
async def web(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of its own (its own session cookie)."""
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as c:
        yield c


async def _escalate_to_mlro(http: httpx.AsyncClient, db: Database, routed: Routed) -> None:
    for role, key in (("aml_analyst", "l1#1"), ("aml_investigator", "l2#1")):
        staff = await new_staff(db, role)
        headers = await api_headers(http, staff.username)
        task = await task_of(db, routed.workflow_id, key)
        assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)).is_success
        response = await http.post(
            f"/api/v1/tasks/{task.id}/decision",
            json={"outcome": "escalate", "comment": f"{key}: SWIFT to Iran, far above profile."},
            headers=headers,
        )
        assert response.status_code == 200, response.text


async def _claimed(http: httpx.AsyncClient, staff: Staff, task: Task) -> dict[str, str]:
    headers = await api_headers(http, staff.username)
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claim.status_code == 200, claim.text
    return headers


def _update(
    task: Task, staff: Staff, outcome: str, reason: str | None, comment: str | None
) -> DecisionInput:
    return DecisionInput(
        task_id=task.id,
        actor_id=staff.actor.user_id,
        actor_name=staff.username,
        actor_roles=sorted(staff.actor.roles),
        outcome=outcome,
        reason_code=reason,
        comment=comment,
    )


async def _refused_by_workflow(
    temporal_env: WorkflowEnvironment, workflow_id: str, decision: DecisionInput
) -> str:
    """Send the Update straight to the workflow, past every web check; its refusal message."""
    handle = temporal_env.client.get_workflow_handle(workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide", decision, id=f"forged-{uuid.uuid4().hex[:8]}")
    cause = refused.value.cause
    assert getattr(cause, "type", None) == "narrative_invalid", cause
    return str(cause)


async def _decisions_on(db: Database, task_id: uuid.UUID) -> list[Decision]:
    async with db.session() as session:
        return list((await session.exec(select(Decision).where(Decision.task_id == task_id))).all())


async def test_a_sar_with_a_no_sar_reason_or_a_short_rationale_is_refused_at_every_door(
    http: httpx.AsyncClient,
    web: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    await _escalate_to_mlro(http, db, routed)
    mlro = await new_staff(db, "mlro")
    task = await task_of(db, routed.workflow_id, "mlro#1")
    headers = await _claimed(http, mlro, task)
    url = f"/api/v1/tasks/{task.id}/decision"

    # --- the JSON API ----------------------------------------------------------------------
    wrong_reason = await http.post(
        url, json={"outcome": "sar", "reason": NO_SAR_REASON, "comment": RATIONALE}, headers=headers
    )
    assert wrong_reason.status_code == 422, wrong_reason.text
    body = wrong_reason.json()
    assert body["error"] == "narrative_invalid" and list(body["fields"]) == ["reason"]
    assert "not to file a SAR" in body["fields"]["reason"] and "reason:" in body["message"]
    short = await http.post(
        url, json={"outcome": "sar", "reason": "structuring", "comment": "short"}, headers=headers
    )
    assert short.status_code == 422, short.text
    assert list(short.json()["fields"]) == ["comment"]
    assert "rationale needs at least 30 characters" in short.json()["fields"]["comment"]
    assert "(5 given)" in short.json()["fields"]["comment"]

    # --- the case page's form (a plain post, no JavaScript) --------------------------------
    csrf = await web_login(web, mlro.username)
    page = await web.post(
        f"/tasks/{task.id}/decision",
        data={"csrf_token": csrf, "outcome": "sar", "reason": NO_SAR_REASON, "comment": RATIONALE},
    )
    assert page.status_code == 422
    text = html.unescape(page.text)
    assert f'id="decision-{task.id}-reason-error"' in text and "not to file a SAR" in text
    # The form comes back with what was typed.
    assert f"{RATIONALE}</textarea>" in text
    assert 'value="sar" required checked' in text
    assert f'<option value="{NO_SAR_REASON}" selected>' in text
    page = await web.post(
        f"/tasks/{task.id}/decision",
        data={"csrf_token": csrf, "outcome": "sar", "reason": "structuring", "comment": "short"},
    )
    assert page.status_code == 422
    assert f'id="decision-{task.id}-comment-error"' in page.text
    assert "rationale needs at least 30 characters" in page.text
    # Through HTMX: the form alone, which swaps itself.
    fragment = await web.post(
        f"/tasks/{task.id}/decision",
        data={"csrf_token": csrf, "outcome": "no_sar", "reason": "structuring", "comment": "x"},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 422
    assert f'id="decision-{task.id}"' in fragment.text and "<html" not in fragment.text
    assert 'hx-swap="outerHTML"' in fragment.text
    assert f'id="decision-{task.id}-reason-error"' in fragment.text
    assert f'id="decision-{task.id}-comment-error"' in fragment.text

    # --- straight to the workflow's validator ----------------------------------------------
    message = await _refused_by_workflow(
        temporal_env, routed.workflow_id, _update(task, mlro, "sar", NO_SAR_REASON, RATIONALE)
    )
    assert "reason:" in message and "not to file a SAR" in message
    message = await _refused_by_workflow(
        temporal_env, routed.workflow_id, _update(task, mlro, "sar", "structuring", "short")
    )
    assert "comment:" in message and "rationale" in message

    # Nothing was recorded by any of the refusals.
    assert await _decisions_on(db, task.id) == []
    async with db.session() as session:
        aml = await session.get(AmlCase, routed.case_id)
    assert aml is not None and aml.sar_decision is None and aml.closed_at is None

    # The same MLRO, with a SAR reason and a rationale, files the SAR.
    filed = await http.post(
        url, json={"outcome": "sar", "reason": "structuring", "comment": RATIONALE}, headers=headers
    )
    assert filed.status_code == 200, filed.text
    result = await temporal_env.client.get_workflow_handle(routed.workflow_id).result()
    assert result == "sar_filed"


async def test_an_escalation_without_a_comment_is_refused_at_every_door(
    http: httpx.AsyncClient,
    web: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    analyst = await new_staff(db, "aml_analyst")
    task = await task_of(db, routed.workflow_id, "l1#1")
    headers = await _claimed(http, analyst, task)
    url = f"/api/v1/tasks/{task.id}/decision"

    bare = await http.post(url, json={"outcome": "escalate"}, headers=headers)
    assert bare.status_code == 422, bare.text
    assert "comment needs at least 20 characters to escalate" in bare.json()["fields"]["comment"]
    terse = await http.post(
        url, json={"outcome": "escalate", "comment": "  see  "}, headers=headers
    )
    assert terse.status_code == 422 and "(3 given)" in terse.json()["fields"]["comment"]

    csrf = await web_login(web, analyst.username)
    page = await web.post(
        f"/tasks/{task.id}/decision", data={"csrf_token": csrf, "outcome": "escalate"}
    )
    assert page.status_code == 422
    assert f'id="decision-{task.id}-comment-error"' in page.text

    await _refused_by_workflow(
        temporal_env, routed.workflow_id, _update(task, analyst, "escalate", None, None)
    )
    assert await _decisions_on(db, task.id) == []

    escalated = await http.post(
        url,
        json={"outcome": "escalate", "comment": "Outgoing SWIFT to Iran, ten times the usual."},
        headers=headers,
    )
    assert escalated.status_code == 200, escalated.text
    assert (await task_of(db, routed.workflow_id, "l2#1")).candidate_role == "aml_investigator"


@pytest.mark.usefixtures("onboarding_ready")
async def test_approving_a_high_risk_kyb_application_needs_a_comment_at_every_door(
    http: httpx.AsyncClient,
    web: httpx.AsyncClient,
    db: Database,
    temporal_env: WorkflowEnvironment,
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    submitted = await http.post(
        "/api/v1/applications",
        json=business(listed_owner=True),
        headers=await api_headers(http, service.username),
    )
    assert submitted.status_code == 202, submitted.text
    workflow_id = submitted.json()["workflow_id"]
    task = await task_of(db, workflow_id, "review-analyst#1")
    analyst = await new_staff(db, "kyc_analyst")
    headers = await _claimed(http, analyst, task)
    url = f"/api/v1/tasks/{task.id}/decision"

    short = await http.post(url, json={"outcome": "approve", "comment": "ok"}, headers=headers)
    assert short.status_code == 422, short.text
    assert "on a high-risk application" in short.json()["fields"]["comment"]

    csrf = await web_login(web, analyst.username)
    page = await web.post(
        f"/tasks/{task.id}/decision",
        data={"csrf_token": csrf, "outcome": "approve", "comment": "fine"},
    )
    assert page.status_code == 422
    assert f'id="decision-{task.id}-comment-error"' in page.text and "fine</textarea>" in page.text

    await _refused_by_workflow(
        temporal_env, workflow_id, _update(task, analyst, "approve", None, "ok")
    )
    assert await _decisions_on(db, task.id) == []

    approved = await http.post(
        url,
        json={"outcome": "approve", "comment": "Owner's date of birth differs from the listing."},
        headers=headers,
    )
    assert approved.status_code == 200, approved.text
    senior = await task_of(db, workflow_id, "review-senior#1")
    assert analyst.actor.user_id in senior.excluded_actors


async def test_the_form_offers_each_outcomes_reasons_apart(
    http: httpx.AsyncClient,
    web: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    await _escalate_to_mlro(http, db, routed)
    mlro = await new_staff(db, "mlro")
    task = await task_of(db, routed.workflow_id, "mlro#1")
    await _claimed(http, mlro, task)
    await web_login(web, mlro.username)
    page = (await web.get(f"/cases/{routed.case_id}")).text
    form = page[page.index(f'id="decision-{task.id}"') :]
    sar = form[form.index('data-outcome="sar"') : form.index("</optgroup>")]
    no_sar = form[form.index('data-outcome="no_sar"') :]
    no_sar = no_sar[: no_sar.index("</optgroup>")]
    assert 'value="structuring"' in sar and NO_SAR_REASON not in sar
    assert f'value="{NO_SAR_REASON}"' in no_sar and "structuring" not in no_sar
    assert "at least 30 characters to file a SAR" in form
    assert "decision-form.js" in page
