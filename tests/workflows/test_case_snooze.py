"""A snoozed case comes back on its date: the snooze timer on the time-skipping server.

Time moves only when the test says so (`env.sleep`), so each date is checked on both sides:
just before it the case is still snoozed, just after it the timer woke it (promise 7). The
wake activity runs for real against PostgreSQL; the workflow's history replays, and one is
kept in tests/workflows/histories (RECORD_HISTORIES=1 writes it again).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlmodel import select
from temporalio.client import WorkflowHandle

from casework import snooze as snooze_service
from casework.inbox import inbox
from core.db import Database
from models.base import utcnow
from models.cases import Case, CaseStatus, Notification
from models.follow_up_io import WakeResult, snooze_workflow_id
from tests.codec_keys import readable_without_key
from tests.follow_up_data import OpenCase, case_with_step, in_force, snoozes
from tests.helpers import Staff, audit_count, eventually, new_staff
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import replayer
from workflows.case_snooze import CaseSnoozeWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def _snooze(s: Skipping, db: Database, who: Staff, made: OpenCase, days: float) -> None:
    await snooze_service.snooze_case(
        db,
        s.client,
        s.settings.task_queue,
        who.actor,
        made.case.id,
        until=utcnow() + timedelta(days=days),
        reason_code="awaiting_customer",
        comment="The customer promised the payslips.",
    )


def _timer(s: Skipping, made: OpenCase) -> WorkflowHandle[CaseSnoozeWorkflow, WakeResult]:
    return s.client.get_workflow_handle_for(
        CaseSnoozeWorkflow.run, snooze_workflow_id(made.case.id)
    )


async def _still_snoozed(s: Skipping, db: Database, made: OpenCase) -> bool:
    await _timer(s, made).query(CaseSnoozeWorkflow.snoozed_until)  # the worker caught up
    return await in_force(db, made.case.id) is not None


async def _woken(db: Database, made: OpenCase) -> bool:
    return await in_force(db, made.case.id) is None


async def _notifications(db: Database, made: OpenCase) -> list[Notification]:
    async with db.session() as session:
        return list(
            (
                await session.exec(select(Notification).where(Notification.case_id == made.case.id))
            ).all()
        )


async def test_a_snoozed_case_comes_back_on_its_date_and_its_role_is_notified(
    skipping: Skipping, db: Database
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    await _snooze(skipping, db, ana, made, days=3)
    page = await inbox(db, ana.actor, q=made.case.reference)
    assert page.items == []

    await skipping.env.sleep(timedelta(days=2, hours=23))
    assert await _still_snoozed(skipping, db, made)
    assert await _notifications(db, made) == []

    await skipping.env.sleep(timedelta(hours=2))
    assert await eventually(lambda: _woken(db, made), what="the timer to wake the case")
    [ended] = await snoozes(db, made.case.id)
    assert ended.end_kind == "timer" and ended.ended_by is None
    [told] = await _notifications(db, made)
    assert told.recipient_role == "aml_analyst" and told.recipient_id is None
    assert told.subject == f"{made.case.reference} is back from snooze"
    assert await audit_count(db, "case.unsnoozed", made.case.id) == 1
    page = await inbox(db, ana.actor, q=made.case.reference)
    assert [t.case_reference for t in page.items] == [made.case.reference]

    handle = _timer(skipping, made)
    assert (await handle.result()).woke is True
    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    text = history.to_json()
    assert readable_without_key(text)[1] == [], "every payload is encrypted"
    # The comment and the reason never reach Temporal.
    assert "payslips" not in text and "awaiting_customer" not in text


async def test_the_holder_of_a_claimed_step_is_told_personally(
    skipping: Skipping, db: Database
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    async with db.transaction() as session:
        task = await session.get(type(made.task), made.task.id)
        assert task is not None
        task.status, task.assignee_id, task.claimed_at = "claimed", ana.actor.user_id, utcnow()
        session.add(task)
    await _snooze(skipping, db, ana, made, days=1)
    await skipping.env.sleep(timedelta(days=1, hours=1))
    assert await eventually(lambda: _woken(db, made), what="the timer to wake the case")
    [told] = await _notifications(db, made)
    assert told.recipient_id == ana.actor.user_id and told.recipient_role is None


async def test_snoozing_again_moves_the_timer_earlier_or_later(
    skipping: Skipping, db: Database
) -> None:
    later = await case_with_step(db)
    earlier = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    await _snooze(skipping, db, ana, later, days=1)
    await _snooze(skipping, db, ana, later, days=4)  # moved later
    await _snooze(skipping, db, ana, earlier, days=5)
    await _snooze(skipping, db, ana, earlier, days=2)  # moved earlier

    await skipping.env.sleep(timedelta(days=1, hours=2))
    assert await _still_snoozed(skipping, db, later)
    assert await _still_snoozed(skipping, db, earlier)

    await skipping.env.sleep(timedelta(days=1))  # day 2 + 2 h: the earlier date has passed
    assert await eventually(lambda: _woken(db, earlier), what="the moved-earlier case")
    assert await _still_snoozed(skipping, db, later)

    await skipping.env.sleep(timedelta(days=2))  # day 4 + 2 h
    assert await eventually(lambda: _woken(db, later), what="the moved-later case")
    for made in (earlier, later):
        kinds = [s.end_kind for s in await snoozes(db, made.case.id)]
        assert kinds == ["replaced", "timer"]
        assert len(await _notifications(db, made)) == 1

    handle = _timer(skipping, later)
    await handle.result()
    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") == "1":
        for old in HISTORIES.glob("sealed-snooze-moved-later__*.json"):
            old.unlink()
        (HISTORIES / f"sealed-snooze-moved-later__{handle.id}.json").write_text(history.to_json())


async def test_a_case_closed_while_snoozed_ends_its_snooze_without_telling_anyone(
    skipping: Skipping, db: Database
) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    await _snooze(skipping, db, ana, made, days=2)
    async with db.transaction() as session:
        case = await session.get(Case, made.case.id)
        assert case is not None
        case.status, case.closed_at = CaseStatus.CLOSED, utcnow()
        session.add(case)
    await skipping.env.sleep(timedelta(days=2, hours=1))
    assert await eventually(lambda: _woken(db, made), what="the closed case's snooze to end")
    [ended] = await snoozes(db, made.case.id)
    assert ended.end_kind == "closed"
    assert await _notifications(db, made) == []


async def test_waking_early_stops_the_timer(skipping: Skipping, db: Database) -> None:
    made = await case_with_step(db)
    ana = await new_staff(db, "aml_analyst")
    await _snooze(skipping, db, ana, made, days=10)
    await snooze_service.wake_case(db, skipping.client, ana.actor, made.case.id)
    result = await _timer(skipping, made).result()
    assert result.woke is False
    [ended] = await snoozes(db, made.case.id)
    assert ended.end_kind == "woken"
    assert await _notifications(db, made) == []
