"""Out-of-band endings against the real services: an onboarding workflow terminated with the
real `temporal` CLI is found by the real Temporal Schedule's sweep (flag, audit event, ops
task), and the repair goes through the API under four-eyes (the proposer never approves)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from core import embedded
from core.db import Database
from core.schedules import ensure_schedule, process_watch_schedule
from core.settings import Settings
from domain.process_watch import CASE_OUTCOME, ending_id_for, repair_workflow_id
from models.audit import AuditEvent
from models.cases import Case, Task
from tests.helpers import (
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


async def test_workflow_terminated_with_the_cli_is_flagged_and_closed_under_four_eyes(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    service = await new_staff(db, "upstream_system", prefix="svc")
    accepted = (
        await http.post(
            "/api/v1/applications",
            json=listed_individual(),
            headers=await api_headers(http, service.username),
        )
    ).json()
    wid, case_id = accepted["workflow_id"], uuid.UUID(accepted["case_id"])
    review = await task_of(db, wid, "review-analyst#1")
    run_id = (await client.get_workflow_handle(wid).describe()).run_id

    # What an engineer with a shell does: terminate it with the real CLI.
    address = client.service_client.config.target_host
    terminated = await run_command(
        [
            str(embedded.venv_binary("temporal")),
            "workflow",
            "terminate",
            "--address",
            address,
            "--workflow-id",
            wid,
            "--reason",
            "stuck, ended by hand",
        ],
        env=environment_without_services(),
    )
    assert terminated.returncode == 0, terminated.stderr

    # The real schedule (an id of its own on the shared server, this session's queue).
    schedule_id = f"process-watch-{uuid.uuid4().hex[:8]}"
    await ensure_schedule(client, schedule_id, process_watch_schedule(settings, schedule_id))
    schedule = client.get_schedule_handle(schedule_id)
    try:
        await schedule.trigger()

        async def flagged() -> Case | None:
            case = await _case(db, case_id)
            return case if case.process_ended_outside else None

        await eventually(flagged, within=60, what="the case flagged by the sweep")
    finally:
        await schedule.delete()

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

    proposer, approver = await new_staff(db, "engineer"), await new_staff(db, "engineer")
    # The case page says what happened.
    await web_login(http, proposer.username)
    page = await http.get(f"/cases/{case_id}")
    assert "Process ended outside backoffice." in page.text and "terminated" in page.text
    reference = (await _case(db, case_id)).reference
    listed = await http.get("/cases", params={"q": reference})
    assert "process ended outside backoffice" in listed.text

    mine = await api_headers(http, proposer.username)
    theirs = await api_headers(http, approver.username)
    claimed = await http.post(f"/api/v1/tasks/{proposal.id}/claim", headers=mine)
    assert claimed.status_code == 200, claimed.text
    proposed = await http.post(
        f"/api/v1/tasks/{proposal.id}/decision",
        json={
            "outcome": "close",
            "reason": "handled_outside",
            "comment": "The applicant withdrew on the phone; nothing left to review.",
        },
        headers=mine,
    )
    assert proposed.status_code == 200, proposed.text

    approval = await task_of(db, repair_id, "approve")
    own = await http.post(f"/api/v1/tasks/{approval.id}/claim", headers=mine)
    assert own.status_code == 403, own.text  # the proposer never approves
    assert (await _case(db, case_id)).status == "open"

    assert (
        await http.post(f"/api/v1/tasks/{approval.id}/claim", headers=theirs)
    ).status_code == 200
    approved = await http.post(
        f"/api/v1/tasks/{approval.id}/decision", json={"outcome": "approve"}, headers=theirs
    )
    assert approved.status_code == 200, approved.text

    async def closed() -> Case | None:
        case = await _case(db, case_id)
        return case if case.status == "closed" else None

    case = await eventually(closed, within=30, what="the case closed after approval")
    assert case is not None and case.outcome == CASE_OUTCOME
    assert case.outcome_reason and case.outcome_reason.startswith("Handled outside the product")
    assert not case.process_ended_outside
    [done] = await _events(db, "process.closed", case_id)
    assert done.actor == approver.username
    assert done.details["proposed_by"] == proposer.username
