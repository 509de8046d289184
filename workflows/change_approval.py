"""ChangeApprovalWorkflow: a proposed fee, limit or configuration change under four-eyes control.

pending_approval --(every approval task approved)--> [scheduled] --> applied [--end date--> grants end]
        |--reject--> rejected   |--maker withdraws--> withdrawn   |--72 h--> expired
        |--target changed (another change applied, or stale at approval)--> superseded

The approval tasks are the shared human steps (workflows.review.ReviewSteps): planned at
the start so the validator knows them at once, opened side by side, escalated at their SLA
while the approval window runs, every decision checked by the same segregation rule as the
web door. The port onto ReviewSteps emits the same commands as the workflow's own copies
did, so the recorded histories of running changes replay unchanged (tests/workflows).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.changes import ChangeActivities
    from core.search_attributes import CASE_STATUS
    from models.workflow_io import (
        ApplyChangeInput,
        ChangeApprovalInput,
        ChangeState,
        ChangeStatusInput,
        DecisionInput,
        DecisionResult,
        ExpireGrantsInput,
        Origin,
        TargetChanged,
        WithdrawInput,
    )
    from workflows.common import DB_ACTIVITY
    from workflows.review import ReviewSteps

PENDING, SCHEDULED, APPLIED = "pending_approval", "scheduled", "applied"
REJECTED, WITHDRAWN, EXPIRED, SUPERSEDED = "rejected", "withdrawn", "expired", "superseded"
# Role changes with an end date (issue 16): after applying, a timer ends the grants. No
# `workflow.patched` marker: only an input with `grant_ends_at` takes the branch, and no
# workflow started before it could carry one (role changes did not exist), so every earlier
# history replays unchanged; and the SDK writes a patch marker's payload unencrypted, which
# the sealed-history promise (27) does not allow.


@workflow.defn
class ChangeApprovalWorkflow:
    @workflow.init
    def __init__(self, inp: ChangeApprovalInput) -> None:
        # Everything the update validators need exists before run() starts.
        self._inp = inp
        started = workflow.info().workflow_start_time
        self._expires_at = started + timedelta(seconds=inp.expiry_seconds)
        self._status = PENDING
        self._reason: str | None = None
        self._reviews = ReviewSteps(
            inp.case_id, inp.maker_id, inp.escalation_role, editor_ids=inp.editor_ids
        )
        for spec in inp.approvals:
            # Due from the workflow's start on the server's clock, as the approval window.
            self._reviews.plan(spec, started + timedelta(seconds=spec.sla_seconds))
        self._closed_by_handler = False
        # An AML rule change is not approved before its backtest has finished (issue 17).
        # A signal and a validator only: no command changes, recorded histories replay.
        self._backtest_pending = inp.backtest

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, inp: ChangeApprovalInput) -> ChangeState:
        workflow_id = workflow.info().workflow_id
        await self._reviews.open_planned()
        expired = await self._reviews.wait_all(
            lambda: self._status != PENDING or self._all_approved(), deadline=self._expires_at
        )
        if expired:
            # A decision being recorded as the window closes counts.
            await workflow.wait_condition(lambda: not self._reviews.in_flight)
            if self._status == PENDING and not self._all_approved():
                self._close(EXPIRED, "No decision within the approval window.")

        if self._status == PENDING and self._all_approved():
            await self._apply_when_effective(workflow_id)

        if self._status == APPLIED and inp.grant_ends_at is not None:
            await self._end_grants_at(workflow_id, inp.grant_ends_at)

        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._closed_by_handler:
            await self._record_final_status(workflow_id)
        self._set_search_status()
        return self.current_state()

    async def _apply_when_effective(self, workflow_id: str) -> None:
        inp = self._inp
        if inp.effective_at is not None and inp.effective_at > workflow.now():
            await self._change_status(workflow_id, SCHEDULED, close=False)
            self._status = SCHEDULED
            self._set_search_status()
            try:
                await workflow.wait_condition(
                    lambda: self._status != SCHEDULED, timeout=inp.effective_at - workflow.now()
                )
                return  # superseded while waiting for the effective date
            except TimeoutError:
                pass
        result = await workflow.execute_activity_method(
            ChangeActivities.apply_change,
            ApplyChangeInput(change_id=inp.change_id, case_id=inp.case_id, workflow_id=workflow_id),
            **DB_ACTIVITY,
        )
        if not result.applied:
            self._close(SUPERSEDED, f"Not applied: {result.stale_reason}.")
            return
        self._status = APPLIED
        self._closed_by_handler = True  # apply_change closed the change and case itself
        signal = TargetChanged(
            target_type=inp.target_type,
            target_id=inp.target_id,
            new_version=result.new_version or 0,
            by_change_id=inp.change_id,
        )
        for other in result.superseded_workflow_ids:
            try:
                await workflow.get_external_workflow_handle(other).signal(
                    ChangeApprovalWorkflow.target_changed, signal
                )
            except FailureError:
                workflow.logger.info("change workflow %s already closed", other)

    async def _end_grants_at(self, workflow_id: str, ends_at: datetime) -> None:
        """A role change with an end date: its grants end then, on a durable timer (the
        change itself is applied and closed; the workflow only keeps the timer)."""
        self._set_search_status()
        remaining = ends_at - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining)
        await workflow.execute_activity_method(
            ChangeActivities.expire_role_grants,
            ExpireGrantsInput(change_id=self._inp.change_id, workflow_id=workflow_id),
            **DB_ACTIVITY,
        )

    async def _record_final_status(self, workflow_id: str) -> None:
        await self._change_status(workflow_id, self._status, close=True)

    async def _change_status(
        self,
        workflow_id: str,
        status: str,
        *,
        close: bool,
        withdraw: WithdrawInput | None = None,
    ) -> None:
        await workflow.execute_activity_method(
            ChangeActivities.set_change_status,
            ChangeStatusInput(
                change_id=self._inp.change_id,
                case_id=self._inp.case_id,
                workflow_id=workflow_id,
                status=status,
                reason=self._reason,
                close_case=close,
                actor_id=withdraw.actor_id if withdraw else None,
                actor_name=withdraw.actor_name if withdraw else None,
                origin=withdraw.origin if withdraw else Origin(channel="system"),
            ),
            **DB_ACTIVITY,
        )

    # ------------------------------------------------------------------ helpers
    def _all_approved(self) -> bool:
        return all(
            t.status == "done" and t.outcome == "approve" for t in self._reviews.tasks.values()
        )

    def _close(self, status: str, reason: str) -> None:
        if self._status in (PENDING, SCHEDULED):
            self._status = status
            self._reason = reason

    def _set_search_status(self) -> None:
        workflow.upsert_search_attributes([CASE_STATUS.value_set(self._status)])

    # ------------------------------------------------------------------ decide
    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        try:
            result = await self._reviews.record(d, change_id=self._inp.change_id)
        except ApplicationError as refusal:
            if refusal.type == "stale_target":
                self._close(SUPERSEDED, refusal.message)
            raise
        if d.outcome == "reject":
            self._close(REJECTED, d.comment or d.reason_code or "Rejected by the checker.")
        elif self._all_approved():
            # The final approval: answer once the change is applied (or scheduled), so the
            # checker sees the result, but never hold their request longer than a few seconds.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._status != PENDING, timeout=timedelta(seconds=10)
                )
        result.case_status = self._status
        return result

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        closed = (
            f"This change is already {self._status.replace('_', ' ')}; no decision is possible."
            if self._status != PENDING
            else None
        )
        # Segregation of duties (never the maker or an editor, each approval by a different
        # person): the same rule as the web door, in workflows.review.
        self._reviews.validate(d, closed_reason=closed)
        if d.outcome == "approve" and self._backtest_pending:
            raise ApplicationError(
                "The backtest of this rule change has not finished yet; approve it once its "
                "result is on the change's page.",
                type="backtest_running",
            )

    # ------------------------------------------------------------------ withdraw
    @workflow.update
    async def withdraw(self, w: WithdrawInput) -> ChangeState:
        self._close(WITHDRAWN, w.reason)
        self._closed_by_handler = True
        await self._change_status(workflow.info().workflow_id, WITHDRAWN, close=True, withdraw=w)
        return self.current_state()

    @withdraw.validator
    def _validate_withdraw(self, w: WithdrawInput) -> None:
        if w.actor_id != self._inp.maker_id:
            raise ApplicationError("Only the maker can withdraw a change.", type="not_maker")
        if self._status != PENDING or self._all_approved():
            raise ApplicationError(
                f"This change is {self._status.replace('_', ' ')}; it can only be withdrawn "
                "before it is approved.",
                type="not_withdrawable",
            )
        if self._reviews.in_flight:
            raise ApplicationError(
                "A checker's decision is being recorded right now; try again.",
                type="decision_in_progress",
            )

    # ------------------------------------------------------------------ signals & queries
    @workflow.signal
    def target_changed(self, info: TargetChanged) -> None:
        if info.new_version > self._inp.base_version:
            self._close(
                SUPERSEDED,
                f"The {info.target_type} changed to version {info.new_version} (another change "
                "was applied) after this one was proposed.",
            )

    @workflow.signal
    def backtest_finished(self, status: str) -> None:
        """The rule change's backtest ended (done or failed): approvals may be recorded."""
        self._backtest_pending = False

    @workflow.query
    def current_state(self) -> ChangeState:
        return ChangeState(
            status=self._status,
            tier=self._inp.tier,
            open_tasks=self._reviews.open_task_ids(),
            decided={
                str(tid): t.outcome or "" for tid, t in self._reviews.tasks.items() if t.outcome
            },
            reason=self._reason,
        )
