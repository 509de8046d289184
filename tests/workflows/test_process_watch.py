"""Out-of-band endings on the time-skipping server: a terminated case workflow is found by
the sweep the schedule starts, its case flagged once with one ops task, and a four-eyes
resume starts the process again under a new workflow id."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, func, select
from temporalio.client import ScheduleActionStartWorkflow, WorkflowHandle

from casework import tasks
from casework.cases import get_case
from casework.process_watch import ending_id_for, repair_workflow_id
from changes.commands import requests as changes
from core.db import Database
from core.schedules import process_watch_schedule
from models.aml import AmlCase
from models.audit import AuditEvent
from models.cases import Case, Task
from models.changes import ChangeCreate, ChangeRequest
from models.process_watch import ProcessEnding
from models.process_watch_io import SweepSummary
from shared.errors import Forbidden
from tests.aml_cases import alerted_customer
from tests.helpers import eventually, new_plan, new_staff, task_of
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import HISTORIES, replayer


async def sweep_as_the_schedule_would(
    skipping: Skipping, *, skip_interval: bool = True
) -> SweepSummary:
    """The time-skipping server has no Schedules: skip past the interval, then start the
    schedule's own action (same workflow, input and queue) and wait for its summary.

    `skip_interval=False` starts the action at once: after a workflow that waits on a
    person is terminated, the test server may keep its clock locked, and a skip then
    never returns (a test-server limitation; the real server's schedule is tested in
    tests/integration/test_process_watch.py)."""
    schedule = process_watch_schedule(skipping.settings)
    if skip_interval:
        await skipping.env.sleep(
            timedelta(minutes=skipping.settings.process_watch_interval_minutes, seconds=1)
        )
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    result = await skipping.client.execute_workflow(
        action.workflow,
        *action.args,
        id=f"process-watch-{uuid.uuid4().hex[:8]}",
        task_queue=action.task_queue,
        result_type=SweepSummary,
    )
    assert isinstance(result, SweepSummary)
    return result


async def when_idle(handle: WorkflowHandle[Any, Any]) -> WorkflowHandle[Any, Any]:
    """Until no workflow task or activity of it is in flight: the time-skipping server
    keeps time locked for a workflow task it then refuses to complete ("Completed
    workflow"), so ending a workflow mid-task would stall every later skip."""

    async def idle() -> bool:
        raw = (await handle.describe()).raw_description
        return not raw.HasField("pending_workflow_task") and not raw.pending_activities

    await eventually(idle, what=f"{handle.id} idle")
    return handle


async def case_of(db: Database, case_id: uuid.UUID) -> Case:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case


async def test_terminated_case_workflow_is_flagged_once_with_one_ops_task(
    db: Database, skipping: Skipping
) -> None:
    routed = await alerted_customer(db, skipping.client, skipping.settings.task_queue)
    l1 = await task_of(db, routed.workflow_id, "l1#1")
    handle = skipping.client.get_workflow_handle(routed.workflow_id)
    run_id = (await handle.describe()).run_id
    await (await when_idle(handle)).terminate(reason="cleaning up by hand")

    summary = await sweep_as_the_schedule_would(skipping)
    # Other tests' cases share the database; their workflows are not on this server.
    assert summary.endings_found == 1 and summary.repairs_started == 1

    case = await case_of(db, routed.case_id)
    assert case.process_ended_outside and case.status == "open"
    async with db.session() as session:
        cancelled = await session.get(Task, l1.id)
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "process.ended_outside",
                    AuditEvent.object_id == str(routed.case_id),
                )
            )
        ).all()
    assert cancelled is not None and cancelled.status == "cancelled"
    assert len(events) == 1
    details = events[0].details
    assert (details["kind"], details["workflow_id"], details["run_id"]) == (
        "terminated",
        routed.workflow_id,
        run_id,
    )
    assert details["temporal_reason"] == "cleaning up by hand"
    assert details["temporal_identity"]  # who did it, as Temporal recorded it

    repair_id = repair_workflow_id(ending_id_for(routed.workflow_id, run_id))
    proposal = await task_of(db, repair_id, "propose")
    assert (proposal.case_id, proposal.candidate_role, proposal.kind) == (
        routed.case_id,
        "engineer",
        "process_repair_proposal",
    )
    assert set(proposal.allowed_outcomes) == {"resume", "close_case"}

    # A second sweep: nothing new, no second flag, event or task.
    again = await sweep_as_the_schedule_would(skipping)
    assert again.endings_found == 0 and again.repairs_started == 0
    async with db.session() as session:
        endings = (
            await session.exec(
                select(func.count())
                .select_from(ProcessEnding)
                .where(ProcessEnding.case_id == routed.case_id)
            )
        ).one()
        repair_tasks = (
            await session.exec(
                select(func.count())
                .select_from(Task)
                .where(Task.case_id == routed.case_id, col(Task.kind).startswith("process_repair"))
            )
        ).one()
        flagged_events = (
            await session.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "process.ended_outside",
                    AuditEvent.object_id == str(routed.case_id),
                )
            )
        ).one()
    assert (endings, repair_tasks, flagged_events) == (1, 1, 1)


