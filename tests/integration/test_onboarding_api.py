"""`/api/v1/applications` against the real services: validation, idempotency by external_ref,
status and outcome, permissions, and four-eyes whichever door the reviewer uses."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from core.db import Database
from models.audit import AuditEvent
from models.cases import Case
from models.onboarding import Application
from tests.helpers import CSRF_RE, api_headers, eventually, new_staff, task_of, web_login
from tests.onboarding_data import business, clean_individual, listed_individual, medium_individual

pytestmark = pytest.mark.usefixtures("onboarding_ready")


async def _service(http: httpx.AsyncClient, db: Database) -> dict[str, str]:
    service = await new_staff(db, "upstream_system", prefix="svc")
    return await api_headers(http, service.username)


async def _settled(http: httpx.AsyncClient, headers: dict[str, str], app_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body = (await http.get(f"/api/v1/applications/{app_id}", headers=headers)).json()
        decided = body["status"] in ("approved", "rejected")
        waiting_for_people = body["status"] == "in_review" and body["route"] not in (None, "auto")
        return body if decided or waiting_for_people else None

    return await eventually(probe, what="application settled")


async def test_bad_application_is_refused_naming_every_field_and_nothing_is_created(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _service(http, db)
    payload = clean_individual()
    person = payload["individual"]
    person["date_of_birth"] = "2999-01-01"
    person["nationality"] = "XX"
    person["email"] = "not-an-email"
    person["documents"][0]["type"] = "library_card"
    response = await http.post("/api/v1/applications", json=payload, headers=headers)
    assert response.status_code == 422
    fields = response.json()["fields"]
    for name in ("date_of_birth", "nationality", "email", "documents.0.type"):
        assert any(key.endswith(name) for key in fields), (name, fields)
    async with db.session() as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(Application)
                .where(Application.external_ref == payload["external_ref"])
            )
        ).one()
    assert count == 0


async def test_clean_application_is_accepted_and_reports_its_outcome(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _service(http, db)
    response = await http.post("/api/v1/applications", json=clean_individual(), headers=headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) >= {"application_id", "case_id", "workflow_id", "status"}
    body = await _settled(http, headers, accepted["application_id"])
    assert body["status"] == "approved" and body["outcome"] == "approved"
    assert body["customer_id"] and body["account_id"] and body["iban"].startswith("DE")


async def test_resubmitting_an_external_ref_starts_nothing_new(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _service(http, db)
    payload = medium_individual()
    first = await http.post("/api/v1/applications", json=payload, headers=headers)
    again = await http.post("/api/v1/applications", json=payload, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["application_id"] == first.json()["application_id"]
    assert again.json()["workflow_id"] == first.json()["workflow_id"]

    other = dict(payload, kind="individual")
    other["individual"] = dict(payload["individual"], full_name="Someone Else")
    clash = await http.post("/api/v1/applications", json=other, headers=headers)
    assert clash.status_code == 409 and clash.json()["error"] == "external_ref_reused"
    async with db.session() as session:
        cases = (
            await session.exec(
                select(func.count())
                .select_from(Case)
                .where(Case.workflow_id == first.json()["workflow_id"])
            )
        ).one()
    assert cases == 1


async def test_a_role_without_permission_cannot_submit(
    http: httpx.AsyncClient, db: Database
) -> None:
    pm = await new_staff(db, "product_manager")
    headers = await api_headers(http, pm.username)
    response = await http.post("/api/v1/applications", json=clean_individual(), headers=headers)
    assert response.status_code == 403
    async with db.session() as session:
        denied = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.actor == pm.username, AuditEvent.outcome == "denied"
                )
            )
        ).all()
    assert denied


async def test_documents_are_refused_when_no_information_was_requested(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _service(http, db)
    accepted = (
        await http.post("/api/v1/applications", json=clean_individual(), headers=headers)
    ).json()
    await _settled(http, headers, accepted["application_id"])
    response = await http.post(
        f"/api/v1/applications/{accepted['application_id']}/documents",
        json={"note": "Unsolicited documents."},
        headers=headers,
    )
    assert response.status_code == 409


async def test_business_with_a_listed_owner_goes_to_four_eyes(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _service(http, db)
    accepted = (
        await http.post("/api/v1/applications", json=business(listed_owner=True), headers=headers)
    ).json()
    body = await _settled(http, headers, accepted["application_id"])
    assert (body["status"], body["route"], body["risk_level"]) == ("in_review", "four_eyes", "high")


async def test_one_person_cannot_give_both_reviews_via_api_then_ui(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _service(http, db)
    accepted = (
        await http.post("/api/v1/applications", json=listed_individual(), headers=headers)
    ).json()
    wid = accepted["workflow_id"]
    analyst_task = await task_of(db, wid, "review-analyst#1")
    both = await new_staff(db, "kyc_analyst", "kyc_senior")
    both_headers = await api_headers(http, both.username)
    claimed = await http.post(f"/api/v1/tasks/{analyst_task.id}/claim", headers=both_headers)
    assert claimed.status_code == 200, claimed.text
    decided = await http.post(
        f"/api/v1/tasks/{analyst_task.id}/decision",
        json={"outcome": "approve", "comment": "Listed person is older; not a match."},
        headers=both_headers,
    )
    assert decided.status_code == 200, decided.text

    senior_task = await task_of(db, wid, "review-senior#1")
    # The second review through the web form: refused with the segregation reason.
    csrf = await web_login(http, both.username)
    refused = await http.post(
        f"/tasks/{senior_task.id}/claim", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert "different person" in refused.text or "another step" in refused.text
    page = await http.get(f"/cases/{accepted['case_id']}")
    assert CSRF_RE.search(page.text)


async def test_concurrent_submissions_of_one_external_ref_start_one_workflow(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers = await _service(http, db)
    payload = medium_individual()
    responses = await asyncio.gather(
        *(http.post("/api/v1/applications", json=payload, headers=headers) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 202]
    assert len({r.json()["workflow_id"] for r in responses}) == 1
    async with db.session() as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(Application)
                .where(Application.external_ref == payload["external_ref"])
            )
        ).one()
    assert count == 1
