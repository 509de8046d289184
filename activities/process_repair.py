"""Carrying out the repair two engineers agreed on for a case whose workflow ended outside
the product: close the case (and what its type keeps beside it) with the reason, or start
its process again from the case's own records under a new workflow id."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any

from sqlmodel import select
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.outage import retry_on_outage
from activities.tasks import refuse
from aml.commands.casework import lock_customer
from audit import trail as audit
from audit.trail import ActorRef
from casework import store
from casework.process_watch import CASE_OUTCOME, CLOSE_REASONS, can_resume, resumed_workflow_id
from casework.starting import CaseRef, start_case
from changes.commands.requests import ESCALATION_ROLE
from changes.queries.views import change_target_label
from changes.rules import approval_specs
from core.db import Database, run_sql
from core.settings import get_settings
from models.aml_io import AlertsAdded, AmlCaseInput
from models.base import utcnow
from models.changes import ChangeRequest
from models.onboarding_io import OnboardingInput, PartyRef
from models.process_watch_io import (
    CarryOutRepairInput,
    RepairResult,
)
from models.workflow_io import ChangeApprovalInput

ENDED_REASON_CODE = "process_ended_outside"


class ProcessRepairActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def carry_out_repair(self, inp: CarryOutRepairInput) -> RepairResult:
        """Do what two engineers agreed: close the case with the reason, or start its
        process again under a new workflow id. A retry finds the ending resolved."""
        async with self.db.session() as session:
            ending = (
                await run_sql(
                    session,
                    "SELECT e.*, c.reference, c.case_type, c.stage, c.status AS case_status "
                    'FROM process_ending e JOIN "case" c ON c.id = e.case_id WHERE e.id = :id',
                    {"id": inp.ending_id},
                )
            ).first()
        if ending is None:
            raise refuse("No such process ending.", "unknown_ending")
        if ending.status != "open":
            return RepairResult(outcome=ending.resolution, new_workflow_id=ending.new_workflow_id)
        client = activity.client()
        # A reset run still runs (so may a run the product itself started again under the
        # old id, e.g. an AML alert's signal-with-start): the product ends it first.
        await _terminate_if_running(client, ending.workflow_id, inp)
        approver = ActorRef(inp.approved_by, inp.approved_by_name)
        who = {
            "proposed_by": inp.proposed_by_name,
            "approved_by": inp.approved_by_name,
            "repair_workflow_id": inp.repair_workflow_id,
            "ended_workflow_id": ending.workflow_id,
            "ended_run_id": ending.run_id,
            "kind": ending.kind,
        }
        if inp.outcome == "close":
            label = CLOSE_REASONS.get(inp.reason_code or "", inp.reason_code or "closed")
            reason = f"{label}: {inp.comment}" if inp.comment else label
            async with self.db.transaction() as session:
                if not await _lock_open(session, inp.ending_id):
                    return RepairResult(outcome="close")
                now = utcnow()
                await _close_process_records(session, ending, reason, inp.approved_by, now)
                await store.close_case(
                    session, ending.case_id, outcome=CASE_OUTCOME, reason=reason, now=now
                )
                await run_sql(
                    session,
                    'UPDATE "case" SET process_ended_outside = false WHERE id = :id',
                    {"id": ending.case_id},
                )
                await _resolve(session, inp.ending_id, "close", reason, None, now)
                await audit.record(
                    session,
                    action="process.closed",
                    actor=approver,
                    object_type="case",
                    object_id=ending.case_id,
                    workflow_id=inp.repair_workflow_id,
                    reason=reason,
                    details={**who, "reason_code": inp.reason_code},
                )
            return RepairResult(outcome="close")

        if not can_resume(ending.case_type):
            raise refuse("This kind of case cannot be resumed; close it.", "not_resumable")
        new_id = resumed_workflow_id(ending.workflow_id)
        # The case's records point at the new run before it starts: its first activities
        # find the case (and the application) by their workflow id. The flag stays until
        # the run exists, so the sweep does not look at an id not started yet.
        async with self.db.transaction() as session:
            if not await _lock_open(session, inp.ending_id):
                return RepairResult(outcome="resume", new_workflow_id=new_id)
            params = {"new": new_id, "id": ending.case_id}
            await run_sql(session, 'UPDATE "case" SET workflow_id = :new WHERE id = :id', params)
            # Whichever of these the case type has: the applicant's answers and a maker's
            # withdrawal are sent to the workflow these name.
            await run_sql(
                session, "UPDATE application SET workflow_id = :new WHERE case_id = :id", params
            )
            await run_sql(
                session, "UPDATE change_request SET workflow_id = :new WHERE case_id = :id", params
            )
        await self._start_again(client, ending, new_id)
        async with self.db.transaction() as session:
            if not await _lock_open(session, inp.ending_id):
                return RepairResult(outcome="resume", new_workflow_id=new_id)
            await run_sql(
                session,
                'UPDATE "case" SET process_ended_outside = false WHERE id = :id',
                {"id": ending.case_id},
            )
            await _resolve(session, inp.ending_id, "resume", inp.comment, new_id, utcnow())
            await audit.record(
                session,
                action="process.resumed",
                actor=approver,
                object_type="case",
                object_id=ending.case_id,
                workflow_id=new_id,
                details={**who, "new_workflow_id": new_id},
            )
        return RepairResult(outcome="resume", new_workflow_id=new_id)

    async def _start_again(self, client: Client, ending: Any, new_id: str) -> None:
        """A new run of the case's process, from the case's own records (not from the
        ended run's history): the same inputs the product gave the first run."""
        task_queue = activity.info().task_queue
        customer_id: uuid.UUID | None = None
        summary = f"{ending.reference} resumed after the process was {ending.kind}"
        async with self.db.session() as session:
            if ending.case_type == "onboarding":
                app = (
                    await run_sql(
                        session,
                        "SELECT id, kind, submitted_by FROM application WHERE case_id = :c",
                        {"c": ending.case_id},
                    )
                ).one()
                parties = (
                    await run_sql(
                        session,
                        "SELECT id, role, kind FROM application_party "
                        "WHERE application_id = :a ORDER BY position, id",
                        {"a": app.id},
                    )
                ).all()
                start: dict[str, Any] = {
                    "workflow": "OnboardingWorkflow",
                    "arg": OnboardingInput(
                        application_id=app.id,
                        case_id=ending.case_id,
                        reference=ending.reference,
                        kind=app.kind,
                        parties=[
                            PartyRef(party_id=p.id, role=p.role, kind=p.kind) for p in parties
                        ],
                        submitted_by=app.submitted_by,
                    ),
                }
            elif ending.case_type == "change_request":
                start = await _change_start(session, ending, new_id)
            else:  # aml
                aml = (
                    await run_sql(
                        session,
                        "SELECT customer_id, detected_at FROM aml_case WHERE case_id = :c",
                        {"c": ending.case_id},
                    )
                ).one()
                alert_ids = (
                    await run_sql(
                        session,
                        "SELECT id FROM aml_alert WHERE case_id = :c ORDER BY detected_at, id",
                        {"c": ending.case_id},
                    )
                ).scalars()
                customer_id = aml.customer_id
                start = {
                    "workflow": "AmlCaseWorkflow",
                    "arg": AmlCaseInput(
                        case_id=ending.case_id,
                        customer_id=aml.customer_id,
                        reference=ending.reference,
                        detected_at=aml.detected_at,
                    ),
                    "start_signal": "add_alerts",
                    "start_signal_args": [AlertsAdded(alert_ids=list(alert_ids))],
                }
        with contextlib.suppress(WorkflowAlreadyStartedError):  # started by an earlier attempt
            await start_case(
                None,  # audited by the caller (process.resumed) once the run is recorded
                client,
                CaseRef(ending.case_id, ending.case_type, ending.stage, new_id, customer_id),
                start["arg"],
                workflow=start["workflow"],
                task_queue=task_queue,
                event=None,
                summary=summary,
                what="the resumed process",
                start_signal=start.get("start_signal"),
                start_signal_args=start.get("start_signal_args", ()),
            )


async def _change_start(session: Any, ending: Any, new_id: str) -> dict[str, Any]:
    """The change request's approval again, as propose_change starts it: same change,
    version and maker, approvals asked afresh, until the expiry it already had."""
    change = (
        await session.exec(select(ChangeRequest).where(ChangeRequest.case_id == ending.case_id))
    ).one()
    label, config_key = await change_target_label(session, change)
    sla_seconds = get_settings().change_approval_sla_hours * 3600
    remaining = (change.expires_at - utcnow()).total_seconds()
    return {
        "workflow": "ChangeApprovalWorkflow",
        "arg": ChangeApprovalInput(
            change_id=change.id,
            case_id=ending.case_id,
            reference=ending.reference,
            target_type=change.target_type,
            target_id=change.target_id,
            base_version=change.base_version,
            maker_id=change.maker_id,
            editor_ids=[change.maker_id],
            tier=change.tier,
            approvals=approval_specs(
                new_id,
                ending.reference,
                label,
                change.tier,
                change.maker_id,
                sla_seconds,
                target_type=change.target_type,
                config_key=config_key,
            ),
            expiry_seconds=max(int(remaining), 1),
            effective_at=change.effective_at,
            escalation_role=ESCALATION_ROLE.get(change.target_type, "ops_manager"),
        ),
    }


async def _terminate_if_running(client: Client, workflow_id: str, inp: CarryOutRepairInput) -> None:
    handle = client.get_workflow_handle(workflow_id)
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return
        await handle.terminate(
            reason=(
                f"backoffice: {inp.outcome} proposed by {inp.proposed_by_name}, "
                f"approved by {inp.approved_by_name}"
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def _close_process_records(
    session: Any, ending: Any, reason: str, approver: uuid.UUID, now: datetime
) -> None:
    """What the case type keeps beside the case, closed with it, so nothing else still
    shows it open (an application in review, a pending change, an open AML case that new
    alerts would join, an open break)."""
    params = {"case": ending.case_id, "reason": reason[:500], "now": now, "by": approver}
    if ending.case_type == "aml":
        customer = (
            await run_sql(session, "SELECT customer_id FROM aml_case WHERE case_id = :case", params)
        ).scalar_one()
        await lock_customer(session, customer)  # as ingest takes it to attach alerts
        await run_sql(
            session,
            "UPDATE aml_case SET closed_at = :now WHERE case_id = :case AND closed_at IS NULL",
            params,
        )
    elif ending.case_type == "onboarding":
        # Only approved / rejected are final; the reason code says it was not a review.
        await run_sql(
            session,
            "UPDATE application SET status = 'rejected', outcome = 'rejected', "
            "reason_code = :code, outcome_reason = :reason, decided_at = :now, "
            "information_due_at = NULL WHERE case_id = :case AND outcome IS NULL",
            {**params, "code": ENDED_REASON_CODE},
        )
    elif ending.case_type == "change_request":
        await run_sql(
            session,
            "UPDATE change_request SET status = 'aborted', status_reason = :reason, "
            "closed_at = :now WHERE case_id = :case "
            "AND status IN ('pending_approval', 'scheduled')",
            params,
        )
    elif ending.case_type == "recon_exception":
        await run_sql(
            session,
            "UPDATE recon_break SET status = 'resolved', resolution = 'explained', "
            "reason_code = :code, note = :reason, resolved_by = :by, resolved_at = :now "
            "WHERE case_id = :case AND status = 'open'",
            {**params, "code": ENDED_REASON_CODE},
        )


async def _lock_open(session: Any, ending_id: uuid.UUID) -> bool:
    row = (
        await run_sql(
            session,
            "SELECT status FROM process_ending WHERE id = :id FOR UPDATE",
            {"id": ending_id},
        )
    ).first()
    return row is not None and row.status == "open"


async def _resolve(
    session: Any,
    ending_id: uuid.UUID,
    resolution: str,
    reason: str | None,
    new_workflow_id: str | None,
    now: datetime,
) -> None:
    await run_sql(
        session,
        "UPDATE process_ending SET status = :status, resolution = :resolution, "
        "resolution_reason = :reason, new_workflow_id = :new, resolved_at = :now "
        "WHERE id = :id",
        {
            "status": "closed" if resolution == "close" else "resumed",
            "resolution": resolution,
            "reason": reason[:500] if reason else None,
            "new": new_workflow_id,
            "now": now,
            "id": ending_id,
        },
    )
