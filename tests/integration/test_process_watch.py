"""Out-of-band endings against the real services: an onboarding workflow terminated with the
real `temporal` CLI is found by the real Temporal Schedule's sweep (flag, audit event, ops
task), and the repair goes through the API under four-eyes (the proposer never approves)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from casework.process_watch import CASE_OUTCOME, ending_id_for, repair_workflow_id
from core import embedded
from core.db import Database
from core.schedules import ensure_schedule, process_watch_schedule
from core.settings import Settings
from models.audit import AuditEvent
from models.cases import Case, Task
from models.onboarding import Application
from tests.helpers import (
    Staff,
    api_headers,
    environment_without_services,
    eventually,
    new_staff,
    run_command,
    task_of,
    web_login,
)
from tests.onboarding_data import listed_individual

pytestmark = pytest.mark.usefixtures("onboarding_ready")


async def _events(db: Database, action: str, case_id: uuid.UUID) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == action, AuditEvent.object_id == str(case_id)
                    )
                )
            ).all()
        )


async def _case(db: Database, case_id: uuid.UUID) -> Case:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case


async def _onboarding_in_review(
    http: httpx.AsyncClient, db: Database
) -> tuple[str, uuid.UUID, Task]:
    """An application waiting for its analyst: (workflow id, case id, the review task)."""
    service = await new_staff(db, "upstream_system", prefix="svc")
    accepted = (
        await http.post(
            "/api/v1/applications",
            json=listed_individual(),
            headers=await api_headers(http, service.username),
        )
    ).json()
    wid = accepted["workflow_id"]
    return wid, uuid.UUID(accepted["case_id"]), await task_of(db, wid, "review-analyst#1")


async def _cli(address: str, *args: str) -> None:
    """The real `temporal` CLI, as an engineer with a shell on the host runs it."""
    done = await run_command(
        [str(embedded.venv_binary("temporal")), "workflow", *args, "--address", address],
        env=environment_without_services(),
    )
    assert done.returncode == 0, done.stderr


async def _sweep_by_the_schedule(
    client: Client, settings: Settings, db: Database, case_id: uuid.UUID
) -> Case:
    """Trigger the real schedule (an id of its own on the shared server, this session's
    queue) and wait until its sweep has flagged the case."""
    schedule_id = f"process-watch-{uuid.uuid4().hex[:8]}"
    await ensure_schedule(client, schedule_id, process_watch_schedule(settings, schedule_id))
    schedule = client.get_schedule_handle(schedule_id)
    try:
        await schedule.trigger()

        async def flagged() -> Case | None:
            case = await _case(db, case_id)
            return case if case.process_ended_outside else None

        return await eventually(flagged, what="the case flagged by the sweep")
    finally:
        await schedule.delete()


async def _four_eyes(
    http: httpx.AsyncClient, db: Database, repair_id: str, proposal: dict[str, str]
) -> tuple[Staff, Staff]:
    """One engineer proposes through the API, the same engineer is refused the approval,
    a second engineer approves."""
    proposer, approver = await new_staff(db, "engineer"), await new_staff(db, "engineer")
    mine = await api_headers(http, proposer.username)
    theirs = await api_headers(http, approver.username)
    task = await task_of(db, repair_id, "propose")
    inbox = await http.get("/api/v1/tasks", params={"scope": "available"}, headers=mine)
    assert str(task.id) in {t["id"] for t in inbox.json()["items"]}  # in the engineer's queue
    claimed = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=mine)
    assert claimed.status_code == 200, claimed.text
    proposed = await http.post(f"/api/v1/tasks/{task.id}/decision", json=proposal, headers=mine)
    assert proposed.status_code == 200, proposed.text
    approval = await task_of(db, repair_id, "approve")
    own = await http.post(f"/api/v1/tasks/{approval.id}/claim", headers=mine)
    assert own.status_code == 403, own.text  # the proposer never approves
    assert (
        await http.post(f"/api/v1/tasks/{approval.id}/claim", headers=theirs)
    ).status_code == 200
    approved = await http.post(
        f"/api/v1/tasks/{approval.id}/decision", json={"outcome": "approve_repair"}, headers=theirs
    )
    assert approved.status_code == 200, approved.text
    return proposer, approver


async def test_workflow_terminated_with_the_cli_is_flagged_and_closed_under_four_eyes(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    wid, case_id, review = await _onboarding_in_review(http, db)
    run_id = (await client.get_workflow_handle(wid).describe()).run_id
    address = client.service_client.config.target_host
    await _cli(address, "terminate", "--workflow-id", wid, "--reason", "stuck, ended by hand")

    case = await _sweep_by_the_schedule(client, settings, db, case_id)
    assert case.status == "open"
    [event] = await _events(db, "process.ended_outside", case_id)
    assert (event.details["kind"], event.details["run_id"]) == ("terminated", run_id)
    assert event.details["temporal_reason"] == "stuck, ended by hand"
    assert event.workflow_id == wid
    async with db.session() as session:
        cancelled = await session.get(Task, review.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    repair_id = repair_workflow_id(ending_id_for(wid, run_id))
    proposal = await task_of(db, repair_id, "propose")
    assert proposal.candidate_role == "engineer" and proposal.case_id == case_id

    # The case page and the case list say what happened.
    reader = await new_staff(db, "engineer")
    await web_login(http, reader.username)
    page = await http.get(f"/cases/{case_id}")
    assert "Process ended outside backoffice." in page.text and "terminated" in page.text
    assert "propose resume or close" in page.text  # the repair task, on the case it repairs
    listed = await http.get("/cases", params={"q": case.reference})
    assert "process ended outside backoffice" in listed.text
    only_flagged = await http.get("/cases", params={"outside": "only", "type": "onboarding"})
    assert case.reference in only_flagged.text
    assert "ended-outside" in only_flagged.text and 'value="only" selected' in only_flagged.text
    headers = await api_headers(http, reader.username)
    flagged = await http.get(
        "/api/v1/cases", params={"ended_outside": "true", "type": "onboarding"}, headers=headers
    )
    assert flagged.status_code == 200, flagged.text
    [item] = [c for c in flagged.json()["items"] if c["id"] == str(case_id)]
    assert item["process_ended_outside"] is True and item["workflow_id"] == wid

    proposer, approver = await _four_eyes(
        http,
        db,
        repair_id,
        {
            "outcome": "close_case",
            "reason": "handled_outside",
            "comment": "The applicant withdrew on the phone; nothing left to review.",
        },
    )

    async def closed() -> Case | None:
        case = await _case(db, case_id)
        return case if case.status == "closed" else None

    case = await eventually(closed, what="the case closed after approval")
    assert case is not None and case.outcome == CASE_OUTCOME
    assert case.outcome_reason and case.outcome_reason.startswith("Handled outside the product")
    assert not case.process_ended_outside
    still_flagged = await http.get(
        "/api/v1/cases", params={"ended_outside": "true", "q": case.reference}, headers=headers
    )
    assert still_flagged.json()["items"] == []
    page_after = await http.get("/cases", params={"outside": "only", "q": case.reference})
    assert "No cases match." in page_after.text
    async with db.session() as session:
        application = (
            await session.exec(select(Application).where(Application.case_id == case_id))
        ).one()
    # Final for upstream too, saying it was not a review's decision.
    assert (application.status, application.reason_code) == ("rejected", "process_ended_outside")
    [done] = await _events(db, "process.closed", case_id)
    assert done.actor == approver.username
    assert done.details["proposed_by"] == proposer.username


async def test_resumed_onboarding_runs_again_under_a_new_id_and_reaches_its_analyst(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    wid, case_id, _ = await _onboarding_in_review(http, db)
    run_id = (await client.get_workflow_handle(wid).describe()).run_id
    await client.get_workflow_handle(wid).cancel()
    await _sweep_by_the_schedule(client, settings, db, case_id)
    [event] = await _events(db, "process.ended_outside", case_id)
    assert event.details["kind"] == "cancelled"

    await _four_eyes(
        http,
        db,
        repair_workflow_id(ending_id_for(wid, run_id)),
        {"outcome": "resume", "comment": "Cancelled during a drill; the review is still owed."},
    )
    new_id = f"{wid}-r2"
    review = await task_of(db, new_id, "review-analyst#1")
    assert review.case_id == case_id and review.status == "open"

    # The new run may open its task before the repair's last transaction clears the flag.
    async def resumed() -> Case | None:
        case = await _case(db, case_id)
        return case if not case.process_ended_outside else None

    case = await eventually(resumed, what="the case unflagged after the resume")
    assert (case.workflow_id, case.process_ended_outside, case.status) == (new_id, False, "open")
    async with db.session() as session:
        application = (
            await session.exec(select(Application).where(Application.case_id == case_id))
        ).one()
    assert application.workflow_id == new_id  # the applicant's answers reach the new run
    [resumed] = await _events(db, "process.resumed", case_id)
    assert resumed.details["new_workflow_id"] == new_id


async def test_workflow_reset_with_the_cli_is_flagged(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    wid, case_id, _ = await _onboarding_in_review(http, db)
    address = client.service_client.config.target_host
    await _cli(
        address,
        "reset",
        "--workflow-id",
        wid,
        "--type",
        "FirstWorkflowTask",
        "--reason",
        "replay it",
    )
    await _sweep_by_the_schedule(client, settings, db, case_id)
    [event] = await _events(db, "process.ended_outside", case_id)
    assert event.details["kind"] == "reset"
    assert event.details["temporal_reason"].endswith("replay it")  # the CLI adds its user
    # The run the reset made is the one recorded; it still runs, its case's tasks cancelled.
    reset_run = await client.get_workflow_handle(wid).describe()
    assert event.details["run_id"] == reset_run.run_id
    assert reset_run.status == WorkflowExecutionStatus.RUNNING

    await _four_eyes(
        http,
        db,
        repair_workflow_id(ending_id_for(wid, reset_run.run_id)),
        {
            "outcome": "close_case",
            "reason": "cannot_resume",
            "comment": "Reset by hand; start over.",
        },
    )

    async def closed() -> Case | None:
        case = await _case(db, case_id)
        return case if case.status == "closed" else None

    await eventually(closed, what="the case closed after approval")
    # The product ended the reset run itself, saying who agreed.
    ended = await client.get_workflow_handle(wid).describe()
    assert ended.status == WorkflowExecutionStatus.TERMINATED
