"""Version binding, withdrawal, duplicate starts, visibility and bad input."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlmodel import func, select
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment

from core.db import Database, run_sql
from core.settings import Settings
from models.cases import Case, Task
from models.changes import ChangeRequest
from models.workflow_io import ChangeApprovalInput
from tests.helpers import (
    api_headers,
    eventually,
    new_plan,
    new_staff,
    proposal,
    propose_via_api,
    task_of,
    web_login,
)
from workflows.change_approval import ChangeApprovalWorkflow


async def _change(
    http: httpx.AsyncClient, headers: dict[str, str], change_id: str
) -> dict[str, object]:
    response = await http.get(f"/api/v1/changes/{change_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_applying_one_change_voids_the_others_on_the_same_target(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    first = await propose_via_api(http, mh, "fee", plan.fee_id, fixed_amount="2.50")
    second = await propose_via_api(http, mh, "fee", plan.fee_id, fixed_amount="3.00")
    t1, t2 = await task_of(db, first["workflow_id"]), await task_of(db, second["workflow_id"])
    assert (await http.post(f"/api/v1/tasks/{t2.id}/claim", headers=ch)).status_code == 200

    assert (await http.post(f"/api/v1/tasks/{t1.id}/claim", headers=ch)).status_code == 200
    ok = await http.post(f"/api/v1/tasks/{t1.id}/decision", json={"outcome": "approve"}, headers=ch)
    assert ok.json()["case_status"] == "applied"

    async def superseded() -> bool:
        return (await _change(http, mh, second["id"]))["status"] == "superseded"

    await eventually(superseded, what="the second change to be voided")
    stale = await http.post(
        f"/api/v1/tasks/{t2.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert stale.status_code == 409
    detail = await _change(http, mh, second["id"])
    assert "version 2" in str(detail["status_reason"])
    async with db.session() as session:
        assert (await session.get(Task, t2.id)).status == "cancelled"  # type: ignore[union-attr]


async def test_approval_is_refused_when_the_target_moved_since_the_proposal(
    http: httpx.AsyncClient, db: Database, admin_db: Database
) -> None:
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    change = await propose_via_api(http, mh, "fee", plan.fee_id, fixed_amount="2.75")
    task = await task_of(db, change["workflow_id"])
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=ch)).status_code == 200
    # The fee moves on behind the workflow's back (e.g. a data fix): version 2 now applies.
    async with admin_db.transaction() as session:
        await run_sql(
            session,
            "INSERT INTO fee_version (id, fee_id, version, fixed_amount, percent, created_at) "
            "SELECT gen_random_uuid(), fee_id, 2, 9.99, percent, now() FROM fee_version "
            "WHERE fee_id = :id AND version = 1",
            {"id": plan.fee_id},
        )
        await run_sql(
            session, "UPDATE fee SET current_version = 2 WHERE id = :id", {"id": plan.fee_id}
        )

    refused = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "stale_target"
    assert "version 1" in refused.json()["message"]

    async def closed() -> bool:
        return (await _change(http, mh, change["id"]))["status"] == "superseded"

    await eventually(closed, what="the stale change to close as superseded")
    replay = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert replay.status_code == 409
    tariffs = (await http.get("/api/v1/tariffs", headers=ch)).json()
    fee = next(f for p in tariffs if p["id"] == str(plan.id) for f in p["fees"])
    assert fee["fixed_amount"] == "9.99"


async def test_the_maker_withdraws_and_no_one_else_can(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    colleague = await new_staff(db, "product_manager")
    mh = await api_headers(http, maker.username)
    change = await propose_via_api(http, mh, "fee", plan.fee_id, percent="0.6")
    task = await task_of(db, change["workflow_id"])

    other = await http.post(
        f"/api/v1/changes/{change['id']}/withdraw",
        json={"reason": "not mine"},
        headers=await api_headers(http, colleague.username),
    )
    assert other.status_code == 403
    assert other.json()["error"] == "not_maker"

    done = await http.post(
        f"/api/v1/changes/{change['id']}/withdraw", json={"reason": "Changed my mind"}, headers=mh
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "withdrawn"
    async with db.session() as session:
        assert (await session.get(Task, task.id)).status == "cancelled"  # type: ignore[union-attr]
    again = await http.post(
        f"/api/v1/changes/{change['id']}/withdraw", json={"reason": "twice please"}, headers=mh
    )
    assert again.status_code == 409


async def test_a_second_start_for_the_same_change_creates_no_second_run(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "fee", plan.fee_id, percent="0.7"
    )
    handle = temporal_env.client.get_workflow_handle(change["workflow_id"])
    first_run = (await handle.describe()).run_id
    with pytest.raises(WorkflowAlreadyStartedError):
        await temporal_env.client.start_workflow(
            ChangeApprovalWorkflow.run,
            ChangeApprovalInput(
                change_id=uuid.UUID(change["id"]),
                case_id=uuid.UUID(change["case_id"]),
                reference="dup",
                target_type="fee",
                target_id=plan.fee_id,
                base_version=1,
                maker_id=maker.actor.user_id,
                tier="standard",
                approvals=[],
                expiry_seconds=60,
            ),
            id=change["workflow_id"],
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    assert (await handle.describe()).run_id == first_run


async def test_ids_in_urls_never_reach_objects_the_user_may_not_see(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    support = await new_staff(db, "support")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "fee", plan.fee_id, percent="0.8"
    )
    task = await task_of(db, change["workflow_id"])
    sh = await api_headers(http, support.username)

    assert (await http.get(f"/api/v1/changes/{change['id']}", headers=sh)).status_code == 404
    assert (await http.get(f"/api/v1/tasks/{task.id}", headers=sh)).status_code == 404
    assert (await http.post(f"/api/v1/tasks/{task.id}/claim", headers=sh)).status_code in (403, 404)
    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        await web_login(web, support.username)
        page = await web.get(f"/cases/{change['case_id']}")
        assert page.status_code == 404
        assert plan.code not in page.text
        assert (await web.get(f"/cases/{uuid.uuid4()}")).status_code == 404


async def test_bad_input_names_every_bad_field_and_creates_nothing(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    mh = await api_headers(http, maker.username)

    async def counts() -> tuple[int, int]:
        async with db.session() as session:
            changes = (await session.exec(select(func.count()).select_from(ChangeRequest))).one()
            cases = (await session.exec(select(func.count()).select_from(Case))).one()
        return changes, cases

    before = await counts()
    bad = await http.post(
        "/api/v1/changes",
        json={
            "target_type": "fee",
            "target_id": str(plan.fee_id),
            "changes": {"fixed_amount": "1.234", "percent": "150", "colour": "red"},
            "reason": "Bad values on purpose.",
        },
        headers=mh,
    )
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {
        "changes.fixed_amount",
        "changes.percent",
        "changes.colour",
    }
    shape = await http.post(
        "/api/v1/changes",
        json={"target_type": "tariff", "target_id": "nope", "changes": {}, "reason": "short"},
        headers=mh,
    )
    assert shape.status_code == 422
    assert {"target_type", "target_id", "changes", "reason"} <= set(shape.json()["fields"])
    unknown = await http.post(
        "/api/v1/changes", json=proposal("fee", uuid.uuid4(), percent="1"), headers=mh
    )
    assert unknown.status_code == 422
    assert "target_id" in unknown.json()["fields"]
    assert await counts() == before


async def test_search_attributes_carry_ids_and_categories_only(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "fee", plan.fee_id, percent="0.95"
    )
    description = await temporal_env.client.get_workflow_handle(change["workflow_id"]).describe()
    ours = {"CaseId", "CaseType", "CaseStatus", "CustomerId", "RiskLevel"}
    attributes = {
        key.name: value
        for key, value in description.typed_search_attributes
        if key.name != "BuildIds"  # set by the server itself
    }
    assert set(attributes) <= ours
    assert attributes["CaseId"] == change["case_id"]
    assert attributes["CaseType"] == "change_request"
    assert attributes["CaseStatus"] == "pending_approval"
    assert attributes["RiskLevel"] in ("low", "high")
    assert maker.username not in str(attributes)
