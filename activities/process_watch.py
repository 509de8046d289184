"""The sweep that notices case workflows ended outside the product (process watch).

It walks the open cases in batches of ids, asks Temporal about each case's workflow
(describe: one cheap call that needs no visibility store) and records what ended out of
band: one row per ended run, with the case's flag, its tasks cancelled and the audit event
in the same transaction; then a repair workflow per ending (activities/process_repair.py
does what the engineers agree on). A second sweep finds the row and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.outage import retry_on_outage
from audit import trail as audit
from audit.trail import SYSTEM
from casework import store
from casework.process_watch import (
    ENDED_STATUSES,
    KIND_LABELS,
    can_resume,
    ending_id_for,
    repair_workflow_id,
    resumed_workflow_id,
)
from core.db import Database, run_sql
from core.search_attributes import CASE_ID
from models.base import utcnow
from models.process_watch_io import (
    RepairInput,
    SweepInput,
    SweepSummary,
)

DESCRIBES_IN_FLIGHT = 20


@dataclass
class Ending:
    case_id: uuid.UUID
    reference: str
    case_type: str
    workflow_id: str
    run_id: str
    kind: str
    reason: str | None = None
    identity: str | None = None
    ended_at: datetime | None = None


class ProcessWatchActivities:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ the sweep
    @activity.defn
    @retry_on_outage
    async def sweep_process_endings(self, inp: SweepInput) -> SweepSummary:
        client = activity.client()
        summary = SweepSummary()
        gate = asyncio.Semaphore(DESCRIBES_IN_FLIGHT)
        after: uuid.UUID | None = None
        while True:
            async with self.db.session() as session:
                rows = (
                    await run_sql(
                        session,
                        'SELECT id, reference, case_type, workflow_id FROM "case" '
                        "WHERE status = 'open' AND NOT process_ended_outside "
                        "AND (CAST(:after AS uuid) IS NULL OR id > :after) "
                        "ORDER BY id LIMIT :n",
                        {"after": after, "n": inp.batch_size},
                    )
                ).all()
            if not rows:
                break
            after = rows[-1].id
            summary.cases_checked += len(rows)

            async def check(row: Any) -> Ending | None:
                async with gate:
                    return await ended_out_of_band(client, row)

            for ending in await asyncio.gather(*(check(r) for r in rows)):
                if ending is not None and await self._record(ending):
                    summary.endings_found += 1
            activity.heartbeat(str(after))
        summary.repairs_started = await self._start_repairs(client)
        return summary

    async def _record(self, e: Ending) -> bool:
        """Flag the case, cancel its tasks, audit what happened: once per ended run."""
        ending_id = ending_id_for(e.workflow_id, e.run_id)
        async with self.db.transaction() as session:
            still_open = (
                await run_sql(
                    session,
                    "SELECT 1 FROM \"case\" WHERE id = :id AND status = 'open' "
                    "AND workflow_id = :wid AND NOT process_ended_outside FOR UPDATE",
                    {"id": e.case_id, "wid": e.workflow_id},
                )
            ).first()
            if still_open is None:  # closed, resumed or flagged meanwhile
                return False
            inserted = (
                await run_sql(
                    session,
                    "INSERT INTO process_ending (id, case_id, workflow_id, run_id, kind, reason, "
                    "identity, ended_at, detected_at, repair_workflow_id, repair_started, status) "
                    "VALUES (:id, :case, :wid, :run, :kind, :reason, :identity, :ended, now(), "
                    ":repair, false, 'open') ON CONFLICT (workflow_id, run_id) DO NOTHING "
                    "RETURNING id",
                    {
                        "id": ending_id,
                        "case": e.case_id,
                        "wid": e.workflow_id,
                        "run": e.run_id,
                        "kind": e.kind,
                        "reason": e.reason[:1000] if e.reason else None,
                        "identity": e.identity[:300] if e.identity else None,
                        "ended": e.ended_at,
                        "repair": repair_workflow_id(ending_id),
                    },
                )
            ).first()
            if inserted is None:  # this run was seen (and repaired) before
                return False
            await run_sql(
                session,
                'UPDATE "case" SET process_ended_outside = true WHERE id = :id',
                {"id": e.case_id},
            )
            await store.end_open_tasks(session, e.case_id, utcnow())
            await audit.record(
                session,
                action="process.ended_outside",
                actor=SYSTEM,
                outcome=audit.SUCCESS,
                object_type="case",
                object_id=e.case_id,
                workflow_id=e.workflow_id,
                reason=(
                    f"The workflow {e.workflow_id} was {KIND_LABELS[e.kind]} outside backoffice"
                    + (f" by {e.identity}" if e.identity else "")
                    + (f": {e.reason}" if e.reason else "")
                )[:1000],
                details={
                    "kind": e.kind,
                    "case_reference": e.reference,
                    "workflow_id": e.workflow_id,
                    "run_id": e.run_id,
                    "temporal_reason": e.reason,
                    "temporal_identity": e.identity,
                    "ended_at": e.ended_at,
                    "ending_id": ending_id,
                },
            )
        activity.logger.warning(
            "case %s: workflow %s %s outside backoffice", e.reference, e.workflow_id, e.kind
        )
        return True

    async def _start_repairs(self, client: Client) -> int:
        """A repair workflow (its ops task) for every open ending that has none running: not
        started yet, or ended outside the product itself (then a new one, its tasks anew)."""
        async with self.db.session() as session:
            rows = (
                await run_sql(
                    session,
                    "SELECT e.id, e.case_id, e.kind, e.workflow_id, e.repair_workflow_id, "
                    "e.repair_started, c.reference, c.case_type FROM process_ending e "
                    "JOIN \"case\" c ON c.id = e.case_id WHERE e.status = 'open'",
                )
            ).all()
        task_queue = activity.info().task_queue
        started = 0
        for row in rows:
            repair_id = row.repair_workflow_id
            if row.repair_started:
                if not await _repair_ended(client, repair_id):
                    continue
                repair_id = resumed_workflow_id(repair_id)
            with contextlib.suppress(WorkflowAlreadyStartedError):  # an earlier attempt did
                await client.start_workflow(
                    "ProcessRepairWorkflow",
                    RepairInput(
                        ending_id=row.id,
                        case_id=row.case_id,
                        reference=row.reference,
                        case_type=row.case_type,
                        kind=row.kind,
                        workflow_id=row.workflow_id,
                        resumable=can_resume(row.case_type),
                    ),
                    id=repair_id,
                    task_queue=task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(CASE_ID, str(row.case_id))]
                    ),
                    static_summary=f"{row.reference} repair after the process was {row.kind}",
                )
            async with self.db.transaction() as session:
                await run_sql(
                    session,
                    "UPDATE process_ending SET repair_started = true, repair_workflow_id = :rid "
                    "WHERE id = :id",
                    {"id": row.id, "rid": repair_id},
                )
                if repair_id != row.repair_workflow_id:
                    await store.end_open_tasks(
                        session, row.case_id, utcnow(), workflow_id=row.repair_workflow_id
                    )
                    await audit.record(
                        session,
                        action="process.repair_restarted",
                        actor=SYSTEM,
                        object_type="case",
                        object_id=row.case_id,
                        workflow_id=repair_id,
                        reason=f"The repair workflow {row.repair_workflow_id} ended outside "
                        "backoffice; a new one asks the engineers again.",
                        details={"ended_repair": row.repair_workflow_id, "new_repair": repair_id},
                    )
            started += 1
        return started


async def ended_out_of_band(client: Client, row: Any) -> Ending | None:
    """What Temporal says of the case's workflow: an Ending when it ended (or was reset)
    outside the product, else None (running, completed, or not started yet)."""
    try:
        desc = await client.get_workflow_handle(row.workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # not started yet, or never ours
            return None
        raise
    status = desc.status
    ending = Ending(
        case_id=row.id,
        reference=row.reference,
        case_type=row.case_type,
        workflow_id=row.workflow_id,
        run_id=desc.run_id,
        kind="",
        ended_at=desc.close_time,
    )
    if status is not None and status.name in ENDED_STATUSES:
        ending.kind = ENDED_STATUSES[status.name]
    elif status == WorkflowExecutionStatus.RUNNING:
        extended = desc.raw_description.workflow_extended_info
        if not extended.HasField("last_reset_time"):
            return None
        ending.kind = "reset"
        ending.ended_at = extended.last_reset_time.ToDatetime().replace(tzinfo=UTC)
    else:
        return None
    await _read_why(client, ending)
    return ending


async def _repair_ended(client: Client, repair_id: str) -> bool:
    """Whether a repair workflow ended without carrying out its repair (terminated,
    cancelled, failed, timed out). Not found: not on this server, so not ours to judge."""
    try:
        status = (await client.get_workflow_handle(repair_id).describe()).status
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return status is not None and status.name in ENDED_STATUSES


async def _read_why(client: Client, e: Ending) -> None:
    """Temporal's recorded reason and identity (who terminated, cancelled or reset it)."""
    handle = client.get_workflow_handle(e.workflow_id, run_id=e.run_id)
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_terminated_event_attributes"):
            t = event.workflow_execution_terminated_event_attributes
            e.reason, e.identity = t.reason or None, t.identity or None
        elif event.HasField("workflow_execution_cancel_requested_event_attributes"):
            c = event.workflow_execution_cancel_requested_event_attributes
            e.reason, e.identity = c.cause or None, c.identity or None
        elif event.HasField("workflow_execution_failed_event_attributes"):
            e.reason = event.workflow_execution_failed_event_attributes.failure.message or None
        elif event.HasField("workflow_task_failed_event_attributes"):
            f = event.workflow_task_failed_event_attributes
            if f.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW:
                e.reason, e.identity = f.failure.message or None, f.identity or None
