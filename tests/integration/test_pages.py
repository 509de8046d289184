"""The pages render for the roles that may see them, and say no to the others."""

from __future__ import annotations

import httpx
import pytest

from core.db import Database
from tests.helpers import api_headers, new_plan, new_staff, propose_via_api, task_of, web_login


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("ops_manager", "/inbox", 200),
        ("ops_manager", "/tariffs", 200),
        ("ops_manager", "/changes", 200),
        ("ops_manager", "/cases", 200),
        ("ops_manager", "/audit", 403),
        ("ops_manager", "/admin/staff", 403),
        ("auditor", "/audit", 200),
        ("auditor", "/admin/staff", 200),
        ("admin", "/admin/staff", 200),
        # Admins read change requests: role grants are changes they propose and approve.
        ("admin", "/changes", 200),
        ("support", "/tariffs", 200),
        ("support", "/changes", 403),
    ],
)
async def test_pages_by_role(
    http: httpx.AsyncClient, db: Database, role: str, path: str, status: int
) -> None:
    user = await new_staff(db, role)
    async with _client(http) as web:
        await web_login(web, user.username)
        response = await web.get(path)
    assert response.status_code == status
    if status == 403:
        assert "do not allow you" in response.text


async def test_staff_list_filters_by_role_and_name(http: httpx.AsyncClient, db: Database) -> None:
    admin = await new_staff(db, "admin", prefix="adm")
    mlro = await new_staff(db, "mlro", prefix="mlro")
    async with _client(http) as web:
        await web_login(web, admin.username)
        by_role = await web.get("/admin/staff?role=mlro")
        by_name = await web.get(f"/admin/staff?q={mlro.username[-6:]}")
    for response in (by_role, by_name):
        listing = response.text.split('id="staff-list"', 1)[1]
        assert mlro.username in listing and admin.username not in listing


async def test_case_page_shows_the_diff_the_actions_and_the_temporal_link_to_engineers(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    engineer = await new_staff(db, "engineer")
    change = await propose_via_api(
        http, await api_headers(http, maker.username), "fee", plan.fee_id, fixed_amount="2.65"
    )
    await task_of(db, change["workflow_id"])
    url = f"/cases/{change['case_id']}"
    async with _client(http) as web:
        await web_login(web, checker.username)
        page = await web.get(url)
        assert page.status_code == 200
        assert "2.00" in page.text and "2.65" in page.text
        assert "Claim this task" in page.text
        assert "Temporal UI" not in page.text
        tariffs = await web.get("/tariffs")
        assert f"{change['id']}" not in tariffs.text  # references, not ids, are shown
        assert "CHG-" in tariffs.text
    async with _client(http) as web:
        await web_login(web, engineer.username)
        page = await web.get(url)
        assert page.status_code == 200
        # Through the web app's read-only proxy, never the UI's own port.
        assert f'href="/temporal/namespaces/default/workflows/{change["workflow_id"]}"' in page.text
        assert 'href="/temporal/namespaces/default/workflows"' in page.text  # the nav link
        assert "Claim this task" not in page.text
