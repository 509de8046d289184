"""CSRF, safe GETs, escaping, security headers, sessions and login throttling (promises 18-21)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlmodel import select

from app import create_app
from audit.trail import SYSTEM
from core.db import Database, run_sql
from core.settings import Settings
from identity import staff
from identity.auth import token_digest
from models.base import utcnow
from models.staff import StaffUser
from tests.helpers import (
    CSRF_RE,
    PASSWORD,
    api_headers,
    new_plan,
    new_staff,
    proposal,
    task_of,
    web_login,
)

ROOT = Path(__file__).resolve().parents[2]


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


def _api_routes(routes: list[object], prefix: str = "") -> list[APIRoute]:
    """Every endpoint, also inside included routers (FastAPI keeps those nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            found += _api_routes(inner.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
    return found


def _unsafe_routes(app: object) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in _api_routes(app.routes)  # type: ignore[attr-defined]
        for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}
    )


def _fill(path: str, task_id: str) -> str:
    return re.sub(r"\{[^}]+\}", task_id, path)


async def test_every_state_changing_route_refuses_a_cookie_request_without_csrf(
    http: httpx.AsyncClient, app: object, db: Database
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager", "ops_manager", "risk_manager")
    change = await http.post(
        "/api/v1/changes",
        json=proposal("fee", plan.fee_id, percent="0.45"),
        headers=await api_headers(http, maker.username),
    )
    task = await task_of(db, change.json()["workflow_id"])
    routes = _unsafe_routes(app)
    assert len(routes) >= 10
    async with _client(http) as web:
        csrf = await web_login(web, maker.username)
        for method, path in routes:
            if path == "/api/v1/auth/token":
                continue
            url = _fill(path, str(task.id)).replace("{target_type}", "fee")
            for headers in ({}, {"X-CSRF-Token": "forged"}):
                response = await web.request(
                    method, url, headers=headers, data={"outcome": "approve"}
                )
                assert response.status_code == 403, (method, path, response.status_code)
                assert "CSRF" in response.text or "csrf" in response.text, (method, path)
        # The same session with its token is accepted (the guard is not simply closed).
        ok = await web.post(f"/tasks/{task.id}/release", data={"csrf_token": csrf})
        assert ok.status_code in (303, 409)
    async with db.session() as session:
        row = await session.get(type(task), task.id)
        assert row is not None and row.status == "open"


async def test_login_form_needs_its_own_csrf_cookie(http: httpx.AsyncClient, db: Database) -> None:
    user = await new_staff(db, "auditor")
    async with _client(http) as fresh:
        response = await fresh.post(
            "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": "guess"}
        )
        assert response.status_code == 403
        assert "bo_session" not in response.cookies


async def test_get_requests_change_nothing(
    http: httpx.AsyncClient, db: Database, admin_db: Database
) -> None:
    auditor = await new_staff(db, "auditor", "engineer")
    tables = ["change_request", '"case"', "task", "decision", "fee", "fee_version", "limit_version"]

    async def snapshot() -> list[object]:
        async with admin_db.session() as session:
            return [
                (
                    await run_sql(
                        session, f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {t} t"
                    )
                ).scalar()
                for t in tables
            ]

    async with _client(http) as web:
        await web_login(web, auditor.username)
        before = await snapshot()
        pages = [
            "/inbox",
            "/inbox?scope=mine",
            "/cases",
            "/tariffs",
            "/changes",
            "/audit",
            "/audit/chain",
            "/admin/staff",
            "/api/v1/tasks",
            "/api/v1/tariffs",
            "/api/v1/changes",
            "/api/v1/audit/verify",
            "/api/v1/audit/events",
            "/healthz",
            "/docs",
            "/logout",
        ]
        for page in pages:
            response = await web.get(page)
            assert response.status_code in (200, 403, 404, 405), (page, response.status_code)
        assert await snapshot() == before


