"""The audit log: one event per state-changing request, tamper evidence, least privilege."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlmodel import col, select

from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, DatabaseUrls, libpq_url, run_sql
from core.settings import Settings
from models.audit import AuditEvent
from models.changes import ChangeCreate, ChangeRequest
from models.workflow_io import Origin
from shared.errors import Unavailable
from tests.conftest import create_database
from tests.helpers import CSRF_RE, api_headers, new_plan, new_staff, proposal, task_of


# ----------------------------------------------------------------------------- one event per request
async def _events_for(db: Database, request_id: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id))
            ).all()
        )


async def test_every_state_changing_request_writes_exactly_one_event(
    http: httpx.AsyncClient, db: Database
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    mh, ch = await api_headers(http, maker.username), await api_headers(http, checker.username)
    created = await http.post(
        "/api/v1/changes", json=proposal("fee", plan.fee_id, percent="0.55"), headers=mh
    )
    task = await task_of(db, created.json()["workflow_id"])

    login_page = await http.get("/login")
    login_csrf = CSRF_RE.search(login_page.text).group(1)  # type: ignore[union-attr]
    requests: list[tuple[str, httpx.Response, str, str]] = [
        ("propose", created, "change.proposed", "success"),
        (
            "bad login",
            await http.post(
                "/login",
                data={
                    "username": maker.username,
                    "password": "wrong-password",
                    "csrf_token": login_csrf,
                },
            ),
            "auth.login",
            "denied",
        ),
        (
            "bad token",
            await http.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"}),
            "auth.token",
            "denied",
        ),
        ("no csrf", await http.post(f"/tasks/{task.id}/claim"), "http.post", "denied"),
        (
            "invalid",
            await http.post(
                "/api/v1/changes", json=proposal("fee", plan.fee_id, percent="-1"), headers=mh
            ),
            "http.post",
            "failure",
        ),
        (
            "claim",
            await http.post(f"/api/v1/tasks/{task.id}/claim", headers=ch),
            "task.claimed",
            "success",
        ),
        (
            "claim again",
            await http.post(f"/api/v1/tasks/{task.id}/claim", headers=mh),
            "task.claim",
            "denied",
        ),
        (
            "decide",
            await http.post(
                f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
            ),
            "task.decided",
            "success",
        ),
        (
            "decide again",
            await http.post(
                f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
            ),
            "task.decide",
            "denied",
        ),
        ("nowhere", await http.post("/api/v1/nowhere", headers=ch), "http.post", "denied"),
    ]
    for name, response, action, outcome in requests:
        rid = response.headers["x-request-id"]
        events = await _events_for(db, rid)
        assert len(events) == 1, (name, response.status_code, [e.action for e in events])
        event = events[0]
        assert (event.action, event.outcome) == (action, outcome), name
        assert event.origin_ip == "203.0.113.7", name
        assert event.occurred_at is not None and event.actor, name
    assert (await _events_for(db, requests[5][1].headers["x-request-id"]))[0].object_id == str(
        task.id
    )
    assert "bad credentials" in (
        (await _events_for(db, requests[1][1].headers["x-request-id"]))[0].reason or ""
    )


async def test_a_rolled_back_change_leaves_no_success_event(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from changes.commands import requests as changes

    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")

    class DownTemporal:
        async def start_workflow(self, *args: object, **kwargs: object) -> None:
            from temporalio.service import RPCError, RPCStatusCode

            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

    data = ChangeCreate(
        target_type="fee",
        target_id=plan.fee_id,
        changes={"percent": "0.65"},
        reason="This one must not survive.",
    )
    with pytest.raises(Unavailable):
        await changes.propose_change(db, DownTemporal(), settings, maker.actor, data)  # type: ignore[arg-type]
    async with db.session() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.actor == maker.username, AuditEvent.action == "change.proposed"
                )
            )
        ).all()
        rows = (
            await session.exec(select(ChangeRequest).where(ChangeRequest.target_id == plan.fee_id))
        ).all()
    assert events == [] and rows == []


# ----------------------------------------------------------------------------- tamper evidence
@pytest.fixture
async def chain(
    pg_socket: Path, tmp_path: Path
) -> AsyncIterator[tuple[Database, DatabaseUrls, Path]]:
    """A database of its own with 12 events, and an external checkpoint file."""
    urls = create_database(pg_socket, f"audit_{uuid.uuid4().hex[:8]}")
    db = Database(urls.app, pool_size=2)
    for n in range(12):
        async with db.transaction() as session:
            await audit.record(
                session,
                action="test.event",
                actor=ActorRef(None, f"user{n}"),
                object_type="thing",
                object_id=n,
                origin=Origin(ip="10.0.0.1"),
                details={"n": n, "amount": "12.30"},
            )
    yield db, urls, tmp_path / "checkpoint.json"
    await db.dispose()


async def _verify(db: Database, checkpoint: Path) -> audit.VerifyResult:
    async with db.session() as session:
        return await audit.verify(session, checkpoint_file=checkpoint)


def _as_superuser(urls: DatabaseUrls, *statements: str) -> None:
    with psycopg.connect(libpq_url(urls.admin), autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_event DISABLE TRIGGER ALL")
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("ALTER TABLE audit_event ENABLE TRIGGER ALL")


async def _ids(db: Database) -> list[int]:
    async with db.session() as session:
        return list((await session.exec(select(AuditEvent.id).order_by(col(AuditEvent.id)))).all())  # type: ignore[arg-type]


async def test_an_intact_chain_verifies(chain: tuple[Database, DatabaseUrls, Path]) -> None:
    db, _, checkpoint = chain
    result = await _verify(db, checkpoint)
    assert result.ok and result.checked == 12 and result.first_bad is None


@pytest.mark.parametrize("attack", ["edit", "delete", "insert", "reorder"])
async def test_tampering_with_any_row_names_that_row(
    chain: tuple[Database, DatabaseUrls, Path], attack: str
) -> None:
    db, urls, checkpoint = chain
    ids = await _ids(db)
    target = ids[5]
    if attack == "edit":
        _as_superuser(urls, f"UPDATE audit_event SET reason = 'nothing to see' WHERE id = {target}")
        expected = target
    elif attack == "delete":
        _as_superuser(urls, f"DELETE FROM audit_event WHERE id = {target}")
        expected = ids[6]
    elif attack == "insert":
        _as_superuser(
            urls,
            "INSERT INTO audit_event (id, occurred_at, actor, action, outcome, details, prev_hash, hash) "
            f"SELECT {target} * 10 + 1000, occurred_at, 'mallory', 'test.event', 'success', details, "
            f"hash, md5(random()::text) || md5(random()::text) FROM audit_event WHERE id = {ids[-1]}",
        )
        expected = target * 10 + 1000
    else:
        _as_superuser(
            urls,
            f"UPDATE audit_event SET id = -1 WHERE id = {ids[3]}",
            f"UPDATE audit_event SET id = {ids[3]} WHERE id = {ids[4]}",
            f"UPDATE audit_event SET id = {ids[4]} WHERE id = -1",
        )
        expected = ids[3]
    result = await _verify(db, checkpoint)
    assert not result.ok
    assert result.first_bad == expected
    assert result.reason


async def test_a_truncated_or_rewritten_tail_is_caught_by_the_checkpoint(
    chain: tuple[Database, DatabaseUrls, Path],
) -> None:
    db, urls, checkpoint = chain
    result = await _verify(db, checkpoint)
    async with db.transaction() as session:
        await audit.write_checkpoint(session, result, checkpoint_file=checkpoint)
    ids = await _ids(db)
    _as_superuser(urls, f"DELETE FROM audit_event WHERE id >= {ids[-2]}")
    truncated = await _verify(db, checkpoint)
    assert not truncated.ok
    assert truncated.first_bad == ids[-1]
    assert "truncated" in (truncated.reason or "")

    # The attacker also wipes the checkpoint table: the file outside the database remains.
    _as_superuser(
        urls,
        "ALTER TABLE audit_checkpoint DISABLE TRIGGER ALL",
        "DELETE FROM audit_checkpoint",
        "ALTER TABLE audit_checkpoint ENABLE TRIGGER ALL",
    )
    assert (await _verify(db, checkpoint)).first_bad == ids[-1]


def test_cli_verify_exits_non_zero_and_names_the_row(
    chain: tuple[Database, DatabaseUrls, Path], settings: Settings
) -> None:
    _, urls, checkpoint = chain
    with psycopg.connect(libpq_url(urls.admin)) as conn:
        target = conn.execute("SELECT id FROM audit_event ORDER BY id OFFSET 7 LIMIT 1").fetchone()[
            0
        ]  # type: ignore[index]
    env = {
        **os.environ,
        "DATABASE_URL": urls.app,
        "DATABASE_ADMIN_URL": urls.admin,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "AUDIT_CHECKPOINT_FILE": str(checkpoint),
        "ENVIRONMENT": "test",
    }
    ok = subprocess.run(
        [sys.executable, "-m", "core.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "OK: 12 audit events verified" in ok.stdout
    _as_superuser(urls, f"UPDATE audit_event SET actor = 'someone else' WHERE id = {target}")
    broken = subprocess.run(
        [sys.executable, "-m", "core.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode == 1
    assert f"BROKEN at event {target}" in broken.stdout


async def test_verify_endpoint_for_auditors_only(http: httpx.AsyncClient, db: Database) -> None:
    auditor = await new_staff(db, "auditor")
    maker = await new_staff(db, "product_manager")
    response = await http.get(
        "/api/v1/audit/verify", headers=await api_headers(http, auditor.username)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["first_bad"] is None and body["checked"] > 0
    refused = await http.get(
        "/api/v1/audit/verify", headers=await api_headers(http, maker.username)
    )
    assert refused.status_code == 403


# ----------------------------------------------------------------------------- least privilege
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET reason = 'x' WHERE id = (SELECT min(id) FROM audit_event)",
        "DELETE FROM audit_event WHERE id = (SELECT min(id) FROM audit_event)",
        "TRUNCATE audit_event",
        "UPDATE decision SET outcome = 'approve'",
        "DELETE FROM decision",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "DROP TABLE audit_event",
    ],
)
async def test_the_app_role_cannot_rewrite_history(db: Database, statement: str) -> None:
    async with db.transaction() as session:
        await audit.record(session, action="test.privilege", actor=ActorRef(None, "probe"))
    with pytest.raises(Exception) as refused:
        async with db.transaction() as session:
            await run_sql(session, statement)
    assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value)


async def test_even_the_owner_is_stopped_by_the_trigger(admin_db: Database) -> None:
    with pytest.raises(Exception, match="append-only"):
        async with admin_db.transaction() as session:
            await run_sql(
                session,
                "UPDATE audit_event SET reason = 'x' WHERE id = (SELECT min(id) FROM audit_event)",
            )
