"""An access-review campaign on the time-skipping server (issue 16, Done-when 5).

One grant certified, one revoked through the four-eyes role change (a second admin
approves), one left unreviewed: at the deadline (AccessPolicy.review_days, a durable timer)
it is suspended and reported, and the campaign closes.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from access_reviews.commands import campaigns, decisions
from access_reviews.queries import reviews as queries
from access_reviews.rules import SUSPENSION_REASON
from casework import tasks
from core.db import Database
from identity.auth import roles_of
from identity.policy import AccessPolicy
from models.access_review_io import AccessReviewInput, AccessReviewResult
from models.access_reviews import AccessReview, AccessReviewItem
from models.changes import ChangeRequest
from models.staff import RoleAssignment
from tests.helpers import audit_count, eventually, new_staff, notification, step_up, task_of
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import HISTORIES, replayer
from workflows.access_review import AccessReviewWorkflow


async def _items(db: Database, workflow_id: str) -> dict[uuid.UUID, AccessReviewItem]:
    async with db.session() as session:
        review = (
            await session.exec(select(AccessReview).where(AccessReview.workflow_id == workflow_id))
        ).first()
        if review is None:
            return {}
        rows = (
            await session.exec(
                select(AccessReviewItem).where(AccessReviewItem.review_id == review.id)
            )
        ).all()
    return {row.user_id: row for row in rows}


async def _grant(db: Database, user_id: uuid.UUID, role: str) -> RoleAssignment:
    async with db.session() as session:
        return (
            await session.exec(
                select(RoleAssignment)
                .where(RoleAssignment.user_id == user_id, RoleAssignment.role == role)
                .order_by(col(RoleAssignment.granted_at).desc())
            )
        ).first()  # type: ignore[return-value]


async def _roles(db: Database, user_id: uuid.UUID) -> frozenset[str]:
    async with db.session() as session:
        return await roles_of(session, user_id)


async def test_campaign_certifies_revokes_and_suspends_at_the_deadline(
    skipping: Skipping, db: Database
) -> None:
    reviewer = await new_staff(db, "admin", prefix="rev")
    approver = await step_up(db, (await new_staff(db, "admin", prefix="chk")).actor)
    kept = await new_staff(db, "aml_analyst", prefix="kept")
    leaving = await new_staff(db, "kyc_analyst", prefix="leaving")
    silent = await new_staff(db, "support", prefix="silent")
    people = [kept.actor.user_id, leaving.actor.user_id, silent.actor.user_id]

    workflow_id = f"access-review-test-{uuid.uuid4().hex[:8]}"
    handle = await skipping.client.start_workflow(
        AccessReviewWorkflow.run,
        AccessReviewInput(trigger="manual", started_by=reviewer.actor.user_id, user_ids=people),
        id=workflow_id,
        task_queue=skipping.settings.task_queue,
    )
    items = await eventually(
        lambda: _items(db, workflow_id), what="the campaign lists the three grants"
    )
    assert set(items) == set(people)
    assert all(i.status == "pending" and i.reviewer_id is None for i in items.values())

    # Certified by the reviewer; revoked through a role change a second admin approves.
    await decisions.certify_item(
        db, reviewer.actor, items[kept.actor.user_id].id, comment="Still on the AML team."
    )
    revoking = await decisions.revoke_item(
        db,
        skipping.client,
        skipping.settings,
        reviewer.actor,
        items[leaving.actor.user_id].id,
        comment="Moved to finance in October; no KYC work any more.",
    )
    assert revoking.status == "revoking" and revoking.change_id is not None
    async with db.session() as session:
        change = await session.get(ChangeRequest, revoking.change_id)
        assert change is not None and change.after["remove"] == ["kyc_analyst"]
    task = await task_of(db, change.workflow_id)
    await tasks.claim_task(db, approver, task.id)
    await tasks.decide_task(
        db, skipping.client, approver, task.id, outcome="approve", reason=None, comment=None
    )
    assert await eventually(
        lambda: _is_empty(db, leaving.actor.user_id), what="the revoked role is gone"
    )

    # The campaign reads it as revoked at once; its workflow writes that down within a day.
    review_id = items[leaving.actor.user_id].review_id
    rows, _ = await queries.review_items(
        db, reviewer.actor, review_id, queries.ItemFilters(q=leaving.username)
    )
    assert [r.status for r in rows] == ["revoked"]
    await skipping.env.sleep(timedelta(days=1, minutes=5))
    assert await eventually(
        lambda: _status_is(db, workflow_id, leaving.actor.user_id, "revoked"),
        what="the daily check settles the revocation",
    )

    # Just before the deadline (review_days = 14 by default) nothing is suspended.
    await skipping.env.sleep(timedelta(days=12, hours=22))
    assert await handle.query(AccessReviewWorkflow.current_phase) == "open"
    assert await _roles(db, silent.actor.user_id) == {"support"}
    assert (await _items(db, workflow_id))[silent.actor.user_id].status == "pending"

    await skipping.env.sleep(timedelta(hours=2))
    result: AccessReviewResult = await handle.result()
    assert result.counts == {"certified": 1, "revoked": 1, "suspended": 1}

    items = await _items(db, workflow_id)
    assert items[kept.actor.user_id].status == "certified"
    assert items[leaving.actor.user_id].status == "revoked"
    assert items[silent.actor.user_id].status == "suspended"
    assert await _roles(db, kept.actor.user_id) == {"aml_analyst"}
    assert await _roles(db, silent.actor.user_id) == frozenset()
    suspended = await _grant(db, silent.actor.user_id, "support")
    assert suspended.ended_at is not None and suspended.ended_reason == SUSPENSION_REASON
    async with db.session() as session:
        review = await session.get(AccessReview, result.review_id)
        assert review is not None and review.status == "closed"
    assert await audit_count(db, "access_review.suspended", items[silent.actor.user_id].id) == 1
    reported = await notification(db, f"access-review:{result.review_id}:suspended")
    assert reported.recipient_role == "admin" and "1 grant(s) suspended" in reported.subject

    # The run replays on the current code; RECORD_HISTORIES=1 keeps a copy (test_replay
    # replays every kept history, so a change that breaks running campaigns fails there).
    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") in ("1", "access-review"):
        for old in HISTORIES.glob("sealed-access-review__*.json"):
            old.unlink()
        (HISTORIES / f"sealed-access-review__{workflow_id}.json").write_text(history.to_json())

    # The auditors' report names each outcome.
    _, text = await queries.report_csv(db, reviewer.actor, result.review_id)
    lines = text.splitlines()
    assert len(lines) == 4
    outcomes = {line.split(",")[2]: line.split(",")[5] for line in lines[1:]}
    assert outcomes == {
        kept.username: "certified",
        leaving.username: "revoked",
        silent.username: "suspended",
    }


async def _status_is(db: Database, workflow_id: str, user_id: uuid.UUID, status: str) -> bool:
    return (await _items(db, workflow_id))[user_id].status == status


async def _is_empty(db: Database, user_id: uuid.UUID) -> bool:
    return not await _roles(db, user_id)


async def test_a_requested_revocation_nobody_proposed_is_suspended_at_the_deadline(
    skipping: Skipping, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await new_staff(db, "disputes_lead", prefix="owner")
    agent = await new_staff(db, "disputes_agent", prefix="agent")
    policy = AccessPolicy.model_validate({"review_owners": f"disputes_agent={owner.username}"})

    async def load_typed(_db: Database, key: str, _schema: type) -> tuple[int, Any]:
        return 1, policy

    monkeypatch.setattr(campaigns, "load_typed", load_typed)
    workflow_id = f"access-review-test-{uuid.uuid4().hex[:8]}"
    handle = await skipping.client.start_workflow(
        AccessReviewWorkflow.run,
        AccessReviewInput(trigger="manual", user_ids=[agent.actor.user_id]),
        id=workflow_id,
        task_queue=skipping.settings.task_queue,
    )
    items = await eventually(lambda: _items(db, workflow_id), what="the campaign opens")
    item = items[agent.actor.user_id]
    assert item.reviewer_id == owner.actor.user_id

    requested = await decisions.revoke_item(
        db,
        skipping.client,
        skipping.settings,
        owner.actor,
        item.id,
        comment="Left the disputes team; no chargebacks any more.",
    )
    assert requested.status == "requested" and requested.change_id is None

    await skipping.env.sleep(timedelta(days=14, hours=1))
    result: AccessReviewResult = await handle.result()
    assert result.counts == {"suspended": 1}
    suspended = await _grant(db, agent.actor.user_id, "disputes_agent")
    assert suspended.ended_at is not None and suspended.ended_reason == SUSPENSION_REASON
    assert await _roles(db, agent.actor.user_id) == frozenset()