async def test_user_input_is_rendered_escaped(http: httpx.AsyncClient, db: Database) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    evil = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'
    body = proposal("fee", plan.fee_id, percent="0.35")
    body["reason"] = f"Justification {evil}"
    created = await http.post(
        "/api/v1/changes", json=body, headers=await api_headers(http, maker.username)
    )
    assert created.status_code == 201
    async with _client(http) as web:
        await web_login(web, maker.username)
        page = await web.get(f"/cases/{created.json()['case_id']}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    templates = list((ROOT / "web" / "templates").rglob("*.html"))
    assert templates
    for template in templates:
        assert "|safe" not in template.read_text().replace(" ", ""), template
        assert "autoescape false" not in template.read_text(), template


async def test_security_headers_on_every_kind_of_response(
    http: httpx.AsyncClient, db: Database
) -> None:
    user = await new_staff(db, "auditor")
    responses = [
        await http.get("/login"),
        await http.get("/inbox"),  # redirect to login
        await http.get("/nowhere"),
        await http.get("/api/v1/tariffs"),  # 401 JSON
        await http.get("/healthz"),
        await http.get("/static/app.css"),
        await http.get("/api/v1/tariffs", headers=await api_headers(http, user.username)),
    ]
    for response in responses:
        csp = response.headers.get("content-security-policy", "")
        assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp, response.url
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers.get("x-content-type-options") == "nosniff"
        assert response.headers.get("referrer-policy") == "same-origin"
        assert response.headers.get("x-frame-options") == "DENY"
        assert "HX-Request" in response.headers.get("vary", "")


async def test_session_cookie_flags(
    http: httpx.AsyncClient, db: Database, settings: Settings, temporal_env: object
) -> None:
    user = await new_staff(db, "auditor")

    async def login_cookie(client: httpx.AsyncClient) -> str:
        page = await client.get("/login")
        token = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
        response = await client.post(
            "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303
        return next(
            v
            for k, v in response.headers.multi_items()
            if k == "set-cookie" and v.startswith("bo_session=")
        )

    async with _client(http) as web:
        cookie = await login_cookie(web)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie

    secure_app = create_app(
        settings.model_copy(update={"secure_cookies": True}), db=db, temporal=temporal_env.client
    )  # type: ignore[attr-defined]
    async with secure_app.router.lifespan_context(secure_app):
        transport = httpx.ASGITransport(app=secure_app, client=("203.0.113.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
            cookie = await login_cookie(tls)
            assert "Secure" in cookie
            assert (
                "max-age=31536000"
                in (await tls.get("/healthz")).headers["strict-transport-security"]
            )


async def test_login_issues_a_new_session_and_logout_ends_it(
    http: httpx.AsyncClient, db: Database
) -> None:
    user = await new_staff(db, "auditor")
    async with _client(http) as web:
        await web_login(web, user.username)
        first = web.cookies.get("bo_session")
        await web_login(web, user.username)
        second = web.cookies.get("bo_session")
        assert first and second and first != second
        # The session that existed before the second sign-in was ended, not promoted.
        stale = _client(http)
        async with stale:
            stale.cookies.set("bo_session", first)
            assert (await stale.get("/inbox")).status_code == 303
        csrf = CSRF_RE.search((await web.get("/inbox")).text).group(1)  # type: ignore[union-attr]
        assert (await web.post("/logout", data={"csrf_token": csrf})).status_code == 303
        web.cookies.set("bo_session", second)
        assert (await web.get("/inbox")).headers["location"].startswith("/login")


async def test_idle_and_absolute_timeouts_and_disabling_end_sessions(
    http: httpx.AsyncClient, db: Database, admin_db: Database, settings: Settings
) -> None:
    async def signed_in_client() -> tuple[httpx.AsyncClient, str]:
        user = await new_staff(db, "auditor")
        client = _client(http)
        await web_login(client, user.username)
        assert (await client.get("/inbox")).status_code == 200
        return client, user.username

    idle, _ = await signed_in_client()
    async with admin_db.transaction() as session:
        await run_sql(
            session,
            "UPDATE staff_session SET last_seen_at = :t WHERE token_hash = :tok",
            {
                "t": utcnow() - timedelta(minutes=settings.session_idle_minutes + 1),
                "tok": token_digest(idle.cookies["bo_session"]),
            },
        )
    assert (await idle.get("/inbox")).status_code == 303

    old, _ = await signed_in_client()
    async with admin_db.transaction() as session:
        await run_sql(
            session,
            "UPDATE staff_session SET expires_at = :t WHERE token_hash = :tok",
            {"t": utcnow() - timedelta(seconds=1), "tok": token_digest(old.cookies["bo_session"])},
        )
    assert (await old.get("/inbox")).status_code == 303

    disabled, username = await signed_in_client()
    token = await api_headers(http, username)
    async with db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).one()
    await staff.set_active(db, user_id=user.id, active=False, actor=SYSTEM)
    assert (await disabled.get("/inbox")).status_code == 303
    assert (await http.get("/api/v1/tariffs", headers=token)).status_code == 401
    for client in (idle, old, disabled):
        await client.aclose()


async def test_failed_logins_are_throttled_and_passwords_are_argon2id(
    http: httpx.AsyncClient, db: Database
) -> None:
    user = await new_staff(db, "auditor")
    for _ in range(5):
        bad = await http.post(
            "/api/v1/auth/token", json={"username": user.username, "password": "nope-nope"}
        )
        assert bad.status_code == 401
    locked = await http.post(
        "/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Try again" in locked.json()["message"]
    async with db.session() as session:
        stored = (
            await session.exec(
                select(StaffUser.password_hash).where(StaffUser.username == user.username)
            )
        ).one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize("path", ["/inbox", "/tariffs", "/cases", "/audit"])
async def test_pages_need_a_session(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
