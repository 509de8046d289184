"""The second factor and step-up, through the web, the API and straight to Temporal, on the
real PostgreSQL and Temporal: enrolment with a QR code and recovery codes, the code after the
password, enrolment required for configured roles, a fresh code before an approval."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pyotp
import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from casework import tasks as task_service
from core.db import Database, run_sql
from identity import mfa
from models.base import utcnow
from models.mfa import StaffMfa
from models.workflow_io import DecisionInput, Origin
from tests.helpers import (
    CSRF_RE,
    LOGIN_CSRF_RE,
    MFA_ENROLMENT_RE,
    PASSWORD,
    TOTP_SECRETS,
    api_headers,
    audit_count,
    new_plan,
    new_staff,
    proposal,
    task_of,
    totp_code,
    web_login,
)

SECRET_RE = re.compile(r'id="mfa-secret">([A-Z2-7]+)<')
RECOVERY_RE = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4})</code></li>")


@asynccontextmanager
async def browser(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser: its own cookies."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5555))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def password_step(http: httpx.AsyncClient, username: str) -> httpx.Response:
    page = await http.get("/login?switch=1")
    token = LOGIN_CSRF_RE.search(page.text)
    assert token
    return await http.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )


async def code_step(http: httpx.AsyncClient, code: str) -> httpx.Response:
    page = await http.get("/mfa/verify")
    csrf = CSRF_RE.search(page.text)
    assert csrf, page.text
    return await http.post("/mfa/verify", data={"code": code, "csrf_token": csrf.group(1)})


async def events(db: Database, action: str, outcome: str, user_id: uuid.UUID) -> int:
    async with db.session() as session:
        row = await run_sql(
            session,
            "SELECT count(*) FROM audit_event WHERE action = :a AND outcome = :o AND actor_id = :u",
            {"a": action, "o": outcome, "u": user_id},
        )
        return int(row.scalar_one())


async def stale_proof(db: Database, user_id: uuid.UUID) -> None:
    """Every session of this person proved the second factor long ago (beyond step-up)."""
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE staff_session SET mfa_at = :old WHERE user_id = :uid",
            {"old": utcnow() - timedelta(hours=1), "uid": user_id},
        )


async def test_enrolment_then_sign_in_asks_the_code_and_the_session_waits_for_it(
    app: object, db: Database
) -> None:
    person = await new_staff(db, "aml_analyst")  # a role that does not require one
    assert person.username not in TOTP_SECRETS
    async with browser(app) as web:
        await web_login(web, person.username)
        page = await web.get("/mfa/enrol")
        assert page.status_code == 200
        assert 'src="data:image/svg+xml' in page.text  # the QR code (the CSP allows data:)
        secret = SECRET_RE.search(page.text)
        csrf = CSRF_RE.search(page.text)
        token = MFA_ENROLMENT_RE.search(page.text)
        assert secret and csrf and token
        form = {"csrf_token": csrf.group(1), "enrolment": token.group(1)}
        async with db.session() as session:  # showing the page stored nothing
            assert await session.get(StaffMfa, person.actor.user_id) is None
        wrong = await web.post("/mfa/enrol", data={**form, "code": "000000"})
        assert wrong.status_code == 422
        assert "does not match" in wrong.text
        assert secret.group(1) in wrong.text  # the same key, to try again
        forged = await web.post("/mfa/enrol", data={**form, "enrolment": "k1:AAAA", "code": "1"})
        assert forged.status_code == 422
        code = pyotp.TOTP(secret.group(1)).now()
        done = await web.post("/mfa/enrol", data={**form, "code": code})
        assert done.status_code == 200, done.text
        recovery = RECOVERY_RE.findall(done.text)
        assert len(recovery) == mfa.RECOVERY_CODES
    # Stored: the secret encrypted, the recovery codes hashed.
    async with db.session() as session:
        row = await session.get(StaffMfa, person.actor.user_id)
        assert row is not None and row.confirmed_at is not None
        assert secret.group(1) not in row.secret_encrypted
        hashes = (
            await run_sql(
                session,
                "SELECT code_hash FROM staff_mfa_recovery WHERE user_id = :u",
                {"u": person.actor.user_id},
            )
        ).all()
        assert recovery[0] not in {h[0] for h in hashes}
    assert await events(db, "mfa.enrolled", "success", person.actor.user_id) == 1
    assert await events(db, "mfa.enrolled", "denied", person.actor.user_id) == 1

    async with browser(app) as web:
        first = await password_step(web, person.username)
        assert first.status_code == 303
        assert first.headers["location"].startswith("/mfa/verify")
        # Not usable before the code: every page asks to sign in.
        inbox = await web.get("/inbox")
        assert inbox.status_code == 303 and inbox.headers["location"].startswith("/login")
        # The code enrolment used is not accepted again (replay), nor a wrong one.
        replayed = await code_step(web, code)
        assert replayed.status_code == 422
        assert "already used" in replayed.text
        good = await code_step(web, recovery[0])  # a recovery code, once
        assert good.status_code == 303
        assert (await web.get("/inbox")).status_code == 200
    assert await events(db, "auth.second_factor", "denied", person.actor.user_id) == 1
    assert await events(db, "auth.second_factor", "success", person.actor.user_id) == 1
    async with browser(app) as web:
        await password_step(web, person.username)
        again = await code_step(web, recovery[0])
        assert again.status_code == 422  # each recovery code works once


async def test_a_role_that_needs_a_factor_is_sent_to_enrol_before_anything_else(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    person = await new_staff(db, "ops_manager")  # new_staff enrolled them: undo that
    async with db.transaction() as session:
        await run_sql(
            session, "DELETE FROM staff_mfa WHERE user_id = :u", {"u": person.actor.user_id}
        )
    TOTP_SECRETS.pop(person.username)
    token = await http.post(
        "/api/v1/auth/token", json={"username": person.username, "password": PASSWORD}
    )
    assert token.status_code == 403
    assert token.json()["error"] == "enrol_second_factor"
    async with browser(app) as web:
        signed = await password_step(web, person.username)
        assert signed.headers["location"] == "/mfa/enrol"
        for path in ("/inbox", "/changes", "/cases"):
            page = await web.get(path)
            assert page.status_code == 303 and page.headers["location"] == "/mfa/enrol", path
        assert (await web.get("/mfa/enrol")).status_code == 200


async def _fee_change_for(
    http: httpx.AsyncClient, db: Database, checker_headers: dict[str, str] | None = None
) -> tuple[str, uuid.UUID]:
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    created = await http.post(
        "/api/v1/changes",
        json=proposal("fee", plan.fee_id, fixed_amount="2.75"),
        headers=await api_headers(http, maker.username),
    )
    assert created.status_code == 201, created.text
    workflow_id = created.json()["workflow_id"]
    task = await task_of(db, workflow_id)
    return workflow_id, task.id


async def test_web_approval_asks_for_a_fresh_code_and_refuses_a_wrong_one(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    _, task_id = await _fee_change_for(http, db)
    checker = await new_staff(db, "ops_manager")
    async with browser(app) as web:
        csrf = await web_login(web, checker.username)
        claimed = await web.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf})
        assert claimed.status_code in (200, 303), claimed.text
        await stale_proof(db, checker.actor.user_id)
        form = {"outcome": "approve", "comment": "Checked", "csrf_token": csrf}
        asked = await web.post(f"/tasks/{task_id}/decision", data=form)
        assert asked.status_code == 422, asked.text
        assert "second factor" in asked.text
        assert 'name="second_factor"' in asked.text
        wrong = await web.post(
            f"/tasks/{task_id}/decision", data={**form, "second_factor": "000000"}
        )
        assert wrong.status_code == 422
        assert "wrong or was already used" in wrong.text
        assert await events(db, "auth.step_up", "denied", checker.actor.user_id) == 1
        assert await events(db, "task.decide", "denied", checker.actor.user_id) >= 1
        done = await web.post(
            f"/tasks/{task_id}/decision",
            data={**form, "second_factor": await totp_code(checker.username)},
        )
        assert done.status_code == 303, done.text
        assert "decided-approve" in done.headers["location"]
    assert await events(db, "auth.step_up", "success", checker.actor.user_id) == 1
    assert await audit_count(db, "task.decided", task_id) == 1


async def test_api_approval_needs_a_token_with_a_fresh_code(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, task_id = await _fee_change_for(http, db)
    checker = await new_staff(db, "ops_manager")
    # Someone with a factor gets no token without the code.
    bare = await http.post(
        "/api/v1/auth/token", json={"username": checker.username, "password": PASSWORD}
    )
    assert bare.status_code == 401
    assert bare.json()["error"] == "second_factor_required"
    old = await api_headers(http, checker.username)
    assert (await http.post(f"/api/v1/tasks/{task_id}/claim", headers=old)).status_code == 200
    await stale_proof(db, checker.actor.user_id)
    refused = await http.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "approve", "comment": "Checked"},
        headers=old,
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "step_up_required"
    assert "totp" in refused.json()["message"]
    fresh = await api_headers(http, checker.username)  # password and a current code
    done = await http.post(
        f"/api/v1/tasks/{task_id}/decision",
        json={"outcome": "approve", "comment": "Checked"},
        headers=fresh,
    )
    assert done.status_code == 200, done.text


async def test_a_decision_sent_straight_to_temporal_without_a_fresh_factor_is_refused(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment
) -> None:
    workflow_id, task_id = await _fee_change_for(http, db)
    checker = await new_staff(db, "ops_manager")
    await task_service.claim_task(db, checker.actor, task_id)
    await stale_proof(db, checker.actor.user_id)
    forged = DecisionInput(
        task_id=task_id,
        actor_id=checker.actor.user_id,
        actor_name=checker.username,
        actor_roles=sorted(checker.actor.roles),
        outcome="approve",
        comment="Straight to the engine",
        origin=Origin(channel="system"),
    )
    handle = temporal_env.client.get_workflow_handle(workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide", forged, id=f"forged-{uuid.uuid4().hex[:8]}")
    assert mfa.STEP_UP_REQUIRED in repr(refused.value.cause) or "second factor" in str(
        refused.value.cause
    )
    assert await audit_count(db, "task.decided", task_id) == 0


async def test_an_admin_resets_a_second_factor_but_not_their_own(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    person = await new_staff(db, "mlro")
    headers = await api_headers(http, admin.username)
    own = await http.post(
        f"/api/v1/staff/{admin.actor.user_id}/second-factor/reset", headers=headers
    )
    assert own.status_code == 403
    done = await http.post(
        f"/api/v1/staff/{person.actor.user_id}/second-factor/reset", headers=headers
    )
    assert done.status_code == 204, done.text
    async with db.session() as session:
        assert (
            await session.exec(select(StaffMfa).where(StaffMfa.user_id == person.actor.user_id))
        ).first() is None
    assert await audit_count(db, "mfa.reset", person.actor.user_id) == 1
    # The staff page's section, and its reset form (another person with a factor).
    other = await new_staff(db, "risk_manager")
    async with browser(app) as web:
        csrf = await web_login(web, admin.username)
        section = await web.get(f"/admin/staff/{other.actor.user_id}/second-factor")
        assert section.status_code == 200
        assert "On" in section.text and 'id="reset-second-factor"' in section.text
        gone = await web.post(
            f"/admin/staff/{other.actor.user_id}/second-factor/reset", data={"csrf_token": csrf}
        )
        assert gone.status_code == 303
        section = await web.get(f"/admin/staff/{other.actor.user_id}/second-factor")
        assert "Not set up" in section.text and "reset-second-factor" not in section.text
    assert await audit_count(db, "mfa.reset", other.actor.user_id) == 1
    analyst = await new_staff(db, "aml_analyst")
    refused = await http.post(
        f"/api/v1/staff/{person.actor.user_id}/second-factor/reset",
        headers=await api_headers(http, analyst.username),
    )
    assert refused.status_code == 403
