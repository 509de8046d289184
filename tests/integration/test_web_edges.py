"""Web edges: the real client address, revoking tokens, text with NUL characters."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from app import create_app
from audit.trail import SYSTEM
from core.db import Database, DatabaseUrls, run_sql
from core.settings import Settings
from identity import staff
from models.audit import AuditEvent
from models.staff import LoginAttempt, StaffSession, StaffUser
from tests.helpers import (
    PASSWORD,
    api_headers,
    environment_without_services,
    new_plan,
    new_staff,
    proposal,
    run_command,
    served_by_uvicorn,
    web_login,
)

PER_ADDRESS_LIMIT = 4


def _loopback() -> str:
    """A loopback address of this test's own, so no other test's failures count against it."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


@asynccontextmanager
async def _app(
    settings: Settings, db: Database, temporal_env: WorkflowEnvironment, **overrides: Any
) -> AsyncIterator[FastAPI]:
    application = create_app(
        settings.model_copy(update=overrides), db=db, temporal=temporal_env.client
    )
    async with application.router.lifespan_context(application):
        yield application


async def _audit_events(db: Database, *conditions: Any) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(select(AuditEvent).where(*conditions).order_by(AuditEvent.id))
        return list(rows.all())


async def _events_of(db: Database, response: httpx.Response) -> list[AuditEvent]:
    return await _audit_events(db, AuditEvent.request_id == response.headers["x-request-id"])


