"""Notifications in the app: a person sees those addressed to them and to their roles, the
unread count, and marks them read (a POST, audited; reading changes nothing)."""

from __future__ import annotations

import uuid

import httpx
from sqlmodel import select

from core.db import Database
from core.settings import Settings
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Notification
from tests.aml_cases import alerted_customer
from tests.helpers import api_headers, new_staff, web_login


async def _notify(
    db: Database,
    *,
    role: str | None = None,
    to: uuid.UUID | None = None,
    subject: str,
    case_id: uuid.UUID | None = None,
) -> None:
    async with db.transaction() as session:
        session.add(
            Notification(
                dedupe_key=f"test:{uuid.uuid4()}",
                recipient_role=role,
                recipient_id=to,
                subject=subject,
                body=f"{subject} — details",
                case_id=case_id,
                created_at=utcnow(),
            )
        )


async def test_staff_see_their_notifications_and_mark_them_read(
    http: httpx.AsyncClient, db: Database, settings: Settings, temporal_env: object, worker: None
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)  # type: ignore[attr-defined]
    role = "mlro"
    mlro = await new_staff(db, role)
    other = await new_staff(db, "aml_investigator")
    tag = uuid.uuid4().hex[:8]
    await _notify(db, to=mlro.actor.user_id, subject=f"Personal {tag}")
    await _notify(db, role=role, subject=f"SAR decision due soon {tag}", case_id=routed.case_id)
    await _notify(db, to=other.actor.user_id, subject=f"Not yours {tag}")

    headers = await api_headers(http, mlro.username)
    listed = (await http.get("/api/v1/notifications", headers=headers)).json()
    subjects = [i["subject"] for i in listed["items"]]
    assert f"Personal {tag}" in subjects and f"SAR decision due soon {tag}" in subjects
    assert f"Not yours {tag}" not in subjects
    assert listed["unread"] >= 2
    with_case = next(i for i in listed["items"] if i["subject"].startswith("SAR decision"))
    assert with_case["case_id"] == str(routed.case_id) and with_case["case_reference"]

    web = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    async with web:
        csrf = await web_login(web, mlro.username)
        page = await web.get("/notifications")
        assert page.status_code == 200 and f"SAR decision due soon {tag}" in page.text
        assert f"Not yours {tag}" not in page.text
        badge = await web.get("/notifications/badge")
        assert str(listed["unread"]) in badge.text
        # Reading changed nothing: still unread.
        assert (await http.get("/api/v1/notifications", headers=headers)).json()["unread"] >= 2

        refused = await web.post("/notifications/seen", data={})
        assert refused.status_code == 403  # no CSRF token
        marked = await web.post("/notifications/seen", data={"csrf_token": csrf})
        assert marked.status_code == 303
    after = (await http.get("/api/v1/notifications", headers=headers)).json()
    assert after["unread"] == 0 and all(not i["unread"] for i in after["items"])
    async with db.session() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "notifications.seen",
                    AuditEvent.object_id == str(mlro.actor.user_id),
                )
            )
        ).all()
    assert len(events) == 1

    await _notify(db, role=role, subject=f"Later {tag}")
    again = (await http.get("/api/v1/notifications", headers=headers)).json()
    # Unread again from the next one on (other tests' workflows may notify mlro meanwhile).
    assert again["unread"] >= 1 and again["items"][0]["subject"] == f"Later {tag}"
    assert not next(i for i in again["items"] if i["subject"] == f"Personal {tag}")["unread"]
