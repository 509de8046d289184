"""Case notes and attachments through their doors: the JSON API, the web form, the domain,
and the database console (the app role's own connection)."""

from __future__ import annotations

import hashlib
import html
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, func, select

from audit.trail import SYSTEM
from casework import attachments
from core.db import Database, run_sql
from core.settings import Settings
from identity import staff
from models.aml import SarReport
from models.base import utcnow
from models.case_notes import AttachmentCitation, CaseAttachment
from models.cases import Case, Decision, Task
from shared.errors import Unavailable
from tests.helpers import CSRF_RE, Staff, api_headers, audit_count, new_staff, web_login

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def new_case(db: Database, case_type: str = "aml") -> Case:
    case = Case(
        reference=f"TST-{uuid.uuid4().hex[:10]}",
        case_type=case_type,
        title="Large outgoing transfer",
        subject_type="customer",
        subject_id=str(uuid.uuid4()),
        workflow_id=f"{case_type}-test-{uuid.uuid4()}",
    )
    async with db.transaction() as session:
        session.add(case)
    return case


async def upload(
    http: httpx.AsyncClient, headers: dict[str, str], case_id: uuid.UUID, name: str, data: bytes
) -> httpx.Response:
    return await http.post(
        f"/api/v1/cases/{case_id}/attachments",
        headers=headers,
        files={"file": (name, data, "application/octet-stream")},
    )


@pytest.fixture
async def team(http: httpx.AsyncClient, db: Database) -> dict[str, Any]:
    people = {
        "ana": await new_staff(db, "aml_analyst", prefix="ana"),
        "ivan": await new_staff(db, "aml_investigator", prefix="ivan"),
        "sam": await new_staff(db, "support", prefix="sam"),
        "eve": await new_staff(db, "engineer", prefix="eve"),
        "aud": await new_staff(db, "auditor", prefix="aud"),
    }
    return {
        "people": people,
        "headers": {k: await api_headers(http, s.username) for k, s in people.items()},
    }


