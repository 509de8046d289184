"""A politically exposed person applying through `POST /api/v1/applications`, against the real
OpenSanctions PEP list in a database of its own: the list match raises the risk with its
explanation (the applicant declared nothing), enhanced due diligence opens (source of funds
by an analyst, refused incomplete; then a different senior), and the customer 360 shows the
PEP badge with its source. A declared PEP without a list match takes the same route."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from app import create_app
from core.db import Database
from core.settings import Settings
from models.onboarding import Application
from screening.commands.importer import LIST_DIR, import_list
from tests.conftest import create_database
from tests.helpers import api_headers, eventually, new_plan, new_staff, task_of, web_login
from tests.onboarding_data import clean_individual, individual
from worker import build_worker

PEP_FILE = LIST_DIR / "opensanctions" / "us_congress_peps_senzing.jsonl.gz"
NOTE = "Congressional salary statements and the 2024 tax return account for the volume."


@dataclass
class Stack:
    db: Database
    http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def pep_stack(
    pg_socket: Path, temporal_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Stack]:
    """Its own database with only the PEP list (the shared one stays on OFAC alone), its own
    worker and app on its own task queue."""
    urls = create_database(pg_socket, f"bo_pep_{uuid.uuid4().hex[:6]}")
    db = Database(urls.app, pool_size=4, application_name="tests-pep")
    report = await import_list(db, "PEP-OS", PEP_FILE)
    assert report.list_version.startswith("PEP-OS ")
    await new_plan(db, segment="retail", is_default=True)
    queue = f"pep-{uuid.uuid4().hex[:6]}"
    local = settings.model_copy(
        update={"task_queue": queue, "database_url": urls.app, "database_admin_url": urls.admin}
    )
    client = temporal_env.client
    application = create_app(local, db=db, temporal=client)
    async with (
        build_worker(client, db, queue),
        application.router.lifespan_context(application),
    ):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Stack(db, http)
    await db.dispose()


async def _submit(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    service = await new_staff(stack.db, "upstream_system", prefix="svc")
    headers = await api_headers(stack.http, service.username)
    response = await stack.http.post("/api/v1/applications", json=payload, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def _risk(stack: Stack, application_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        async with stack.db.session() as session:
            found = await session.get(Application, uuid.UUID(application_id))
            return dict(found.risk or {}) if found is not None else {}

    return await eventually(probe, what="risk scored")


async def test_listed_pep_gets_enhanced_due_diligence_and_a_pep_badge_on_the_360(
    pep_stack: Stack,
) -> None:
    stack, http = pep_stack, pep_stack.http
    accepted = await _submit(stack, individual("Nancy Pelosi", "1940-03-26", "US"))
    app_id, wid = accepted["application_id"], accepted["workflow_id"]

    edd = await task_of(stack.db, wid, "review-edd#1")
    risk = await _risk(stack, app_id)
    assert risk["level"] == "high"
    expected = (
        "Nancy Pelosi matches Politically exposed persons (OpenSanctions) entry 'Nancy Pelosi'"
    )
    assert expected in risk["explanation"] and "): PEP" in risk["explanation"]
    assert "sanctions" not in risk["explanation"]  # a PEP match is not a sanctions hit
    assert [(f["source"], f["list_name"], f["reference"]) for f in risk["pep"]] == [
        ("list", "PEP-OS", "Q170581")
    ]
    status = (await http.get(f"/api/v1/applications/{app_id}", headers=await _svc(stack))).json()
    assert status["route"] == "edd"

    analyst = await new_staff(stack.db, "kyc_analyst")
    a_headers = await api_headers(http, analyst.username)
    claimed = await http.post(f"/api/v1/tasks/{edd.id}/claim", headers=a_headers)
    assert claimed.status_code == 200, claimed.text
    # Incomplete: refused per field, nothing decided.
    incomplete = await http.post(
        f"/api/v1/applications/{app_id}/source-of-funds",
        json={"task_id": str(edd.id), "source": "public_office", "evidence": [], "note": "ok"},
        headers=a_headers,
    )
    assert incomplete.status_code == 422, incomplete.text
    assert set(incomplete.json()["fields"]) == {"evidence", "note"}
    recorded = await http.post(
        f"/api/v1/applications/{app_id}/source-of-funds",
        json={
            "task_id": str(edd.id),
            "source": "public_office",
            "evidence": ["payslips", "tax_return"],
            "note": NOTE,
        },
        headers=a_headers,
    )
    assert recorded.status_code == 200, recorded.text

    approval = await task_of(stack.db, wid, "review-senior#1")
    senior = await new_staff(stack.db, "kyc_senior")
    s_headers = await api_headers(http, senior.username)
    assert (await http.post(f"/api/v1/tasks/{approval.id}/claim", headers=s_headers)).is_success
    approved = await http.post(
        f"/api/v1/tasks/{approval.id}/decision",
        json={"outcome": "approve", "comment": "Senior approval of the PEP relationship given."},
        headers=s_headers,
    )
    assert approved.status_code == 200, approved.text

    async def opened() -> str | None:
        body = (await http.get(f"/api/v1/applications/{app_id}", headers=s_headers)).json()
        return body.get("customer_id") if body["status"] == "approved" else None

    customer_id = await eventually(opened, what="customer opened")
    support = await new_staff(stack.db, "support")
    view = (await http.get(f"/api/v1/customers/{customer_id}", headers=s_headers)).json()
    assert [(p["source"], p["reference"]) for p in view["pep"]] == [("list", "Q170581")]
    await web_login(http, support.username)
    page = await http.get(f"/customers/{customer_id}")
    assert page.status_code == 200
    assert "PEP · Politically exposed persons (OpenSanctions) entry Q170581" in page.text


async def _svc(stack: Stack) -> dict[str, str]:
    service = await new_staff(stack.db, "upstream_system", prefix="svc")
    return await api_headers(stack.http, service.username)


async def test_declared_pep_without_a_list_match_gets_the_edd_form_on_the_case_page(
    pep_stack: Stack,
) -> None:
    stack, http = pep_stack, pep_stack.http
    accepted = await _submit(stack, clean_individual(pep=True))
    edd = await task_of(stack.db, accepted["workflow_id"], "review-edd#1")
    risk = await _risk(stack, accepted["application_id"])
    assert risk["level"] == "high"
    assert [(f["person"], f["source"]) for f in risk["pep"]] == [("Anna Schmidt", "declared")]

    analyst = await new_staff(stack.db, "kyc_analyst")
    csrf = await web_login(http, analyst.username)
    claimed = await http.post(
        f"/tasks/{edd.id}/claim", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert claimed.status_code in (200, 303), claimed.text
    case = await http.get(f"/cases/{edd.case_id}")
    assert "Record source of funds" in case.text and "PEP · declared" in case.text
    # The form refused: the case page again, each field's problem beside it.
    refused = await http.post(
        f"/applications/{accepted['application_id']}/source-of-funds",
        data={"csrf_token": csrf, "task_id": str(edd.id), "source": "", "note": ""},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "Choose where the funds come from." in refused.text
    done = await http.post(
        f"/applications/{accepted['application_id']}/source-of-funds",
        data={
            "csrf_token": csrf,
            "task_id": str(edd.id),
            "source": "employment",
            "evidence": ["payslips", "bank_statements"],
            "note": NOTE,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    senior_task = await task_of(stack.db, accepted["workflow_id"], "review-senior#1")
    assert senior_task.status == "open"
