"""Maker-checker through the JSON API, end to end on the real Temporal and PostgreSQL."""

from __future__ import annotations

import httpx

from core.db import Database
from tests.helpers import api_headers, new_plan, new_staff, proposal, task_of


async def test_approved_fee_change_is_applied_and_listed_with_its_history(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    maker_h = await api_headers(http, maker.username)
    checker_h = await api_headers(http, checker.username)

    created = await http.post(
        "/api/v1/changes", json=proposal("fee", plan.fee_id, fixed_amount="2.50"), headers=maker_h
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending_approval"
    assert body["workflow_id"] == f"change-{body['id']}"

    task = await task_of(db, body["workflow_id"])
    available = await http.get("/api/v1/tasks?scope=available&per_page=100", headers=checker_h)
    assert str(task.id) in [t["id"] for t in available.json()["items"]]

    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=checker_h)
    assert claim.status_code == 200, claim.text
    decision = await http.post(
        f"/api/v1/tasks/{task.id}/decision",
        json={"outcome": "approve", "reason": None, "comment": "Looks right"},
        headers=checker_h,
    )
    assert decision.status_code == 200, decision.text
    assert decision.json()["case_status"] == "applied"

    tariffs = (await http.get("/api/v1/tariffs", headers=checker_h)).json()
    fee = next(f for p in tariffs if p["id"] == str(plan.id) for f in p["fees"])
    assert fee["fixed_amount"] == "2.50"
    assert fee["version"] == 2
    history = (await http.get(f"/api/v1/fees/{plan.fee_id}/versions", headers=checker_h)).json()
    assert [v["version"] for v in history] == [2, 1]
    assert history[0]["values"]["fixed_amount"] == "2.50"
    assert history[1]["values"]["fixed_amount"] == "2.00"
    change = (await http.get(f"/api/v1/changes/{body['id']}", headers=maker_h)).json()
    assert change["status"] == "applied"
    assert change["applied_version"] == 2
    assert change["approvals"][0]["decided_by"] == checker.username
