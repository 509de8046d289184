"""`/api/v1/reconciliation` against the real services: a system posts a statement (202 and
where to follow it), the same file twice is refused naming the first, bad input says
which field, roles are enforced (refusals audited), and a break is resolved through the
API under the same rules as the pages."""

from __future__ import annotations

import uuid

import httpx
from sqlmodel import col, select

from core.db import Database
from models.audit import AuditEvent
from models.cases import Case
from models.reconciliation import ReconBreak, ReconStatement
from reconciliation.rules import break_workflow_id, resolve_key
from tests.helpers import api_headers, eventually, new_staff, task_of
from tests.recon_data import recon_setup


async def _headers(
    http: httpx.AsyncClient, db: Database, *roles: str
) -> tuple[dict[str, str], uuid.UUID]:
    user = await new_staff(db, *roles)
    return await api_headers(http, user.username), user.actor.user_id


async def _matched(db: Database, statement_id: str) -> ReconStatement:
    async def probe() -> ReconStatement | None:
        async with db.session() as session:
            s = await session.get(ReconStatement, uuid.UUID(statement_id))
        return s if s is not None and s.status == "matched" and s.records_checked_at else None

    return await eventually(probe, what="the statement to be reconciled")


async def test_a_system_posts_a_statement_and_follows_it_to_reconciled(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers, _ = await _headers(http, db, "upstream_system")
    setup = await recon_setup(db, "mt940")
    files = {"file": (setup.filename, setup.content, "application/octet-stream")}
    data = {"source_id": str(setup.source_id)}

    response = await http.post(
        "/api/v1/reconciliation/statements", data=data, files=files, headers=headers
    )
    assert response.status_code == 202, response.text
    received = response.json()
    assert received["reference"].startswith("STM-") and received["status"] == "received"
    assert response.headers["location"].endswith(received["statement_id"])

    statement = await _matched(db, received["statement_id"])
    assert statement.summary["matched_lines"] == sum(setup.sample.expected.pass_counts.values())
    followed = await http.get(response.headers["location"], headers=headers)
    assert followed.status_code == 200, followed.text
    assert followed.json()["statement"]["reference"] == received["reference"]

    again = await http.post(
        "/api/v1/reconciliation/statements", data=data, files=files, headers=headers
    )
    assert again.status_code == 409
    assert again.json()["error"] == "duplicate_statement"
    assert received["reference"] in again.json()["message"]


async def test_bad_uploads_say_which_field_and_roles_are_enforced(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers, _ = await _headers(http, db, "finance_ops")
    setup = await recon_setup(db, "csv")
    url = "/api/v1/reconciliation/statements"

    empty = await http.post(
        url, data={"source_id": str(setup.source_id)}, files={"file": ("x.csv", b"", "text/csv")},
        headers=headers,
    )  # fmt: skip
    assert empty.status_code == 422
    assert "file" in empty.json()["fields"]
    unknown = await http.post(
        url, data={"source_id": str(uuid.uuid4())}, files={"file": ("x.csv", b"a,b\n", "text/csv")},
        headers=headers,
    )  # fmt: skip
    assert unknown.status_code == 422
    assert "source_id" in unknown.json()["fields"]

    support_headers, support_id = await _headers(http, db, "support")
    denied = await http.post(
        url, data={"source_id": str(setup.source_id)},
        files={"file": (setup.filename, setup.content, "text/csv")}, headers=support_headers,
    )  # fmt: skip
    assert denied.status_code == 403
    async with db.session() as session:
        refusals = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "recon.statement_uploaded",
                    AuditEvent.actor_id == support_id,
                )
            )
        ).all()
    assert [e.outcome for e in refusals] == ["denied"]


async def test_a_break_is_resolved_through_the_api_under_the_same_rules(
    http: httpx.AsyncClient, db: Database
) -> None:
    headers, _ = await _headers(http, db, "finance_ops")
    setup = await recon_setup(db, "camt053")
    response = await http.post(
        "/api/v1/reconciliation/statements", data={"source_id": str(setup.source_id)},
        files={"file": (setup.filename, setup.content, "application/xml")}, headers=headers,
    )  # fmt: skip
    assert response.status_code == 202, response.text
    statement = await _matched(db, response.json()["statement_id"])
    async with db.session() as session:
        brk = (
            await session.exec(
                select(ReconBreak)
                .where(ReconBreak.statement_id == statement.id, ReconBreak.kind == "unmatched_line")
                .order_by(col(ReconBreak.dedupe_key))
            )
        ).first()
    assert brk is not None
    task = await task_of(db, break_workflow_id(brk.id), resolve_key(1))
    url = f"/api/v1/reconciliation/breaks/{brk.id}/resolve"
    body = {"task_id": str(task.id), "action": "explained", "reason_code": "bank_error"}

    unclaimed = await http.post(url, json=body, headers=headers)
    assert unclaimed.status_code == 409, unclaimed.text
    claimed = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    incomplete = await http.post(url, json={**body, "reason_code": None}, headers=headers)
    assert incomplete.status_code == 422
    assert "reason_code" in incomplete.json()["fields"]
    done = await http.post(url, json=body, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "explained"
    async with db.session() as session:
        case = await session.get(Case, brk.case_id)
        resolved = await session.get(ReconBreak, brk.id)
    assert case is not None and resolved is not None
    assert (case.status, resolved.resolution, resolved.reason_code) == (
        "closed", "explained", "bank_error",
    )  # fmt: skip