async def test_a_note_mentioning_a_colleague_notifies_them_and_shows_escaped_on_the_case(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    ivan: Staff = team["people"]["ivan"]
    body = f"Called the branch, @{ivan.username}: <script>alert(1)</script> **not bold**"
    added = await http.post(
        f"/api/v1/cases/{case.id}/notes", headers=team["headers"]["ana"], json={"body": body}
    )
    assert added.status_code == 201, added.text
    assert added.json()["label"] == "N-1"
    assert added.json()["mentions"] == [ivan.username]

    told = (await http.get("/api/v1/notifications", headers=team["headers"]["ivan"])).json()
    mine = [n for n in told["items"] if case.reference in n["subject"]]
    assert len(mine) == 1 and "N-1" in mine[0]["body"]
    assert await audit_count(db, "case.note_added", case.id) == 1

    # On the case page: in the notes section and on the timeline, escaped, never rendered.
    await web_login(http, team["people"]["ana"].username)
    page = (await http.get(f"/cases/{case.id}")).text
    assert "<script>alert(1)</script>" not in page
    assert html.escape("<script>alert(1)</script>", quote=False) in page
    assert "**not bold**" in page and "<strong>not bold</strong>" not in page
    assert 'id="timeline-note-1"' in page


async def test_notes_are_refused_with_the_reason_for_unknown_disabled_or_outside_mentions(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    gone = await new_staff(db, "aml_analyst", prefix="gone")
    await staff.set_active(db, user_id=gone.actor.user_id, active=False, actor=SYSTEM)
    headers = team["headers"]["ana"]
    sam = team["people"]["sam"].username
    for body, why in (
        ("Ask @nobody.here-xyz about it", "is not a staff member"),
        (f"Ask @{gone.username} about it", "is disabled"),
        # support may not read an AML case: telling them would tip the customer off
        (f"Ask @{sam} about it", "may not read this case"),
        ("x" * 4001, "At most 4000 characters"),
        ("   ", "Write the note."),
        ("bell \x07 character", "control character"),
    ):
        refused = await http.post(
            f"/api/v1/cases/{case.id}/notes", headers=headers, json={"body": body}
        )
        assert refused.status_code == 422, refused.text
        assert why in refused.json()["fields"]["body"]
    assert await audit_count(db, "case.note_added", case.id) == 0
    assert await audit_count(db, "case.note_added", case.id, outcome="failure") == 6
    # An e-mail address is no mention.
    ok = await http.post(
        f"/api/v1/cases/{case.id}/notes",
        headers=headers,
        json={"body": "Customer wrote from jane@example.com"},
    )
    assert ok.status_code == 201 and ok.json()["mentions"] == []


async def test_only_the_case_workers_add_notes_and_only_its_readers_read_them(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    h = team["headers"]
    assert (
        await http.post(f"/api/v1/cases/{case.id}/notes", headers=h["ana"], json={"body": "ok"})
    ).status_code == 201
    # the auditor reads everything and writes nothing
    refused = await http.post(
        f"/api/v1/cases/{case.id}/notes", headers=h["aud"], json={"body": "x"}
    )
    assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"
    assert (await http.get(f"/api/v1/cases/{case.id}/notes", headers=h["aud"])).json()["total"] == 1
    # support cannot see AML cases; engineers see their metadata, not their narrative
    for who in ("sam", "eve"):
        assert (await http.get(f"/api/v1/cases/{case.id}/notes", headers=h[who])).status_code == 404
    # a dispute's workers may not write on an AML case, whatever the route
    agent = await new_staff(db, "disputes_agent", "aml_analyst", prefix="agent")
    dispute = await new_case(db, "dispute")
    ah = await api_headers(http, agent.username)
    assert (
        await http.post(f"/api/v1/cases/{dispute.id}/notes", headers=h["ana"], json={"body": "x"})
    ).status_code == 404
    assert (
        await http.post(f"/api/v1/cases/{dispute.id}/notes", headers=ah, json={"body": "x"})
    ).status_code == 201


async def test_a_note_is_corrected_by_a_new_one_and_both_are_found_by_search(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    url = f"/api/v1/cases/{case.id}/notes"
    h = team["headers"]["ana"]
    for i in range(3):
        body = f"Reviewed statement number {i}" + (" with passport copy" if i == 1 else "")
        assert (await http.post(url, headers=h, json={"body": body})).status_code == 201
    fix = await http.post(url, headers=h, json={"body": "Not passport: ID card.", "corrects": 2})
    assert fix.status_code == 201 and fix.json()["corrects"] == "N-2"
    wrong = await http.post(url, headers=h, json={"body": "x", "corrects": 99})
    assert wrong.status_code == 422 and "no note N-99" in wrong.json()["fields"]["corrects"]

    found = (await http.get(url, headers=h, params={"q": "passport"})).json()
    assert [n["label"] for n in found["items"]] == ["N-4", "N-2"]
    assert found["items"][1]["corrected_by"] == ["N-4"]
    paged = (await http.get(url, headers=h, params={"per_page": 2, "page": 2})).json()
    assert paged["total"] == 4 and [n["label"] for n in paged["items"]] == ["N-2", "N-1"]
    # the search page (no JavaScript needed)
    await web_login(http, team["people"]["ana"].username)
    page = await http.get(f"/cases/{case.id}/notes", params={"q": '"ID card"'})
    assert page.status_code == 200 and "1 note matching" in page.text and "N-4" in page.text


async def test_the_app_role_cannot_change_or_delete_notes_citations_or_attachment_rows(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    h = team["headers"]["ana"]
    await http.post(f"/api/v1/cases/{case.id}/notes", headers=h, json={"body": "first"})
    uploaded = await upload(http, h, case.id, "memo.pdf", PDF)
    assert uploaded.status_code == 201, uploaded.text
    aid = uploaded.json()["id"]
    for sql, refusal in (
        ("UPDATE case_note SET body = 'rewritten' WHERE case_id = :c", "permission denied"),
        ("DELETE FROM case_note WHERE case_id = :c", "permission denied"),
        ("TRUNCATE case_note", "permission denied"),
        ("DELETE FROM case_attachment WHERE case_id = :c", "permission denied"),
        ("UPDATE case_attachment SET sha256 = repeat('0', 64) WHERE case_id = :c", "never change"),
        ("UPDATE case_attachment_blob SET content = 'x' WHERE attachment_id = :a", "never change"),
        ("DELETE FROM case_attachment_blob WHERE attachment_id = :a", "its bytes are kept"),
        ("DELETE FROM case_attachment_citation", "permission denied"),
    ):
        with pytest.raises(DBAPIError, match=refusal):
            async with db.transaction() as session:
                await run_sql(session, sql, {"c": case.id, "a": aid})
    notes = (await http.get(f"/api/v1/cases/{case.id}/notes", headers=h)).json()["items"]
    assert [n["body"] for n in notes] == ["first"]


async def test_attachments_are_checked_for_size_type_and_real_content(
    http: httpx.AsyncClient, db: Database, settings: Settings, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    h = team["headers"]["ana"]
    too_big = b"%PDF-" + b"0" * settings.attachment_max_bytes
    for name, data, why in (
        ("big.pdf", too_big, "larger than the limit"),
        ("tool.exe", b"MZ\x90\x00", "not accepted"),
        ("fake.pdf", b"<html>not a pdf</html>", "is not a PDF file"),
        ("photo.png", PDF, "is not a PNG file"),
        ("notes.txt", b"text\x00binary", "is not text"),
        ("empty.pdf", b"", "empty"),
    ):
        refused = await upload(http, h, case.id, name, data)
        assert refused.status_code == 422, (name, refused.text)
        assert why in refused.json()["fields"]["file"], (name, refused.json())
    async with db.session() as session:
        stored = (
            await session.exec(select(func.count()).where(CaseAttachment.case_id == case.id))
        ).one()
    assert stored == 0
    assert await audit_count(db, "case.attachment_added", case.id, outcome="failure") == 6


async def test_a_pdf_is_downloaded_by_case_readers_only_and_each_download_is_audited(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    h = team["headers"]
    added = await upload(http, h["ana"], case.id, "../../etc/Bank letter.pdf", PDF)
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["label"], body["filename"], body["content_type"]) == (
        "F-1", "Bank letter.pdf", "application/pdf",
    )  # fmt: skip
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    url = f"/api/v1/cases/{case.id}/attachments/{body['id']}/content"
    for who in ("ivan", "aud"):
        got = await http.get(url, headers=h[who])
        assert got.status_code == 200 and got.content == PDF
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["x-content-type-options"] == "nosniff"
    assert await audit_count(db, "case.attachment_downloaded", case.id) == 2
    for who in ("sam", "eve"):  # not theirs to read: the same 404 as a missing file
        assert (await http.get(url, headers=h[who])).status_code == 404
    # the case page's link serves the same bytes to a signed-in reader
    await web_login(http, team["people"]["ivan"].username)
    page = (await http.get(f"/cases/{case.id}")).text
    assert f"/cases/{case.id}/attachments/{body['id']}" in page
    assert (await http.get(f"/cases/{case.id}/attachments/{body['id']}")).content == PDF
    assert await audit_count(db, "case.attachment_downloaded", case.id) == 3


async def _decide(db: Database, case: Case, actor_id: uuid.UUID, comment: str) -> uuid.UUID:
    """A decision row as the decision door writes it (the citation trigger reads its comment)."""
    async with db.transaction() as session:
        task = Task(
            case_id=case.id,
            workflow_id=case.workflow_id,
            task_key=f"l1-{uuid.uuid4().hex[:6]}",
            kind="aml_l1_review",
            title="Review",
            candidate_role="aml_analyst",
            status="done",
            due_at=utcnow() + timedelta(days=1),
        )
        session.add(task)
        await session.flush()
        decision = Decision(
            case_id=case.id, task_id=task.id, outcome="close", comment=comment, actor_id=actor_id
        )
        session.add(decision)
    return decision.id


async def test_a_file_cited_by_a_decision_or_a_sar_cannot_be_removed(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    h = team["headers"]["ana"]
    ana: Staff = team["people"]["ana"]
    ids = []
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        made = await upload(http, h, case.id, name, PDF)
        assert made.status_code == 201
        ids.append(made.json()["id"])
    await _decide(
        db, case, ana.actor.user_id, "Closed: the bank letter F-1 explains it (not F-10)."
    )
    async with db.session() as session:
        cited = (
            await session.exec(
                select(AttachmentCitation.attachment_id, AttachmentCitation.cited_by_type).where(
                    col(AttachmentCitation.attachment_id).in_([uuid.UUID(i) for i in ids])
                )
            )
        ).all()
    assert cited == [(uuid.UUID(ids[0]), "decision")]

    remove = f"/api/v1/cases/{case.id}/attachments/{ids[0]}/remove"
    refused = await http.post(remove, headers=h, json={"reason": "uploaded by mistake"})
    assert refused.status_code == 409 and refused.json()["error"] == "attachment_cited"
    assert "cited by decision" in refused.json()["message"]
    # …nor from the database console
    with pytest.raises(DBAPIError, match="is cited by a decision or a SAR"):
        async with db.transaction() as session:
            await run_sql(
                session,
                "UPDATE case_attachment SET removed_at = now(), removed_by = :u, "
                "removal_reason = 'console' WHERE id = :a",
                {"u": ana.actor.user_id, "a": ids[0]},
            )

    # An uncited file goes: by whoever uploaded it, with a reason; the row and trail stay.
    other = await api_headers(http, team["people"]["ivan"].username)
    not_mine = await http.post(
        f"/api/v1/cases/{case.id}/attachments/{ids[1]}/remove",
        headers=other,
        json={"reason": "not needed"},
    )
    assert not_mine.status_code == 403 and not_mine.json()["error"] == "not_uploader"
    gone = await http.post(
        f"/api/v1/cases/{case.id}/attachments/{ids[1]}/remove",
        headers=h,
        json={"reason": "wrong customer's letter"},
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["removal_reason"] == "wrong customer's letter"
    assert await audit_count(db, "case.attachment_removed", case.id) == 1
    content = f"/api/v1/cases/{case.id}/attachments/{ids[1]}/content"
    assert (await http.get(content, headers=h)).status_code == 404
    listed = (await http.get(f"/api/v1/cases/{case.id}/attachments", headers=h)).json()
    assert {i["label"]: bool(i["removed_at"]) for i in listed["items"]} == {
        "F-3": False, "F-2": True, "F-1": False,
    }  # fmt: skip

    # A SAR report cites every file still on its case.
    async with db.transaction() as session:
        session.add(
            SarReport(
                case_id=case.id,
                reference=f"SAR-T{uuid.uuid4().hex[:8]}",
                data={},
                created_by=ana.actor.user_id,
            )
        )
    refused = await http.post(
        f"/api/v1/cases/{case.id}/attachments/{ids[2]}/remove",
        headers=h,
        json={"reason": "uploaded by mistake"},
    )
    assert refused.status_code == 409 and "cited by sar" in refused.json()["message"]


async def test_files_storage_keeps_bytes_under_the_data_dir_and_detects_tampering(
    db: Database, settings: Settings, team: dict[str, Any]
) -> None:
    on_disk = settings.model_copy(update={"attachment_storage": "files"})
    case = await new_case(db)
    ana: Staff = team["people"]["ana"]
    added = await attachments.add_attachment(
        db, on_disk, ana.actor, case.id, filename="scan.pdf", content=PDF
    )
    path = on_disk.attachments_path / f"{added.id.hex[:2]}/{added.id}"
    assert path.read_bytes() == PDF
    got = await attachments.download(db, on_disk, ana.actor, case.id, added.id)
    assert got.content == PDF
    path.write_bytes(PDF + b"tampered")
    with pytest.raises(Unavailable, match="no longer match the sha256"):
        await attachments.download(db, on_disk, ana.actor, case.id, added.id)
    removed = await attachments.remove_attachment(
        db, on_disk, ana.actor, case.id, added.id, reason="scanned the wrong page"
    )
    assert removed.removed_at is not None and not path.exists()


async def test_the_web_forms_add_a_note_and_a_file_and_answer_htmx_with_the_section(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    ana: Staff = team["people"]["ana"]
    csrf = await web_login(http, ana.username)
    no_csrf = await http.post(f"/cases/{case.id}/notes", data={"body": "hello"})
    assert no_csrf.status_code == 403
    posted = await http.post(
        f"/cases/{case.id}/notes", data={"body": "hello from the form", "csrf_token": csrf}
    )
    assert posted.status_code == 303 and "#case-notes" in posted.headers["location"]
    swapped = await http.post(
        f"/cases/{case.id}/attachments",
        data={"csrf_token": csrf},
        files={"file": ("memo.pdf", PDF, "application/pdf")},
        headers={"HX-Request": "true"},
    )
    assert swapped.status_code == 200, swapped.text
    assert 'id="case-notes"' in swapped.text and "F-1 (memo.pdf) was attached." in swapped.text
    assert "hello from the form" in swapped.text
    assert CSRF_RE.search(swapped.text)


async def test_a_broken_multipart_upload_is_refused_as_invalid_not_a_bare_400(
    http: httpx.AsyncClient, db: Database, team: dict[str, Any]
) -> None:
    case = await new_case(db)
    boundary = "0d37f771f3609e9baf6be26654101f5f"
    refused = await http.post(
        f"/api/v1/cases/{case.id}/attachments",
        headers={
            **team["headers"]["ana"],
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
        content=f"--{boundary}\r\nTrue--{boundary}--\r\n".encode(),
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["fields"] == {"body": "not readable"}