async def test_resume_needs_a_second_engineer_and_starts_a_new_run(
    db: Database, skipping: Skipping
) -> None:
    routed = await alerted_customer(db, skipping.client, skipping.settings.task_queue)
    await task_of(db, routed.workflow_id, "l1#1")
    handle = skipping.client.get_workflow_handle(routed.workflow_id)
    run_id = (await handle.describe()).run_id
    await (await when_idle(handle)).cancel()
    await sweep_as_the_schedule_would(skipping)
    repair_id = repair_workflow_id(ending_id_for(routed.workflow_id, run_id))
    proposal = await task_of(db, repair_id, "propose")

    proposer, approver = await new_staff(db, "engineer"), await new_staff(db, "engineer")
    await tasks.claim_task(db, proposer.actor, proposal.id)
    await tasks.decide_task(
        db,
        skipping.client,
        proposer.actor,
        proposal.id,
        outcome="resume",
        reason=None,
        comment="Cancelled by mistake during a drill; the alert still needs triage.",
    )
    approval = await task_of(db, repair_id, "approve")
    assert proposer.actor.user_id in approval.excluded_actors
    with pytest.raises(Forbidden):  # the proposer never approves their own proposal
        await tasks.claim_task(db, proposer.actor, approval.id)
    await tasks.claim_task(db, approver.actor, approval.id)
    await tasks.decide_task(
        db,
        skipping.client,
        approver.actor,
        approval.id,
        outcome="approve_repair",
        reason=None,
        comment=None,
    )

    new_id = f"{routed.workflow_id}-r2"

    async def resumed() -> Case | None:
        # The case points at the new id before the run starts, and loses its flag once the
        # run exists: resumed is both.
        case = await case_of(db, routed.case_id)
        return case if case.workflow_id == new_id and not case.process_ended_outside else None

    case = await eventually(resumed, what="case resumed under a new workflow id")
    assert case is not None and case.status == "open"
    new_l1 = await task_of(db, new_id, "l1#1")
    assert new_l1.case_id == routed.case_id and new_l1.status == "open"
    async with db.session() as session:
        ending = await session.get(ProcessEnding, ending_id_for(routed.workflow_id, run_id))
        event = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "process.resumed",
                    AuditEvent.object_id == str(routed.case_id),
                )
            )
        ).one()
    assert ending is not None and (ending.status, ending.new_workflow_id) == ("resumed", new_id)
    assert event.actor == approver.username
    assert event.details["proposed_by"] == proposer.username
    # The resumed run is the case's workflow now: a sweep finds nothing to flag.
    assert (await sweep_as_the_schedule_would(skipping)).endings_found == 0

    # The repair's history replays on today's code (and is kept for tomorrow's).
    repair = skipping.client.get_workflow_handle(repair_id)
    assert (await repair.result())["outcome"] == "resume"
    history = await repair.fetch_history()
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") == "1":
        (HISTORIES / f"process-repair-resumed__{repair_id}.json").write_text(history.to_json())


async def test_closing_an_aml_case_lets_new_alerts_open_a_new_case(
    db: Database, skipping: Skipping
) -> None:
    routed = await alerted_customer(db, skipping.client, skipping.settings.task_queue)
    await task_of(db, routed.workflow_id, "l1#1")
    handle = skipping.client.get_workflow_handle(routed.workflow_id)
    run_id = (await handle.describe()).run_id
    await (await when_idle(handle)).terminate(reason="ended by hand")
    await sweep_as_the_schedule_would(skipping)
    repair_id = repair_workflow_id(ending_id_for(routed.workflow_id, run_id))
    proposer, approver = await new_staff(db, "engineer"), await new_staff(db, "engineer")
    for who, key, outcome, reason in (
        (proposer, "propose", "close_case", "duplicate"),
        (approver, "approve", "approve_repair", None),
    ):
        task = await task_of(db, repair_id, key)
        await tasks.claim_task(db, who.actor, task.id)
        await tasks.decide_task(
            db,
            skipping.client,
            who.actor,
            task.id,
            outcome=outcome,
            reason=reason,
            comment="Opened twice by a replayed ingest; the other case holds the alert.",
        )
    await skipping.client.get_workflow_handle(repair_id).result()
    case = await case_of(db, routed.case_id)
    assert (case.status, case.outcome) == ("closed", "closed_after_outside_ending")
    assert case.outcome_reason and case.outcome_reason.startswith("Duplicate of another case")
    async with db.session() as session:
        aml = await session.get(AmlCase, routed.case_id)
    # Closed for AML too: the customer's next alert opens a new case, not this one.
    assert aml is not None and aml.closed_at is not None


