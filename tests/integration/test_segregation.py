"""Four-eyes and segregation of duties through every door: web form, JSON API, workflow."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlmodel import col, func, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from models.audit import AuditEvent
from models.cases import Decision, Task
from models.tariffs import Fee, FeeVersion
from models.workflow_io import DecisionInput
from tests.helpers import (
    api_headers,
    new_plan,
    new_staff,
    propose_via_api,
    task_of,
    web_login,
)


async def _events(db: Database, object_id: uuid.UUID, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.object_id == str(object_id), AuditEvent.action == action)
                    .order_by(col(AuditEvent.id))
                )
            ).all()
        )


async def test_maker_holding_the_checker_role_cannot_approve_through_api_or_ui(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db)
    dual = await new_staff(db, "product_manager", "ops_manager")
    headers = await api_headers(http, dual.username)
    change = await propose_via_api(http, headers, "fee", plan.fee_id, fixed_amount="2.20")
    task = await task_of(db, change["workflow_id"])

    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claim.status_code == 403
    assert claim.json()["error"] == "maker_cannot_decide"
    decide = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=headers
    )
    assert decide.status_code == 403
    assert decide.json()["error"] == "maker_cannot_decide"

    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, dual.username)
        page_claim = await web.post(f"/tasks/{task.id}/claim", data={"csrf_token": csrf})
        assert page_claim.status_code == 403
        assert "four-eyes" in page_claim.text
        page_decide = await web.post(
            f"/tasks/{task.id}/decision", data={"csrf_token": csrf, "outcome": "approve"}
        )
        assert page_decide.status_code == 403

    denied = [
        e for action in ("task.claim", "task.decide") for e in await _events(db, task.id, action)
    ]
    assert len(denied) == 4
    assert all(e.outcome == "denied" and e.actor == dual.username for e in denied)
    assert all("maker_cannot_decide" in (e.reason or "") for e in denied)
    async with db.session() as session:
        assert (await session.get(Task, task.id)).status == "open"  # type: ignore[union-attr]


async def test_workflow_validator_refuses_the_maker_even_when_the_web_checks_are_bypassed(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment
) -> None:
    plan = await new_plan(db)
    dual = await new_staff(db, "product_manager", "ops_manager", "admin")
    change = await propose_via_api(
        http, await api_headers(http, dual.username), "fee", plan.fee_id, percent="0.9"
    )
    task = await task_of(db, change["workflow_id"])
    handle = temporal_env.client.get_workflow_handle(change["workflow_id"])
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            "decide",
            DecisionInput(
                task_id=task.id,
                actor_id=dual.actor.user_id,
                actor_name=dual.username,
                actor_roles=["ops_manager", "admin"],
                outcome="approve",
            ),
        )
    assert getattr(refused.value.cause, "type", None) == "maker_cannot_decide"
    async with db.session() as session:
        count = (
            await session.exec(
                select(func.count()).select_from(Decision).where(Decision.task_id == task.id)
            )
        ).one()
    assert count == 0


async def test_twenty_concurrent_claims_have_exactly_one_winner(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "fee", plan.fee_id, fixed_amount="2.30"
    )
    task = await task_of(db, change["workflow_id"])
    checkers = [await new_staff(db, "ops_manager") for _ in range(20)]
    headers = [await api_headers(http, c.username) for c in checkers]

    responses = await asyncio.gather(
        *(http.post(f"/api/v1/tasks/{task.id}/claim", headers=h) for h in headers)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 19
    losers = [r.json() for r in responses if r.status_code == 409]
    assert all(body["error"] == "already_claimed" for body in losers)
    assert all("already claimed" in body["message"] for body in losers)

    events = await _events(db, task.id, "task.claimed") + await _events(db, task.id, "task.claim")
    assert sorted(e.outcome for e in events) == ["denied"] * 19 + ["success"]
    winner = next(r for r in responses if r.status_code == 200).json()
    async with db.session() as session:
        row = await session.get(Task, task.id)
    assert (
        row is not None
        and row.status == "claimed"
        and str(row.assignee_id) == winner["assignee_id"]
    )


async def test_the_same_decision_twice_changes_state_once(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "fee", plan.fee_id, fixed_amount="2.40"
    )
    task = await task_of(db, change["workflow_id"])
    headers = await api_headers(http, checker.username)
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)).status_code == 200

    body = {"outcome": "approve", "comment": "ok"}
    at_once = await asyncio.gather(
        *(
            http.post(f"/api/v1/tasks/{task.id}/decision", json=body, headers=headers)
            for _ in range(3)
        )
    )
    assert 200 in [r.status_code for r in at_once]
    assert all(r.status_code in (200, 409) for r in at_once)
    again = await http.post(f"/api/v1/tasks/{task.id}/decision", json=body, headers=headers)
    assert again.status_code == 409

    async with db.session() as session:
        decisions = (await session.exec(select(Decision).where(Decision.task_id == task.id))).all()
        versions = (
            await session.exec(select(FeeVersion).where(FeeVersion.fee_id == plan.fee_id))
        ).all()
        fee = await session.get(Fee, plan.fee_id)
    assert len(decisions) == 1
    assert sorted(v.version for v in versions) == [1, 2]
    assert fee is not None and fee.current_version == 2
    assert len(await _events(db, task.id, "task.decided")) == 1


async def test_limit_raise_over_half_needs_ops_and_risk_approvers_who_are_different_people(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db, limit="1000.00")
    maker = await new_staff(db, "product_manager")
    both = await new_staff(db, "ops_manager", "risk_manager")
    risk = await new_staff(db, "risk_manager")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "limit", plan.limit_id, amount="1600.00"
    )
    assert change["tier"] == "elevated"
    ops_task = await task_of(db, change["workflow_id"], "approve")
    risk_task = await task_of(db, change["workflow_id"], "risk_approve")
    assert risk_task.candidate_role == "risk_manager"

    both_h = await api_headers(http, both.username)
    assert (
        await http.post(f"/api/v1/tasks/{risk_task.id}/claim", headers=both_h)
    ).status_code == 200
    assert (
        await http.post(f"/api/v1/tasks/{ops_task.id}/claim", headers=both_h)
    ).status_code == 200
    first = await http.post(
        f"/api/v1/tasks/{ops_task.id}/decision", json={"outcome": "approve"}, headers=both_h
    )
    assert first.status_code == 200
    assert first.json()["case_status"] == "pending_approval"

    second = await http.post(
        f"/api/v1/tasks/{risk_task.id}/decision", json={"outcome": "approve"}, headers=both_h
    )
    assert second.status_code == 403
    assert second.json()["error"] in ("decided_other_step", "excluded")
    reclaim = await http.post(f"/api/v1/tasks/{risk_task.id}/claim", headers=both_h)
    assert reclaim.status_code == 403

    risk_h = await api_headers(http, risk.username)
    assert (
        await http.post(f"/api/v1/tasks/{risk_task.id}/claim", headers=risk_h)
    ).status_code == 200
    final = await http.post(
        f"/api/v1/tasks/{risk_task.id}/decision", json={"outcome": "approve"}, headers=risk_h
    )
    assert final.status_code == 200
    assert final.json()["case_status"] == "applied"


async def test_an_ops_manager_cannot_give_the_risk_approval(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db, limit="100.00")
    maker = await new_staff(db, "product_manager")
    ops = await new_staff(db, "ops_manager")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "limit", plan.limit_id, amount="1000.00"
    )
    risk_task = await task_of(db, change["workflow_id"], "risk_approve")
    response = await http.post(
        f"/api/v1/tasks/{risk_task.id}/claim", headers=await api_headers(http, ops.username)
    )
    assert response.status_code in (403, 404)