# ----------------------------------------------------------------------------- client address
async def test_rotating_forwarded_for_from_loopback_meets_the_per_address_throttle(
    settings: Settings, db: Database, admin_db: Database, temporal_env: WorkflowEnvironment
) -> None:
    """127.0.0.1 exactly: the address uvicorn's own proxy handling would have believed."""
    peer = "127.0.0.1"
    async with admin_db.transaction() as session:  # earlier failures from here do not count
        await run_sql(session, "DELETE FROM login_attempt WHERE ip = :ip", {"ip": peer})
    user = await new_staff(db, "auditor")
    tried = [f"nobody-{uuid.uuid4().hex[:10]}" for _ in range(PER_ADDRESS_LIMIT)]
    async with (
        _app(
            settings, db, temporal_env, login_max_failures_per_ip=PER_ADDRESS_LIMIT
        ) as application,
        served_by_uvicorn(application) as base_url,
        httpx.AsyncClient(
            base_url=base_url,
            transport=httpx.AsyncHTTPTransport(local_address=peer),
            # Not httpx's 5 s default: each failed login verifies a password hash (Argon2id),
            # which takes seconds on a loaded machine.
            timeout=60,
        ) as client,
    ):
        for n, username in enumerate(tried, start=1):
            wrong = await client.post(
                "/api/v1/auth/token",
                json={"username": username, "password": "not-the-password"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )
            assert wrong.status_code == 401, wrong.text
        # A new forged address and a different, real account: the real peer is still throttled.
        blocked = await client.post(
            "/api/v1/auth/token",
            json={"username": user.username, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )
    assert blocked.status_code == 429, blocked.text
    assert int(blocked.headers["retry-after"]) > 0

    events = await _audit_events(
        db, AuditEvent.action == "auth.token", col(AuditEvent.actor).in_([*tried, user.username])
    )
    assert [e.outcome for e in events] == ["denied"] * (PER_ADDRESS_LIMIT + 1)
    assert {e.origin_ip for e in events} == {peer}
    assert events[-1].reason == "throttled: too many failed attempts"
    async with db.session() as session:
        addresses = (
            await session.exec(select(LoginAttempt.ip).where(col(LoginAttempt.username).in_(tried)))
        ).all()
    assert set(addresses) == {peer}


async def test_forwarded_for_counts_only_from_trusted_proxies_and_right_to_left(
    settings: Settings, db: Database, temporal_env: WorkflowEnvironment
) -> None:
    proxy = _loopback()
    stranger = "192.0.2.44"
    async with _app(settings, db, temporal_env, trusted_proxies=f"{proxy}, 10.0.0.0/8") as app:

        async def login_from(peer: str, forwarded_for: str) -> str | None:
            username = f"nobody-{uuid.uuid4().hex[:10]}"
            transport = httpx.ASGITransport(app=app, client=(peer, 4321))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.post(
                    "/api/v1/auth/token",
                    json={"username": username, "password": "not-the-password"},
                    headers={"X-Forwarded-For": forwarded_for},
                )
            assert response.status_code == 401
            [event] = await _audit_events(db, AuditEvent.actor == username)
            return event.origin_ip

        # The client wrote "198.51.100.1"; our proxies appended the rest, right-most last.
        assert await login_from(proxy, "198.51.100.1, 203.0.113.9, 10.1.2.3") == "203.0.113.9"
        assert await login_from(proxy, "203.0.113.9:51000") == "203.0.113.9"
        # Not a trusted proxy: its header is ignored.
        assert await login_from(stranger, "203.0.113.9") == stranger
        # A header that is no address at all does not replace the proxy's own.
        assert await login_from(proxy, "<script>") == proxy


def test_a_wildcard_or_malformed_trusted_proxy_stops_start_up(settings: Settings) -> None:
    for bad in ("*", "proxy.internal", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
            create_app(settings.model_copy(update={"trusted_proxies": bad}))


def test_trusted_proxies_default_to_none_and_the_old_name_is_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert Settings(_env_file=None).trusted_proxies == ""  # type: ignore[call-arg]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.7")
    assert Settings(_env_file=None).trusted_proxies == "10.0.0.7"  # type: ignore[call-arg]
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.8")
    assert Settings(_env_file=None).trusted_proxies == "10.0.0.8"  # type: ignore[call-arg]


# ----------------------------------------------------------------------------- revoking
async def test_logout_revokes_the_bearer_token_presented_and_only_that(
    http: httpx.AsyncClient, db: Database
) -> None:
    user = await new_staff(db, "auditor")
    token = await api_headers(http, user.username)
    other = await api_headers(http, user.username)
    assert (await http.get("/api/v1/audit/events", headers=token)).status_code == 200

    out = await http.post("/api/v1/auth/logout", headers=token)
    assert out.status_code == 204, out.text
    [event] = await _events_of(db, out)
    assert (event.action, event.actor, event.outcome) == ("auth.logout", user.username, "success")

    assert (await http.get("/api/v1/audit/events", headers=token)).status_code == 401
    again = await http.post("/api/v1/auth/logout", headers=token)
    assert again.status_code == 401
    assert len(await _events_of(db, again)) == 1
    # The user's other token was not presented, so it still works.
    assert (await http.get("/api/v1/audit/events", headers=other)).status_code == 200


async def test_disabling_a_user_revokes_their_tokens_and_sessions_at_once(
    http: httpx.AsyncClient, db: Database
) -> None:
    user = await new_staff(db, "auditor")
    token = await api_headers(http, user.username)
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, user.username)
        assert (await web.get("/inbox")).status_code == 200

        await staff.set_active(db, user_id=user.actor.user_id, active=False, actor=SYSTEM)

        async with db.session() as session:
            sessions = (
                await session.exec(
                    select(StaffSession).where(StaffSession.user_id == user.actor.user_id)
                )
            ).all()
        assert {s.kind for s in sessions} == {"web", "api"}
        assert all(s.revoked_at is not None for s in sessions)
        assert (await web.get("/inbox")).headers["location"].startswith("/login")
    assert (await http.get("/api/v1/audit/events", headers=token)).status_code == 401
    [disabled] = await _audit_events(
        db, AuditEvent.action == "staff.disabled", AuditEvent.object_id == str(user.actor.user_id)
    )
    assert disabled.details["sessions_ended"] == len(sessions)

    # Enabling the account again does not bring the old credentials back.
    await staff.set_active(db, user_id=user.actor.user_id, active=True, actor=SYSTEM)
    assert (await http.get("/api/v1/audit/events", headers=token)).status_code == 401
    async with db.session() as session:
        assert (await session.get(StaffUser, user.actor.user_id)).is_active  # type: ignore[union-attr]


async def test_backoffice_user_disable_revokes_sessions_and_tokens_from_the_command_line(
    http: httpx.AsyncClient, db: Database, db_urls: DatabaseUrls, settings: Settings
) -> None:
    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = environment_without_services()
        env.update(
            DATABASE_URL=db_urls.app,
            TEMPORAL_ADDRESS=settings.temporal_address,
            ENVIRONMENT="test",
        )
        return await run_command([sys.executable, "-m", "core.cli", *args], env=env)

    user = await new_staff(db, "auditor")
    token = await api_headers(http, user.username)
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, user.username)
        disabled = await cli("user", "disable", user.username)
        assert disabled.returncode == 0, disabled.stderr
        assert "2 session(s) and API token(s) revoked" in disabled.stdout
        assert (await web.get("/inbox")).headers["location"].startswith("/login")
    assert (await http.get("/api/v1/audit/events", headers=token)).status_code == 401
    refused = await http.post(
        "/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}
    )
    assert refused.status_code == 401

    enabled = await cli("user", "enable", user.username)
    assert enabled.returncode == 0, enabled.stderr
    assert (await http.get("/api/v1/audit/events", headers=token)).status_code == 401
    fresh = await api_headers(http, user.username)
    assert (await http.get("/api/v1/audit/events", headers=fresh)).status_code == 200

    unknown = await cli("user", "disable", "no-such-person")
    assert unknown.returncode == 1
    assert "No staff user" in unknown.stderr


# ----------------------------------------------------------------------------- NUL characters
async def test_a_nul_in_a_screening_name_is_a_422_naming_the_field_and_audited_once(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "kyc_analyst")
    headers = await api_headers(http, analyst.username)
    response = await http.post(
        "/api/v1/screening/check", json={"name": "Ali\u0000ce Smith"}, headers=headers
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["fields"]) == ["name"]
    assert "name (body)" in body["message"] and "NUL" in body["message"]
    [event] = await _events_of(db, response)
    assert event.outcome == "failure"
    assert event.actor == analyst.username
    assert "name (body)" in (event.reason or "")


async def test_a_nul_deep_in_a_json_body_is_named_by_its_path(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    headers = await api_headers(http, maker.username)
    body = proposal("fee", plan.fee_id, percent="0.45")
    body["changes"]["note\u0000"] = "x"
    body["reason"] = "A reason\u0000 with a NUL in it."
    response = await http.post("/api/v1/changes", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert set(response.json()["fields"]) == {"changes.note\\0", "reason"}
    assert len(await _events_of(db, response)) == 1


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/customers?q=ab%00cd", "q"),
        ("/api/v1/customers?page=1&%00=1", "\\0"),
        ("/api/v1/customers/00000000-0000-0000-0000-00000000000%00", "customer_id"),
    ],
)
async def test_a_nul_in_a_query_or_path_parameter_is_a_422_naming_it(
    http: httpx.AsyncClient, db: Database, path: str, field: str
) -> None:
    support = await new_staff(db, "support")
    response = await http.get(path, headers=await api_headers(http, support.username))
    assert response.status_code == 422, response.text
    assert list(response.json()["fields"]) == [field]


async def test_a_nul_in_a_form_field_gets_a_readable_page_and_fragment(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "kyc_analyst")
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        csrf = await web_login(web, analyst.username)
        form = {"csrf_token": csrf, "name": "Bad\u0000 Name"}
        page = await web.post("/screening", data=form)
        assert page.status_code == 422
        assert page.headers["content-type"].startswith("text/html")
        assert "name (body)" in page.text and "NUL" in page.text
        assert len(await _events_of(db, page)) == 1

        fragment = await web.post("/screening", data=form, headers={"HX-Request": "true"})
        assert fragment.status_code == 422
        assert fragment.headers["hx-retarget"] == "#notices"
        assert "<html" not in fragment.text and "name (body)" in fragment.text


async def test_permission_and_sign_in_are_answered_before_a_nul_is_judged(
    http: httpx.AsyncClient, db: Database
) -> None:
    nul_name = {"name": "Ali\u0000ce"}
    anonymous = await http.post("/api/v1/screening/check", json=nul_name)
    assert anonymous.status_code == 401
    support = await new_staff(db, "support")
    refused = await http.post(
        "/api/v1/screening/check",
        json=nul_name,
        headers=await api_headers(http, support.username),
    )
    assert refused.status_code == 403, refused.text
    [event] = await _events_of(db, refused)
    assert event.outcome == "denied"


async def test_an_uploaded_file_is_not_judged_as_text(
    http: httpx.AsyncClient, db: Database
) -> None:
    finance = await new_staff(db, "finance_ops")
    response = await http.post(
        "/api/v1/reconciliation/statements",
        data={"source_id": str(uuid.uuid4())},
        files={"file": ("statement.csv", b"date,amount\n\x00\x00\x00,1\n", "text/csv")},
        headers=await api_headers(http, finance.username),
    )
    # Refused for what it is (an unknown source), not for the NUL bytes in the file.
    assert response.status_code in (404, 422), response.text
    assert "NUL" not in response.text
    assert len(await _events_of(db, response)) == 1


async def test_a_nul_in_an_unknown_path_is_still_audited(
    http: httpx.AsyncClient, db: Database
) -> None:
    user = await new_staff(db, "auditor")
    response = await http.post(
        "/api/v1/nowhere%00here", json={}, headers=await api_headers(http, user.username)
    )
    assert response.status_code == 404
    [event] = await _events_of(db, response)
    assert "\x00" not in event.details["path"]
