"""Snooze and tags through their doors: the domain, the JSON API and the case page's forms,
on the session's PostgreSQL and Temporal dev server (the timer's firing is proven on the
time-skipping server: tests/workflows/test_case_snooze.py)."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from casework import cases as case_service
from casework import snooze as snooze_service
from casework import tags as tag_service
from casework import tasks as task_service
from casework.inbox import inbox
from casework.next_case import NothingAvailable, next_case
from core.db import Database
from core.settings import Settings
from models.base import utcnow
from models.cases import Task
from models.follow_up_io import snooze_workflow_id
from shared.errors import Conflict, Forbidden, Invalid
from tests.follow_up_data import case_with_step, in_force, snoozes
from tests.helpers import api_headers, audit_count, new_staff, web_login

pytestmark = pytest.mark.usefixtures("worker")


async def _available(db: Database, actor: object, reference: str) -> list[str]:
    page = await inbox(db, actor, scope="available", q=reference)  # type: ignore[arg-type]
    return [t.case_reference for t in page.items]


async def test_a_snoozed_case_leaves_the_inbox_until_woken_and_every_step_is_audited(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    ref = made.case.reference
    assert await _available(db, ana.actor, ref) == [ref]

    until = utcnow() + timedelta(days=3)
    snoozed = await snooze_service.snooze_case(
        db,
        temporal_env.client,
        settings.task_queue,
        ana.actor,
        made.case.id,
        until=until,
        reason_code="awaiting_customer",
        comment="Customer sends the invoice on Monday.",
    )
    assert snoozed.until == until
    assert await _available(db, ana.actor, ref) == []
    listed, _ = await case_service.list_cases(db, ana.actor, snoozed=True, q=ref)
    assert [c.reference for c in listed] == [ref]
    not_snoozed, _ = await case_service.list_cases(db, ana.actor, snoozed=False, q=ref)
    assert not_snoozed == []
    view = await snooze_service.read_follow_up(db, ana.actor, made.case.id)
    assert view.snoozed and view.snooze is not None
    assert view.snooze.until == until and view.snooze.snoozed_by == ana.username
    assert view.snooze.comment == "Customer sends the invoice on Monday."
    assert await audit_count(db, "case.snoozed", made.case.id) == 1

    # The timer waits for the date in Temporal, told only the case id and the date.
    handle = temporal_env.client.get_workflow_handle(snooze_workflow_id(made.case.id))
    assert await handle.query("snoozed_until") == until.astimezone(UTC).isoformat()
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    await snooze_service.wake_case(db, temporal_env.client, ana.actor, made.case.id)
    assert await _available(db, ana.actor, ref) == [ref]
    [ended] = await snoozes(db, made.case.id)
    assert ended.end_kind == "woken" and ended.ended_by == ana.actor.user_id
    assert await audit_count(db, "case.unsnoozed", made.case.id) == 1
    result = await handle.result()  # told it was woken, the timer ends without waking anything
    assert result["woke"] is False
    with pytest.raises(Conflict, match="is not snoozed"):
        await snooze_service.wake_case(db, temporal_env.client, ana.actor, made.case.id)


async def test_snoozing_again_moves_the_date_and_keeps_one_snooze_in_force(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    first = utcnow() + timedelta(days=5)
    second = utcnow() + timedelta(days=1)
    for until in (first, second):
        await snooze_service.snooze_case(
            db,
            temporal_env.client,
            settings.task_queue,
            ana.actor,
            made.case.id,
            until=until,
            reason_code="scheduled_review",
        )
    old, new = await snoozes(db, made.case.id)
    assert old.end_kind == "replaced" and old.snoozed_until == first
    assert new.ended_at is None and new.snoozed_until == second
    handle = temporal_env.client.get_workflow_handle(snooze_workflow_id(made.case.id))
    assert await handle.query("snoozed_until") == second.astimezone(UTC).isoformat()
    await snooze_service.wake_case(db, temporal_env.client, ana.actor, made.case.id)


@pytest.mark.parametrize(
    ("delta", "reason", "comment", "field"),
    [
        (timedelta(minutes=-5), "awaiting_customer", None, "until"),
        (timedelta(days=91), "awaiting_customer", None, "until"),
        (timedelta(days=1), "because", None, "reason"),
        (timedelta(days=1), "other", "later", "comment"),
        (timedelta(days=1), "awaiting_customer", "x" * 501, "comment"),
    ],
)
async def test_a_snooze_out_of_bounds_is_refused_naming_the_field_and_nothing_starts(
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    delta: timedelta,
    reason: str,
    comment: str | None,
    field: str,
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    with pytest.raises(Invalid) as refused:
        await snooze_service.snooze_case(
            db,
            temporal_env.client,
            settings.task_queue,
            ana.actor,
            made.case.id,
            until=utcnow() + delta,
            reason_code=reason,
            comment=comment,
        )
    assert field in refused.value.fields
    assert await snoozes(db, made.case.id) == []
    with pytest.raises(RPCError):
        await temporal_env.client.get_workflow_handle(snooze_workflow_id(made.case.id)).describe()


async def test_only_someone_who_works_the_case_may_snooze_it(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    made = await case_with_step(db)  # its open step is for aml_analyst
    ivan = await new_staff(db, "aml_investigator")  # sees AML cases, may snooze, not this one
    auditor = await new_staff(db, "auditor")
    kyc = await new_staff(db, "kyc_analyst")  # may snooze, may not see AML cases
    until = utcnow() + timedelta(days=1)

    async def attempt(actor: object) -> None:
        await snooze_service.snooze_case(
            db,
            temporal_env.client,
            settings.task_queue,
            actor,  # type: ignore[arg-type]
            made.case.id,
            until=until,
            reason_code="awaiting_customer",
        )

    with pytest.raises(Forbidden, match="Only someone who works this case"):
        await attempt(ivan.actor)
    with pytest.raises(Forbidden, match="do not allow you to snooze"):
        await attempt(auditor.actor)
    with pytest.raises(Exception, match="No case with id"):
        await attempt(kyc.actor)
    assert await audit_count(db, "case.snoozed", made.case.id, "denied") == 3
    assert await snoozes(db, made.case.id) == []


async def test_tags_are_validated_slugs_shown_filtered_and_audited(db: Database) -> None:
    made = await case_with_step(db)
    other = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    added = await tag_service.add_tag(db, ana.actor, made.case.id, "  Needs-Translation ")
    assert added.changed and added.tags == ["needs-translation"]
    again = await tag_service.add_tag(db, ana.actor, made.case.id, "needs-translation")
    assert not again.changed
    for bad in ("x", "two words", "under_score", "-lead", "a" * 33, "trailing-"):
        with pytest.raises(Invalid) as refused:
            await tag_service.add_tag(db, ana.actor, made.case.id, bad)
        assert "tag" in refused.value.fields
    unique = f"pep-{made.case.reference[-6:].lower()}"
    await tag_service.add_tag(db, ana.actor, made.case.id, unique)
    await tag_service.add_tag(db, ana.actor, other.case.id, "needs-translation")
    listed, total = await case_service.list_cases(db, ana.actor, tag=unique)
    assert (total, [c.reference for c in listed]) == (1, [made.case.reference])
    assert (await snooze_service.read_follow_up(db, ana.actor, made.case.id)).tags == sorted(
        ["needs-translation", unique]
    )
    removed = await tag_service.remove_tag(db, ana.actor, made.case.id, unique)
    assert removed.changed and removed.tags == ["needs-translation"]
    assert not (await tag_service.remove_tag(db, ana.actor, made.case.id, unique)).changed
    assert await audit_count(db, "case.tag_added", made.case.id) == 2
    assert await audit_count(db, "case.tag_removed", made.case.id) == 1
    for n in range(9):
        await tag_service.add_tag(db, ana.actor, made.case.id, f"t{n}")
    with pytest.raises(Conflict, match="at most 10 tags"):
        await tag_service.add_tag(db, ana.actor, made.case.id, "one-too-many")
    auditor = await new_staff(db, "auditor")
    with pytest.raises(Forbidden):
        await tag_service.add_tag(db, auditor.actor, made.case.id, "audit")


async def test_the_case_page_snoozes_tags_and_wakes_through_its_forms(
    http: httpx.AsyncClient, db: Database
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    csrf = await web_login(http, ana.username)
    page = (await http.get(f"/cases/{made.case.id}")).text
    assert 'id="follow-up"' in page and "Snooze until a date" in page

    # A date too far ahead comes back as the page, the form holding what was typed.
    too_far = (utcnow() + timedelta(days=120)).date().isoformat()
    refused = await http.post(
        f"/cases/{made.case.id}/snooze",
        data={"csrf_token": csrf, "until": too_far, "reason": "awaiting_customer", "comment": ""},
    )
    assert refused.status_code == 422
    assert "at most 90 days ahead" in refused.text and f'value="{too_far}"' in refused.text

    day = (utcnow() + timedelta(days=2)).date()
    done = await http.post(
        f"/cases/{made.case.id}/snooze",
        data={"csrf_token": csrf, "until": day.isoformat(), "reason": "awaiting_internal"},
    )
    assert done.status_code == 303, done.text
    page = (await http.get(done.headers["location"])).text
    assert f"Snoozed until {day.isoformat()} 08:00 UTC" in page
    assert "Wake now" in page

    tagged = await http.post(
        f"/cases/{made.case.id}/tags",
        data={"csrf_token": csrf, "tag": "<b>bad</b>"},
    )
    assert tagged.status_code == 422 and "&lt;b&gt;bad&lt;/b&gt;" in tagged.text
    tagged = await http.post(
        f"/cases/{made.case.id}/tags", data={"csrf_token": csrf, "tag": "callback"}
    )
    assert tagged.status_code == 303
    listed = (await http.get("/cases", params={"snoozed": "only", "q": made.case.reference})).text
    assert made.case.reference in listed and "snoozed until" in listed
    assert 'class="badge tag">callback' in listed

    # Without the CSRF token nothing changes.
    forged = await http.post(f"/cases/{made.case.id}/wake", data={})
    assert forged.status_code == 403
    assert await in_force(db, made.case.id) is not None
    woken = await http.post(f"/cases/{made.case.id}/wake", data={"csrf_token": csrf})
    assert woken.status_code == 303
    assert await in_force(db, made.case.id) is None
    page = (await http.get(f"/cases/{made.case.id}")).text
    assert "Snoozed until" not in page and html.escape("callback") in page


async def test_the_api_snoozes_wakes_and_tags_with_the_same_rules(
    http: httpx.AsyncClient, db: Database
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    auditor = await new_staff(db, "auditor")
    headers = await api_headers(http, ana.username)
    until = (utcnow() + timedelta(days=4)).replace(microsecond=0)
    url = f"/api/v1/cases/{made.case.id}"

    bad = await http.put(
        f"{url}/snooze", json={"until": until.isoformat(), "reason": "nope"}, headers=headers
    )
    assert bad.status_code == 422 and "reason" in bad.json()["fields"]
    denied = await http.put(
        f"{url}/snooze",
        json={"until": until.isoformat(), "reason": "awaiting_customer"},
        headers=await api_headers(http, auditor.username),
    )
    assert denied.status_code == 403
    done = await http.put(
        f"{url}/snooze",
        json={"until": until.isoformat(), "reason": "awaiting_customer", "comment": "call back"},
        headers=headers,
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["snoozed"] is True
    assert datetime.fromisoformat(body["snooze"]["until"]) == until
    assert body["snooze"]["reason_code"] == "awaiting_customer"
    listed = await http.get(
        "/api/v1/cases", params={"snoozed": "true", "q": made.case.reference}, headers=headers
    )
    assert [c["reference"] for c in listed.json()["items"]] == [made.case.reference]

    created = await http.post(f"{url}/tags", json={"tag": "vip"}, headers=headers)
    assert created.status_code == 201 and created.json()["tags"] == ["vip"]
    again = await http.post(f"{url}/tags", json={"tag": "vip"}, headers=headers)
    assert again.status_code == 200 and again.json()["changed"] is False
    gone = await http.delete(f"{url}/tags/vip", headers=headers)
    assert gone.status_code == 200 and gone.json()["tags"] == []

    woken = await http.delete(f"{url}/snooze", headers=headers)
    assert woken.status_code == 200 and woken.json()["snoozed"] is False
    twice = await http.delete(f"{url}/snooze", headers=headers)
    assert twice.status_code == 409
    follow_up = await http.get(f"{url}/follow-up", headers=headers)
    assert follow_up.json() == {
        "case_id": str(made.case.id),
        "snoozed": False,
        "snooze": None,
        "tags": [],
    }


async def test_an_aml_snooze_comment_is_narrative_engineers_do_not_read(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    engineer = await new_staff(db, "engineer")
    await snooze_service.snooze_case(
        db,
        temporal_env.client,
        settings.task_queue,
        ana.actor,
        made.case.id,
        until=utcnow() + timedelta(days=1),
        reason_code="awaiting_third_party",
        comment="Correspondent bank checks the beneficiary.",
    )
    seen = await snooze_service.read_follow_up(db, engineer.actor, made.case.id)
    assert seen.snooze is not None and seen.snooze.comment is None
    assert seen.snooze.reason_code == "awaiting_third_party"
    await snooze_service.wake_case(db, temporal_env.client, ana.actor, made.case.id)


async def test_next_case_never_opens_a_snoozed_case(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    made = await case_with_step(db)
    async with db.transaction() as session:  # the most urgent task there is
        task = await session.get(Task, made.task.id)
        assert task is not None
        task.priority, task.due_at = "urgent", datetime(2000, 1, 1, tzinfo=UTC)
        session.add(task)
    ana = await new_staff(db, "aml_analyst")
    await snooze_service.snooze_case(
        db,
        temporal_env.client,
        settings.task_queue,
        ana.actor,
        made.case.id,
        until=utcnow() + timedelta(days=1),
        reason_code="awaiting_customer",
    )
    try:
        other = await next_case(db, ana.actor)
    except NothingAvailable:
        pass
    else:
        assert other.case_id != made.case.id
        await task_service.release_task(db, ana.actor, other.id)
    await snooze_service.wake_case(db, temporal_env.client, ana.actor, made.case.id)
    taken = await next_case(db, ana.actor)
    assert taken.case_id == made.case.id
