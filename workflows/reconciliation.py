"""Reconciliation: one ReconciliationWorkflow per statement, one BreakWorkflow per break.

ReconciliationWorkflow
1. Parse: a heartbeating activity stores the lines in chunks and reports progress (entries
   read of the total); a worker restart resumes after the last stored chunk.
2. Match: the passes (reference, batch, amount and date, fee; many to one by reference)
   run and their matches and breaks are stored in one transaction.
3. Every break becomes a `recon_exception` case with its own BreakWorkflow.
4. Our records of the statement's period still unmatched when the window for them to
   appear has passed (a durable timer) become breaks too.

BreakWorkflow: finance resolves the break (match by hand, explain, or write off); a write-
off above the threshold waits for an ops manager's approval of that exact amount, and a
rejection sends the break back to finance. Every step escalates at its SLA.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.recon_breaks import BreakActivities
    from activities.reconciliation import ReconActivities
    from core.search_attributes import CASE_STATUS
    from models.recon_io import (
        BreakInput,
        OpenBreaksInput,
        ResolutionResult,
        ResolveBreakInput,
        StatementInput,
        WriteOffDecisionInput,
    )
    from models.workflow_io import DecisionInput, DecisionResult, RecordDecisionInput
    from reconciliation.rules import APPROVE_WRITE_OFF, RESOLVE, approve_key, resolve_key
    from workflows.common import DB_ACTIVITY, DB_RETRY, INTERACTIVE_ACTIVITY, ActivityOptions
    from workflows.review import ReviewSteps, decision_refusal

# Parsing and matching a large file takes minutes: long activities that prove they are
# alive by heartbeating, so a dead worker's attempt is retried within the heartbeat timeout.
LONG_ACTIVITY = ActivityOptions(
    start_to_close_timeout=timedelta(hours=2),
    schedule_to_close_timeout=timedelta(hours=12),
    heartbeat_timeout=timedelta(seconds=30),
    retry_policy=DB_RETRY,
)


@workflow.defn
class ReconciliationWorkflow:
    def __init__(self) -> None:
        self._stage = "received"

    @workflow.query
    def stage(self) -> str:
        return self._stage

    def _status(self, stage: str) -> None:
        self._stage = stage
        workflow.upsert_search_attributes([CASE_STATUS.value_set(stage)])

    @workflow.run
    async def run(self, inp: StatementInput) -> str:
        self._status("parsing")
        parsed = await workflow.execute_activity_method(
            ReconActivities.parse_statement,
            inp,
            **LONG_ACTIVITY,
        )
        if parsed.refused:
            self._status("refused")
            return "refused"
        self._status("matching")
        await workflow.execute_activity_method(
            ReconActivities.match_statement,
            inp,
            **LONG_ACTIVITY,
        )
        await workflow.execute_activity_method(
            ReconActivities.open_break_cases,
            OpenBreaksInput(statement_id=inp.statement_id),
            **LONG_ACTIVITY,
        )
        self._status("matched")
        # Our records of the period have until the window's end to appear on a statement
        # (this one or a later one); then each one still unmatched is a break.
        if parsed.record_window_ends_at is not None:
            wait = parsed.record_window_ends_at - workflow.now()
            if wait > timedelta(0):
                await workflow.sleep(wait, summary="window for our records to appear")
        raised = await workflow.execute_activity_method(
            ReconActivities.raise_record_breaks, inp, **DB_ACTIVITY
        )
        if raised:
            await workflow.execute_activity_method(
                ReconActivities.open_break_cases,
                OpenBreaksInput(statement_id=inp.statement_id),
                **LONG_ACTIVITY,
            )
        self._status("checked")
        return "matched"


@workflow.defn
class BreakWorkflow:
    @workflow.init
    def __init__(self, inp: BreakInput) -> None:
        self._inp = inp
        # Nobody is the maker of a break; the write-off approval excludes its proposer, and
        # whoever decided one step (finance, checker) may not decide the other.
        self._reviews = ReviewSteps(inp.case_id, None, escalation_role="finance_ops")
        self._resolution: ResolutionResult | None = None
        self._resolved = False
        # Set when a later statement matched what this break was about (the activity that
        # matched it closed the break, its case and its tasks in the same transaction).
        self._matched_elsewhere: str | None = None

    @workflow.signal
    def matched_elsewhere(self, statement_reference: str) -> None:
        self._matched_elsewhere = self._matched_elsewhere or statement_reference

    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        task = self._reviews.tasks[d.task_id]
        if task.spec.kind == RESOLVE.kind:
            return await self._reviews.record(d, recorder=self._record_resolution)
        return await self._reviews.record(d)

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        closed = (
            "This break is already resolved." if self._resolved or self._matched_elsewhere else None
        )
        self._reviews.validate(d, closed_reason=closed)
        task = self._reviews.tasks[d.task_id]
        if task.spec.kind != RESOLVE.kind:
            return
        if d.outcome == "matched" and not (
            d.details.get("line_nos") or d.details.get("record_ids")
        ):
            raise ApplicationError(
                "Pick the statement lines and records of ours that belong together.",
                type="nothing_picked",
            )
        if d.outcome == "write_off" and not d.details.get("amount"):
            raise ApplicationError("Say how much to write off.", type="amount_required")

    async def _record_resolution(self, recording: RecordDecisionInput) -> DecisionResult:
        try:
            result: ResolutionResult = await workflow.execute_activity_method(
                BreakActivities.resolve_break,
                ResolveBreakInput(
                    break_id=self._inp.break_id,
                    case_id=self._inp.case_id,
                    workflow_id=workflow.info().workflow_id,
                    recording=recording,
                ),
                **INTERACTIVE_ACTIVITY,
            )
        except ActivityError as err:
            raise decision_refusal(err) from err
        self._resolution = result
        assert result.decision_id is not None
        d = recording.decision
        return DecisionResult(
            task_id=d.task_id,
            decision_id=result.decision_id,
            outcome=d.outcome,
            case_status="resolved" if result.resolved else "write-off awaiting approval",
        )

    @workflow.run
    async def run(self, inp: BreakInput) -> str:
        wid = workflow.info().workflow_id
        attempt = 0
        while True:
            attempt += 1
            self._resolution = None
            resolve = await self._reviews.open(
                RESOLVE.spec(wid, resolve_key(attempt), inp.reference, sla_seconds=inp.sla_seconds)
            )
            await self._reviews.wait(resolve, also=self._elsewhere)
            if self._elsewhere():
                break
            resolution = self._resolution
            assert resolution is not None
            if resolution.resolved:
                break
            # A write-off above the threshold: a second person approves this exact amount.
            assert resolution.write_off_id is not None and resolve.decided_by is not None
            approval = await self._reviews.open(
                APPROVE_WRITE_OFF.spec(
                    wid,
                    approve_key(attempt),
                    inp.reference,
                    sla_seconds=inp.approval_sla_seconds,
                    excluded=[resolve.decided_by],
                )
            )
            await self._reviews.wait(approval, notify_role=APPROVE_WRITE_OFF.role)
            approved = approval.outcome == "approve"
            assert approval.decided_by is not None
            await workflow.execute_activity_method(
                BreakActivities.decide_write_off,
                WriteOffDecisionInput(
                    break_id=inp.break_id,
                    case_id=inp.case_id,
                    workflow_id=wid,
                    write_off_id=resolution.write_off_id,
                    approved=approved,
                    decided_by=approval.decided_by,
                ),
                **DB_ACTIVITY,
            )
            if approved:
                break
        self._reviews.cancel_open()
        self._resolved = True
        workflow.upsert_search_attributes([CASE_STATUS.value_set("resolved")])
        return "resolved"

    def _elsewhere(self) -> bool:
        # Only before a resolution is being recorded: one in flight decides the break.
        return self._matched_elsewhere is not None and not self._reviews.in_flight