async def test_resumed_change_request_asks_for_its_approval_again_and_applies(
    db: Database, skipping: Skipping
) -> None:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    created = await changes.propose_change(
        db,
        skipping.client,
        skipping.settings,
        maker.actor,
        ChangeCreate(
            target_type="fee",
            target_id=plan.fee_id,
            changes={"fixed_amount": "3.10"},
            reason="Resume scenario: a fee change whose workflow was terminated.",
        ),
    )
    await task_of(db, created.workflow_id, "approve")
    handle = skipping.client.get_workflow_handle(created.workflow_id)
    run_id = (await handle.describe()).run_id
    await (await when_idle(handle)).terminate(reason="ended by hand")
    await sweep_as_the_schedule_would(skipping)
    repair_id = repair_workflow_id(ending_id_for(created.workflow_id, run_id))
    proposer, approver = await new_staff(db, "engineer"), await new_staff(db, "engineer")
    for who, key, outcome in (
        (proposer, "propose", "resume"),
        (approver, "approve", "approve_repair"),
    ):
        task = await task_of(db, repair_id, key)
        await tasks.claim_task(db, who.actor, task.id)
        await tasks.decide_task(
            db, skipping.client, who.actor, task.id, outcome=outcome, reason=None, comment=None
        )

    new_id = f"{created.workflow_id}-r2"
    approval = await task_of(db, new_id, "approve")
    assert (
        approval.candidate_role == "ops_manager" and maker.actor.user_id in approval.excluded_actors
    )

    # The new run may open its task before the repair's last transaction clears the flag.
    async def resumed() -> Case | None:
        case = await case_of(db, created.case_id)
        return case if case.workflow_id == new_id and not case.process_ended_outside else None

    assert await eventually(resumed, what="the change request resumed and unflagged")
    # The case page finds its change through the case, whatever the workflow id.
    view = await get_case(db, maker.actor, created.case_id)
    assert view is not None and view.change is not None and view.change.id == created.id

    ops = await new_staff(db, "ops_manager")
    await tasks.claim_task(db, ops.actor, approval.id)
    await tasks.decide_task(
        db, skipping.client, ops.actor, approval.id, outcome="approve", reason=None, comment=None
    )
    await skipping.client.get_workflow_handle(new_id).result()
    async with db.session() as session:
        change = await session.get(ChangeRequest, created.id)
    assert change is not None and (change.status, change.workflow_id) == ("applied", new_id)


async def test_a_repair_ended_outside_the_product_is_started_again(
    db: Database, skipping: Skipping
) -> None:
    routed = await alerted_customer(db, skipping.client, skipping.settings.task_queue)
    await task_of(db, routed.workflow_id, "l1#1")
    handle = skipping.client.get_workflow_handle(routed.workflow_id)
    run_id = (await handle.describe()).run_id
    await (await when_idle(handle)).terminate(reason="ended by hand")
    await sweep_as_the_schedule_would(skipping)
    repair_id = repair_workflow_id(ending_id_for(routed.workflow_id, run_id))
    first = await task_of(db, repair_id, "propose")

    # Someone ends the repair itself from the CLI: the next sweep starts a new one.
    repair = await when_idle(skipping.client.get_workflow_handle(repair_id))
    await repair.terminate(reason="and this too")
    summary = await sweep_as_the_schedule_would(skipping, skip_interval=False)
    assert summary.repairs_started == 1
    second = await task_of(db, f"{repair_id}-r2", "propose")
    assert second.case_id == routed.case_id and second.status == "open"
    async with db.session() as session:
        old = await session.get(Task, first.id)
        ending = await session.get(ProcessEnding, ending_id_for(routed.workflow_id, run_id))
        restarted = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "process.repair_restarted",
                    AuditEvent.object_id == str(routed.case_id),
                )
            )
        ).all()
    assert old is not None and old.status == "cancelled"
    assert ending is not None and ending.repair_workflow_id == f"{repair_id}-r2"
    assert len(restarted) == 1
    assert (await sweep_as_the_schedule_would(skipping, skip_interval=False)).repairs_started == 0
