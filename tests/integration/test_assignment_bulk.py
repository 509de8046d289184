"""Assignment by team leads and bulk actions on AML tasks: what is refused, at every door,
and what a bulk close leaves behind (each item's own result, the quality reviews)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from casework.quality_rules import QA_KIND, sample, sample_size
from core.codec import build_data_converter
from core.db import Database
from core.settings import Settings
from models.audit import AuditEvent
from models.cases import Case, Task
from tests.aml_cases import alerted_customer
from tests.codec_keys import codec_ring
from tests.helpers import api_headers, eventually, new_staff, task_of, web_login
from tests.onboarding_data import listed_individual
from worker import WORKFLOWS

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


async def _l1_tasks(
    db: Database, env: WorkflowEnvironment, settings: Settings, n: int
) -> list[Task]:
    """The open L1 tasks of `n` new AML cases (one alerted customer each)."""
    routed = []
    for _ in range(n):  # one at a time: each is a customer of its own
        routed.append(await alerted_customer(db, env.client, settings.task_queue))
    return [await task_of(db, r.workflow_id, "l1#1") for r in routed]


async def _audit(db: Database, action: str, object_id: object) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == action, AuditEvent.object_id == str(object_id)
                    )
                )
            ).all()
        )


async def test_lead_assigns_an_l1_task_to_an_analyst_who_is_notified_and_can_decide_it(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    [l1] = await _l1_tasks(db, temporal_env, settings, 1)
    lead = await new_staff(db, "aml_lead", prefix="lead")
    analyst = await new_staff(db, "aml_analyst")
    other = await new_staff(db, "aml_analyst")
    lead_headers = await api_headers(http, lead.username)

    listed = await http.get(f"/api/v1/tasks/{l1.id}/assignees", headers=lead_headers)
    assert listed.status_code == 200, listed.text
    eligible = {p["username"] for p in listed.json()["people"] if p["eligible"]}
    assert {analyst.username, other.username} <= eligible

    given = await http.post(
        f"/api/v1/tasks/{l1.id}/assign", json={"assignee": analyst.username}, headers=lead_headers
    )
    assert given.status_code == 200, given.text
    assert (given.json()["status"], given.json()["assignee"]) == ("claimed", analyst.username)
    [event] = await _audit(db, "task.assigned", l1.id)
    assert event.details["assignee_id"] == str(analyst.actor.user_id)

    analyst_headers = await api_headers(http, analyst.username)
    notes = (await http.get("/api/v1/notifications", headers=analyst_headers)).json()
    assert any(n["subject"].startswith("Assigned to you") for n in notes["items"])

    # Reassigned to someone else: the first holder is told, the second holds it.
    again = await http.post(
        f"/api/v1/tasks/{l1.id}/assign", json={"assignee": other.username}, headers=lead_headers
    )
    assert again.status_code == 200, again.text
    notes = (await http.get("/api/v1/notifications", headers=analyst_headers)).json()
    assert any(n["subject"].startswith("Reassigned") for n in notes["items"])
    other_headers = await api_headers(http, other.username)
    decided = await http.post(
        f"/api/v1/tasks/{l1.id}/decision",
        json={"outcome": "close", "reason": "false_positive"},
        headers=other_headers,
    )
    assert decided.status_code == 200, decided.text


async def test_assignment_is_refused_to_non_leads_other_teams_and_people_without_the_role(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    [l1] = await _l1_tasks(db, temporal_env, settings, 1)
    analyst = await new_staff(db, "aml_analyst")
    investigator = await new_staff(db, "aml_investigator")
    kyc_lead = await new_staff(db, "kyc_lead", prefix="lead")
    aml_lead = await new_staff(db, "aml_lead", prefix="lead")

    # Not a lead: the route's permission check refuses, audited.
    as_analyst = await api_headers(http, analyst.username)
    refused = await http.post(
        f"/api/v1/tasks/{l1.id}/assign", json={"assignee": analyst.username}, headers=as_analyst
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"

    # A lead, of another team.
    as_kyc_lead = await api_headers(http, kyc_lead.username)
    refused = await http.post(
        f"/api/v1/tasks/{l1.id}/assign", json={"assignee": analyst.username}, headers=as_kyc_lead
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "not_team_lead"

    as_lead = await api_headers(http, aml_lead.username)
    # The assignee lacks the task's role (an L2 investigator for an L1 task).
    refused = await http.post(
        f"/api/v1/tasks/{l1.id}/assign", json={"assignee": investigator.username}, headers=as_lead
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "assignee_not_eligible"
    assert "does not hold the aml_analyst role" in refused.json()["message"]
    # Nobody of that name.
    refused = await http.post(
        f"/api/v1/tasks/{l1.id}/assign", json={"assignee": "nobody.here"}, headers=as_lead
    )
    assert refused.status_code == 422
    # Each refusal is in the audit trail; the task is untouched.
    denied = await _audit(db, "task.assign", l1.id)
    assert len([e for e in denied if e.outcome != "success"]) >= 4
    assert (await task_of(db, l1.workflow_id, "l1#1")).status == "open"

    # The web form says why, on the picker page.
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, aml_lead.username)
        page = await web.get(f"/tasks/{l1.id}/assign")
        assert page.status_code == 200
        assert investigator.username not in page.text.split('id="not-eligible"')[0]
        posted = await web.post(
            f"/tasks/{l1.id}/assign", data={"csrf_token": csrf, "assignee": investigator.username}
        )
        assert posted.status_code == 403
        assert "does not hold the aml_analyst role" in posted.text


@pytest.mark.usefixtures("onboarding_ready")
async def test_kyc_lead_cannot_assign_the_senior_step_to_the_analyst_who_decided_the_first(
    http: httpx.AsyncClient, db: Database
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    accepted = (
        await http.post(
            "/api/v1/applications",
            json=listed_individual(),
            headers=await api_headers(http, service.username),
        )
    ).json()
    wid = accepted["workflow_id"]
    analyst_task = await task_of(db, wid, "review-analyst#1")
    both = await new_staff(db, "kyc_analyst", "kyc_senior")
    senior = await new_staff(db, "kyc_senior")
    both_headers = await api_headers(http, both.username)
    assert (
        await http.post(f"/api/v1/tasks/{analyst_task.id}/claim", headers=both_headers)
    ).status_code == 200
    decided = await http.post(
        f"/api/v1/tasks/{analyst_task.id}/decision",
        json={"outcome": "approve", "comment": "Listed person is older; not a match."},
        headers=both_headers,
    )
    assert decided.status_code == 200, decided.text
    senior_task = await task_of(db, wid, "review-senior#1")

    lead = await new_staff(db, "kyc_lead", prefix="lead")
    lead_headers = await api_headers(http, lead.username)
    people = (
        await http.get(f"/api/v1/tasks/{senior_task.id}/assignees", headers=lead_headers)
    ).json()["people"]
    mine = next(p for p in people if p["username"] == both.username)
    assert not mine["eligible"]
    assert "another step" in mine["why_not"] or "excluded" in mine["why_not"]
    assert next(p for p in people if p["username"] == senior.username)["eligible"]

    refused = await http.post(
        f"/api/v1/tasks/{senior_task.id}/assign",
        json={"assignee": both.username},
        headers=lead_headers,
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "assignee_not_eligible"
    assert "segregation of duties" in refused.json()["message"]
    assert (await task_of(db, wid, "review-senior#1")).assignee_id is None


def test_sampling_is_deterministic_and_rounds_the_share_up() -> None:
    ids = [uuid.uuid4() for _ in range(20)]
    assert sample_size(20, 10) == 2
    assert sample_size(5, 10) == 1
    assert sample_size(0, 10) == 0
    assert sample_size(20, 0) == 0
    picked = sample(ids, 10)
    assert len(picked) == 2
    assert sample(list(reversed(ids)), 10) == picked  # order of closing does not matter


async def test_bulk_close_of_20_l1_cases_opens_2_quality_reviews_for_a_second_analyst(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    tasks = await _l1_tasks(db, temporal_env, settings, 20)
    closer = await new_staff(db, "aml_analyst")
    reviewer = await new_staff(db, "aml_analyst")
    headers = await api_headers(http, closer.username)
    ran = await http.post(
        "/api/v1/aml/bulk",
        json={
            "action": "close",
            "task_ids": [str(t.id) for t in tasks],
            "reason": "false_positive",
            "comment": "Known payroll pattern.",
        },
        headers=headers,
    )
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert (body["done"], body["refused"]) == (20, 0), body["items"]
    assert len(body["quality_reviews"]) == 2
    expected = set(sample([t.case_id for t in tasks], 10))
    assert {uuid.UUID(q["reviewed_case_id"]) for q in body["quality_reviews"]} == expected

    async def closed() -> bool | None:
        async with db.session() as session:
            rows = (
                await session.exec(
                    select(Case.status).where(col(Case.id).in_([t.case_id for t in tasks]))
                )
            ).all()
        return True if set(rows) == {"closed"} else None

    await eventually(closed, what="the 20 cases closed by their workflows")

    async def qa_tasks() -> list[Task]:
        async with db.session() as session:
            rows = list(
                (
                    await session.exec(
                        select(Task)
                        .where(Task.kind == QA_KIND)
                        .where(
                            col(Task.case_id).in_(
                                [uuid.UUID(q["case_id"]) for q in body["quality_reviews"]]
                            )
                        )
                    )
                ).all()
            )
        return rows if len(rows) == 2 else []

    reviews = await eventually(qa_tasks, what="two quality-review tasks")
    assert all(closer.actor.user_id in t.excluded_actors for t in reviews)
    # Not the closer...
    refused = await http.post(f"/api/v1/tasks/{reviews[0].id}/claim", headers=headers)
    assert refused.status_code == 403
    # ... a second analyst agrees (or disagrees, with a reason and why).
    reviewer_headers = await api_headers(http, reviewer.username)
    assert (
        await http.post(f"/api/v1/tasks/{reviews[0].id}/claim", headers=reviewer_headers)
    ).status_code == 200
    short = await http.post(
        f"/api/v1/tasks/{reviews[0].id}/decision",
        json={"outcome": "disagree", "reason": "should_escalate"},
        headers=reviewer_headers,
    )
    assert short.status_code == 422
    agreed = await http.post(
        f"/api/v1/tasks/{reviews[0].id}/decision",
        json={"outcome": "agree"},
        headers=reviewer_headers,
    )
    assert agreed.status_code == 200, agreed.text

    # The other review disagrees, with a reason and why: the closer is told.
    assert (
        await http.post(f"/api/v1/tasks/{reviews[1].id}/claim", headers=reviewer_headers)
    ).status_code == 200
    disagreed = await http.post(
        f"/api/v1/tasks/{reviews[1].id}/decision",
        json={
            "outcome": "disagree",
            "reason": "should_escalate",
            "comment": "Two payments to Iran in a week need an L2 look.",
        },
        headers=reviewer_headers,
    )
    assert disagreed.status_code == 200, disagreed.text

    def review_closed(review: Task) -> Callable[[], Awaitable[str | None]]:
        async def probe() -> str | None:
            async with db.session() as session:
                case = await session.get(Case, review.case_id)
            return case.outcome if case and case.status == "closed" else None

        return probe

    assert await eventually(review_closed(reviews[0]), what="review closed") == "agree"
    assert await eventually(review_closed(reviews[1]), what="review closed") == "disagree"
    notes = (await http.get("/api/v1/notifications", headers=headers)).json()
    assert any("disagrees" in n["subject"] for n in notes["items"])
    assert len(await _audit(db, "task.decided", tasks[0].id)) == 1

    # Both histories replay on the current code (and are recorded on purpose only).
    replayer = Replayer(workflows=WORKFLOWS, data_converter=build_data_converter(codec_ring()))
    for review, outcome in zip(reviews, ("agreed", "disagreed"), strict=True):
        handle = temporal_env.client.get_workflow_handle(review.workflow_id)
        await handle.result()
        history = await handle.fetch_history()
        await replayer.replay_workflow(history)
        if os.environ.get("RECORD_HISTORIES") == "1":
            name = f"sealed-quality-review-{outcome}__{review.workflow_id}.json"
            (HISTORIES / name).write_text(history.to_json())


async def test_bulk_reports_each_refused_item_and_does_the_others(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    good, held, escalated = await _l1_tasks(db, temporal_env, settings, 3)
    me = await new_staff(db, "aml_analyst")
    someone = await new_staff(db, "aml_analyst")
    investigator = await new_staff(db, "aml_investigator")
    some_headers = await api_headers(http, someone.username)
    assert (await http.post(f"/api/v1/tasks/{held.id}/claim", headers=some_headers)).is_success
    # The third case went to L2: its L2 task is not an L1 task.
    assert (await http.post(f"/api/v1/tasks/{escalated.id}/claim", headers=some_headers)).is_success
    assert (
        await http.post(
            f"/api/v1/tasks/{escalated.id}/decision",
            json={"outcome": "escalate", "comment": "Payment to Iran needs an L2 review."},
            headers=some_headers,
        )
    ).is_success
    l2 = await task_of(db, escalated.workflow_id, "l2#1")
    inv_headers = await api_headers(http, investigator.username)
    assert (await http.post(f"/api/v1/tasks/{l2.id}/claim", headers=inv_headers)).is_success

    headers = await api_headers(http, me.username)
    missing = uuid.uuid4()
    ran = await http.post(
        "/api/v1/aml/bulk",
        json={
            "action": "close",
            "task_ids": [str(good.id), str(held.id), str(l2.id), str(missing)],
            "reason": "duplicate",
        },
        headers=headers,
    )
    assert ran.status_code == 200, ran.text
    items = {i["task_id"]: i for i in ran.json()["items"]}
    assert items[str(good.id)]["done"]
    assert items[str(held.id)]["code"] == "already_claimed"
    assert "already claimed" in items[str(held.id)]["message"]
    assert items[str(l2.id)]["code"] == "not_l1"
    assert items[str(missing)]["code"] == "not_found"
    assert (ran.json()["done"], ran.json()["refused"]) == (1, 3)
    # The refusals changed nothing: the held task is still someone's.
    after = await task_of(db, held.workflow_id, "l1#1")
    assert (after.status, after.assignee_id) == ("claimed", someone.actor.user_id)

    # Release in bulk: only what I hold is released.
    [mine_task] = await _l1_tasks(db, temporal_env, settings, 1)
    assert (await http.post(f"/api/v1/tasks/{mine_task.id}/claim", headers=headers)).is_success
    released = await http.post(
        "/api/v1/aml/bulk",
        json={"action": "release", "task_ids": [str(mine_task.id), str(held.id)]},
        headers=headers,
    )
    results = {i["task_id"]: i for i in released.json()["items"]}
    assert results[str(mine_task.id)]["done"]
    assert results[str(held.id)]["code"] == "not_claimed"

    # The request as a whole: a close without a reason, and a role without the permission.
    invalid = await http.post(
        "/api/v1/aml/bulk",
        json={"action": "close", "task_ids": [str(mine_task.id)]},
        headers=headers,
    )
    assert invalid.status_code == 422
    assert "reason" in invalid.json()["fields"]
    kyc = await new_staff(db, "kyc_analyst")
    forbidden = await http.post(
        "/api/v1/aml/bulk",
        json={"action": "release", "task_ids": [str(mine_task.id)]},
        headers=await api_headers(http, kyc.username),
    )
    assert forbidden.status_code == 403
    # A bulk assign by an analyst: every item refused by the assignment door.
    assigned = await http.post(
        "/api/v1/aml/bulk",
        json={"action": "assign", "task_ids": [str(mine_task.id)], "assignee": me.username},
        headers=headers,
    )
    assert assigned.json()["items"][0]["code"] == "permission_denied"


async def test_bulk_close_web_form_streams_each_result(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    worker: None,
) -> None:
    tasks = await _l1_tasks(db, temporal_env, settings, 2)
    me = await new_staff(db, "aml_analyst")
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, me.username)
        page = await web.get("/aml/bulk?l1=true")
        assert page.status_code == 200
        assert all(str(t.id) in page.text for t in tasks)
        refused = await web.post(
            "/aml/bulk",
            data={"csrf_token": csrf, "action": "close", "task_id": [str(t.id) for t in tasks]},
        )
        assert refused.status_code == 422
        assert "closing reason" in refused.text
        ran = await web.post(
            "/aml/bulk",
            data={
                "csrf_token": csrf,
                "action": "close",
                "reason": "false_positive",
                "task_id": [str(t.id) for t in tasks],
            },
        )
        assert ran.status_code == 200
        assert ran.text.count('class="bulk-item done"') == 2
        assert 'id="bulk-summary"' in ran.text
