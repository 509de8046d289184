"""Staff administration: invitations with one-time links, disabling, unlocking, password
resets and sessions, in the web and the JSON API, each audited with the acting person."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import col, select

from core.db import Database, run_sql
from core.mail import MailServer
from demo import seed
from demo.staff_admin import seed_staff_admin
from identity import invitations
from identity import staff as staff_service
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Notification
from models.invitations import StaffPasswordLink
from models.staff import StaffSession, StaffUser
from tests.conftest import create_database
from tests.helpers import (
    CSRF_RE,
    PASSWORD,
    api_headers,
    audit_count,
    new_staff,
    notification,
    web_login,
)

LINK_RE = re.compile(r'id="set-password-link" readonly value="([^"]+)"')
NEW_PASSWORD = "a-brand-new-passphrase-42"


@asynccontextmanager
async def browser(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser: its own cookies."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.21", 5555))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def _set_password(
    client: httpx.AsyncClient, url: str, password: str = NEW_PASSWORD, repeat: str | None = None
) -> httpx.Response:
    page = await client.get(_path(url))
    assert page.status_code == 200, page.text
    csrf = CSRF_RE.search(page.text)
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert csrf and token
    return await client.post(
        "/set-password",
        data={
            "csrf_token": csrf.group(1),
            "token": token.group(1),
            "password": password,
            "repeat": password if repeat is None else repeat,
        },
    )


async def _actor_of(db: Database, action: str, object_id: uuid.UUID) -> list[str]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent.actor).where(
                AuditEvent.action == action,
                AuditEvent.object_id == str(object_id),
                AuditEvent.outcome == "success",
            )
        )
        return list(rows.all())


async def test_an_admin_invites_a_person_who_sets_a_password_once_and_signs_in(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    username = f"new-{uuid.uuid4().hex[:8]}"
    csrf = await web_login(http, admin.username)
    form = await http.get("/admin/staff/invite")
    assert form.status_code == 200
    bad = await http.post(
        "/admin/staff/invite",
        data={"csrf_token": csrf, "username": "Bad Name", "display_name": "", "email": "nope"},
    )
    assert bad.status_code == 422
    for message in ("lower-case letters", "give the person", "an e-mail address"):
        assert message in bad.text
    made = await http.post(
        "/admin/staff/invite",
        data={
            "csrf_token": csrf,
            "username": username,
            "display_name": "Nadia Invited",
            "email": "nadia@bank.example",
        },
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    link = LINK_RE.search(made.text)
    assert link, made.text
    url = link.group(1)
    assert "no SMTP server" in made.text  # the test app has none: the admin passes it on
    async with db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).one()
        stored = (
            await session.exec(
                select(StaffPasswordLink).where(StaffPasswordLink.user_id == user.id)
            )
        ).one()
        outbox = (
            await session.exec(
                select(Notification).where(Notification.dedupe_key == f"staff-link:{stored.id}")
            )
        ).one()
    token = url.rsplit("/", 1)[1]
    assert stored.token_hash != token and token not in outbox.body  # only the hash is kept
    assert outbox.recipient_id == user.id
    assert stored.expires_at - stored.created_at == timedelta(hours=72)
    assert await _actor_of(db, "staff.invited", user.id) == [admin.username]
    # No roles, no usable password yet.
    listed = await http.get(
        f"/api/v1/staff/{user.id}", headers=await api_headers(http, admin.username)
    )
    assert listed.json()["roles"] == [] and listed.json()["status"] == "invited"
    refused = await http.post("/api/v1/auth/token", json={"username": username, "password": "!"})
    assert refused.status_code == 401

    async with browser(app) as nadia:
        weak = await _set_password(nadia, url, password="short")
        assert weak.status_code == 422 and "at least 12 characters" in weak.text
        differ = await _set_password(nadia, url, repeat="something-else-entirely")
        assert differ.status_code == 422 and "differ" in differ.text
        done = await _set_password(nadia, url)
        assert done.status_code == 200 and 'id="password-set"' in done.text
        again = await nadia.get(_path(url))
        assert again.status_code == 404 and 'id="invalid-link"' in again.text
        await web_login(nadia, username, NEW_PASSWORD)
    assert await _actor_of(db, "staff.password_set", user.id) == [username]


async def test_the_invitation_reaches_the_smtp_server_and_the_outbox_says_sent(
    db: Database,
) -> None:
    received: list[Message] = []

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            assert isinstance(envelope.content, bytes)
            received.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        admin = await new_staff(db, "admin")
        issued = await invitations.invite(
            db,
            username=f"mail-{uuid.uuid4().hex[:8]}",
            display_name="Mia Mail",
            email="mia@bank.example",
            actor=admin.actor.ref,
        )
        url = f"http://bo.example/set-password/{issued.token}"
        server = MailServer(host="127.0.0.1", port=port, sender="bo@bank.example")
        assert await invitations.deliver(db, server, issued, url) == "sent"
    finally:
        controller.stop()
    assert len(received) == 1 and received[0]["To"] == "mia@bank.example"
    assert url in received[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    note = await notification(db, f"staff-link:{issued.link_id}")
    async with db.session() as session:
        link = await session.get(StaffPasswordLink, issued.link_id)
    assert note.status == "sent" and link is not None and link.delivery == "sent"
    # Down: recorded as failed, with the reason.
    again = await invitations.reset_password(db, user_id=issued.user_id, actor=admin.actor.ref)
    gone = MailServer(host="127.0.0.1", port=port, sender="bo@bank.example")
    outcome = await invitations.deliver(db, gone, again, url)
    assert outcome.startswith("failed:")


async def test_disabling_a_signed_in_person_ends_her_session_and_her_api_token(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    analyst = await new_staff(db, "aml_analyst")
    token = await api_headers(http, analyst.username)
    async with browser(app) as her:
        await web_login(her, analyst.username)
        assert (await her.get("/inbox")).status_code == 200
        csrf = await web_login(http, admin.username)
        page = await http.get(f"/admin/staff/{analyst.actor.user_id}")
        assert 'id="disable-staff"' in page.text and "API token" in page.text
        done = await http.post(
            f"/admin/staff/{analyst.actor.user_id}/disable", data={"csrf_token": csrf}
        )
        assert done.status_code == 303
        after = await her.get("/inbox")
        assert after.status_code == 303 and after.headers["location"].startswith("/login")
    assert (await http.get("/api/v1/cases", headers=token)).status_code == 401
    assert await _actor_of(db, "staff.disabled", analyst.actor.user_id) == [admin.username]
    # An open set-password link dies with the account.
    invited = await invitations.invite(
        db,
        username=f"gone-{uuid.uuid4().hex[:8]}",
        display_name="Gia Gone",
        email="gia@bank.example",
        actor=admin.actor.ref,
    )
    gone = await http.post(f"/admin/staff/{invited.user_id}/disable", data={"csrf_token": csrf})
    assert gone.status_code == 303
    await http.post(f"/admin/staff/{invited.user_id}/enable", data={"csrf_token": csrf})
    assert await invitations.link_holder(db, invited.token) is None
    shown = await http.get(f"/admin/staff/{analyst.actor.user_id}?notice=disabled")
    assert "every session and API token ended" in shown.text
    assert 'id="enable-staff"' in shown.text and "No live session" in shown.text
    # Re-enabled: she signs in again; nothing revoked comes back.
    enabled = await http.post(
        f"/admin/staff/{analyst.actor.user_id}/enable", data={"csrf_token": csrf}
    )
    assert enabled.status_code == 303
    assert (await http.get("/api/v1/cases", headers=token)).status_code == 401
    await api_headers(http, analyst.username)


async def test_an_admin_cannot_disable_himself(http: httpx.AsyncClient, db: Database) -> None:
    admin = await new_staff(db, "admin")
    headers = await api_headers(http, admin.username)
    own = await http.post(f"/api/v1/staff/{admin.actor.user_id}/disable", headers=headers)
    assert own.status_code == 409 and own.json()["error"] == "own_account"


async def test_unlock_ends_a_sign_in_lockout(http: httpx.AsyncClient, db: Database) -> None:
    admin = await new_staff(db, "admin")
    person = await new_staff(db, "support")
    for _ in range(5):
        bad = await http.post(
            "/api/v1/auth/token", json={"username": person.username, "password": "wrong-wrong"}
        )
        assert bad.status_code == 401
    locked = await http.post(
        "/api/v1/auth/token", json={"username": person.username, "password": PASSWORD}
    )
    assert locked.status_code == 429
    headers = await api_headers(http, admin.username)
    shown = await http.get(f"/api/v1/staff/{person.actor.user_id}", headers=headers)
    assert shown.json()["locked_seconds"] > 0
    unlocked = await http.post(f"/api/v1/staff/{person.actor.user_id}/unlock", headers=headers)
    assert unlocked.status_code == 200 and unlocked.json()["failed_attempts_cleared"] == 5
    await api_headers(http, person.username)
    assert await _actor_of(db, "staff.unlocked", person.actor.user_id) == [admin.username]


async def test_a_password_reset_stops_the_old_password_ends_sessions_and_voids_old_links(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    person = await new_staff(db)  # no roles yet: an admin may be shown their link
    token = await api_headers(http, person.username)
    headers = await api_headers(http, admin.username)
    first = await http.post(f"/api/v1/staff/{person.actor.user_id}/reset-password", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["sessions_ended"] == 1 and first.json()["purpose"] == "reset"
    assert (await http.get("/api/v1/cases", headers=token)).status_code == 401
    old = await http.post(
        "/api/v1/auth/token", json={"username": person.username, "password": PASSWORD}
    )
    assert old.status_code == 401
    second = await http.post(
        f"/api/v1/staff/{person.actor.user_id}/reset-password", headers=headers
    )
    async with browser(app) as her:
        voided = await her.get(_path(first.json()["set_password_url"]))
        assert voided.status_code == 404
        assert (await _set_password(her, second.json()["set_password_url"])).status_code == 200
    await api_headers(http, person.username, NEW_PASSWORD)
    assert await audit_count(db, "staff.password_reset", person.actor.user_id) == 2


async def test_the_reset_link_of_someone_holding_roles_goes_only_to_their_own_address(
    http: httpx.AsyncClient, db: Database
) -> None:
    """Otherwise one admin resets the other's password, reads the link and approves their own
    proposals as the other: the link is never shown to whoever asked for it."""
    admin, other = await new_staff(db, "admin"), await new_staff(db, "admin")
    headers = await api_headers(http, admin.username)
    # No mail server here (and test staff have no address): refused, nothing changed.
    refused = await http.post(
        f"/api/v1/staff/{other.actor.user_id}/reset-password", headers=headers
    )
    assert refused.status_code == 409 and refused.json()["error"] == "reset_needs_email"
    assert "backoffice user reset-password" in refused.json()["message"]
    await api_headers(http, other.username)  # the password still works
    assert await audit_count(db, "staff.password_reset", other.actor.user_id) == 0
    # With an address and a mail server, the link exists only for the e-mail.
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE staff_user SET email = 'other@bank.example' WHERE id = :id",
            {"id": other.actor.user_id},
        )
    issued = await invitations.reset_password(
        db, user_id=other.actor.user_id, actor=admin.actor.ref, mail_ready=True
    )
    assert issued.private and issued.purpose == "reset"
    # The operator on the server (the CLI) is shown it.
    operator = await invitations.reset_password(
        db, user_id=other.actor.user_id, actor=admin.actor.ref, by_operator=True
    )
    assert not operator.private


async def test_an_expired_link_is_refused_and_the_refusal_audited(
    app: object, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    issued = await invitations.invite(
        db,
        username=f"late-{uuid.uuid4().hex[:8]}",
        display_name="Leo Late",
        email="leo@bank.example",
        actor=admin.actor.ref,
    )
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE staff_password_link SET expires_at = :t WHERE id = :id",
            {"t": utcnow() - timedelta(seconds=1), "id": issued.link_id},
        )
    async with browser(app) as leo:
        page = await leo.get(f"/set-password/{issued.token}")
        assert page.status_code == 404 and "expired" in page.text
        # A post with a valid CSRF cookie but a dead token.
        fresh = await invitations.invite(
            db,
            username=f"live-{uuid.uuid4().hex[:8]}",
            display_name="Liv Live",
            email="liv@bank.example",
            actor=admin.actor.ref,
        )
        form = await leo.get(f"/set-password/{fresh.token}")
        csrf = CSRF_RE.search(form.text)
        assert csrf
        refused = await leo.post(
            "/set-password",
            data={
                "csrf_token": csrf.group(1),
                "token": issued.token,
                "password": NEW_PASSWORD,
                "repeat": NEW_PASSWORD,
            },
        )
        assert refused.status_code == 404
        rid = refused.headers["x-request-id"]
        no_csrf = await leo.post(
            "/set-password", data={"token": fresh.token, "password": NEW_PASSWORD}
        )
        assert no_csrf.status_code == 403
    async with db.session() as session:
        events = (await session.exec(select(AuditEvent).where(AuditEvent.request_id == rid))).all()
    assert [(e.action, e.outcome) for e in events] == [("staff.password_set", "denied")]
    assert all(issued.token not in (e.reason or "") for e in events)


async def test_an_admin_lists_and_revokes_one_session(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    person = await new_staff(db, "disputes_agent")
    first = await api_headers(http, person.username)
    second = await api_headers(http, person.username)
    headers = await api_headers(http, admin.username)
    shown = await http.get(f"/api/v1/staff/{person.actor.user_id}", headers=headers)
    sessions = shown.json()["sessions"]
    assert len(sessions) == 2 and {s["kind"] for s in sessions} == {"api"}
    async with db.session() as session:
        newest = (
            await session.exec(
                select(StaffSession.id)
                .where(StaffSession.user_id == person.actor.user_id)
                .order_by(col(StaffSession.created_at))
            )
        ).all()
    revoked = await http.post(
        f"/api/v1/staff/{person.actor.user_id}/sessions/{newest[0]}/revoke", headers=headers
    )
    assert revoked.status_code == 204
    assert (await http.get("/api/v1/cases", headers=first)).status_code == 401
    assert (await http.get("/api/v1/cases", headers=second)).status_code == 200
    again = await http.post(
        f"/api/v1/staff/{person.actor.user_id}/sessions/{newest[0]}/revoke", headers=headers
    )
    assert again.status_code == 409
    # Someone else's session id under this person's address is not found.
    other = await http.post(
        f"/api/v1/staff/{admin.actor.user_id}/sessions/{newest[1]}/revoke", headers=headers
    )
    assert other.status_code == 404
    assert await audit_count(db, "staff.session_revoked", person.actor.user_id) == 1


async def test_auditors_read_staff_but_manage_nothing(
    http: httpx.AsyncClient, db: Database
) -> None:
    auditor = await new_staff(db, "auditor")
    person = await new_staff(db, "support")
    headers = await api_headers(http, auditor.username)
    assert (
        await http.get(f"/api/v1/staff/{person.actor.user_id}", headers=headers)
    ).status_code == 200
    for action in ("disable", "unlock", "reset-password"):
        refused = await http.post(f"/api/v1/staff/{person.actor.user_id}/{action}", headers=headers)
        assert refused.status_code == 403, action
    invite = await http.post(
        "/api/v1/staff/invitations",
        json={"username": "x-y", "display_name": "X", "email": "x@bank.example"},
        headers=headers,
    )
    assert invite.status_code == 403
    assert await audit_count(db, "staff.manage", person.actor.user_id, "denied") == 3
    csrf = await web_login(http, auditor.username)
    page = await http.get(f"/admin/staff/{person.actor.user_id}")
    assert page.status_code == 200 and "disable-staff" not in page.text
    assert (await http.get("/admin/staff/invite")).status_code == 403
    assert csrf


async def test_the_staff_list_filters_sorts_and_pages(
    http: httpx.AsyncClient, db: Database
) -> None:
    admin = await new_staff(db, "admin")
    tag = uuid.uuid4().hex[:6]
    made = [await new_staff(db, "finance_ops", prefix=f"list{tag}") for _ in range(3)]
    await invitations.invite(
        db,
        username=f"list{tag}-invited",
        display_name="Ivy Invited",
        email="ivy@bank.example",
        actor=admin.actor.ref,
    )
    headers = await api_headers(http, admin.username)
    everyone = await http.get(f"/api/v1/staff?q=list{tag}&sort=username", headers=headers)
    names = [s["username"] for s in everyone.json()["items"]]
    assert everyone.json()["total"] == 4 and names == sorted(names)
    backwards = await http.get(f"/api/v1/staff?q=list{tag}&desc=true", headers=headers)
    assert [s["username"] for s in backwards.json()["items"]] == names[::-1]
    invited = await http.get(f"/api/v1/staff?q=list{tag}&status=invited", headers=headers)
    assert [s["username"] for s in invited.json()["items"]] == [f"list{tag}-invited"]
    finance = await http.get(
        f"/api/v1/staff?q=list{tag}&role=finance_ops&per_page=2&page=2", headers=headers
    )
    assert finance.json()["total"] == 3 and len(finance.json()["items"]) == 1
    assert (await http.get("/api/v1/staff?status=nonsense", headers=headers)).status_code == 422
    await web_login(http, admin.username)
    page = await http.get(f"/admin/staff?q=list{tag}&status=active&sort=name&dir=desc")
    assert page.status_code == 200
    assert (
        all(m.username in page.text for m in made)
        and "invited" not in page.text.split('id="staff-list"')[1]
    )


async def test_the_demo_seed_has_a_second_admin_and_an_invited_person(pg_socket: Path) -> None:
    """On a database of its own: the demo's usernames are fixed."""
    urls = create_database(pg_socket, f"bo_demo_staff_{uuid.uuid4().hex[:8]}")
    owner = Database(urls.admin, application_name="tests-demo-owner")
    db = Database(urls.app, application_name="tests-demo")
    try:
        await seed.seed_staff(owner)
        assert await seed_staff_admin(db) == {"staff invitations": 1}
        assert await seed_staff_admin(db) == {"staff invitations": 0}
        admins, _ = await staff_service.list_staff(db, role="admin")
        assert {"admin.alex", "admin.ava"} <= {a.username for a in admins}
        invited, _ = await staff_service.list_staff(db, status="invited")
        assert [i.username for i in invited] == ["new.nadia"]
        assert await _actor_of(db, "staff.invited", invited[0].id) == ["admin.alex"]
    finally:
        await db.dispose()
        await owner.dispose()
