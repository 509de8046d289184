"""Re-screening: every customer against the current list version, on a Temporal Schedule.

RescreenWorkflow pages through customers in batches (one activity per batch, so progress
survives a worker restart). DeltaRescreenWorkflow runs after a list version is imported:
hits on its removed entries lapse, and only the customers its added or changed entries can
reach are screened again. A hit alerts when its pair (customer, listed entry) is new, back
after lapsing, or whitelisted/dismissed for content that has since changed
(screening.commands.suppressions); each alert opens a screening case, and a
ScreeningAlertWorkflow per case has a kyc_analyst confirm the match (the customer is
restricted) or dismiss it as a false positive, which proposes whitelisting the pair: a
second analyst approves it (the case closes) or rejects it (the hit goes back for review).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.screening import ScreeningActivities
    from core.search_attributes import CASE_STATUS
    from models.onboarding_io import (
        RescreenBatchInput,
        RescreenBatchResult,
        RescreenInput,
        RescreenSummary,
        ResolveAlertInput,
        ScreeningAlertInput,
        ScreeningAlertRef,
    )
    from models.screening_io import (
        DeltaBatchInput,
        DeltaBatchResult,
        DeltaPlan,
        DeltaRescreenInput,
        DeltaRescreenSummary,
        WhitelistInput,
    )
    from models.workflow_io import DecisionInput, DecisionResult
    from onboarding.rules import alert_spec, whitelist_spec
    from workflows.common import DB_RETRY
    from workflows.review import ReviewSteps

ALERT_SLA_SECONDS = 24 * 3600
# Dismissing a hit proposes whitelisting it; a second analyst approves (or sends the hit
# back for review). Histories recorded before this step replay without it.
WHITELIST_PATCH = "screening-whitelist-four-eyes"
# RescreenWorkflow continues as new after this many alerts started (each a pending child;
# a batch adds at most batch_size more, and Temporal's limit is 2 000) or
# RescreenInput.batches_per_run batches.
CONTINUE_AS_NEW_PATCH = "rescreen-continue-as-new"
# RescreenWorkflow starts a page's alert workflows together rather than one by one.
ALERTS_TOGETHER_PATCH = "rescreen-alerts-together"
RESCREEN_ALERTS_PER_RUN = 1000


@workflow.defn
class RescreenWorkflow:
    def __init__(self) -> None:
        self._summary = RescreenSummary()

    @workflow.run
    async def run(self, inp: RescreenInput) -> RescreenSummary:
        # A run continued as new carries the cursor and the totals so far.
        after = inp.after_customer_id
        self._summary = RescreenSummary(
            list_version=inp.list_version,
            screened_customers=inp.screened_customers,
            alerts_opened=inp.alerts_opened,
        )
        batches = alerts_here = 0
        while True:
            batch: RescreenBatchResult = await workflow.execute_activity_method(
                ScreeningActivities.rescreen_batch,
                RescreenBatchInput(
                    workflow_id=workflow.info().workflow_id,
                    after_customer_id=after,
                    batch_size=inp.batch_size,
                    created_at=inp.created_at,
                ),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=DB_RETRY,
            )
            self._summary.list_version = batch.list_version
            self._summary.screened_customers += batch.screened_customers
            together = bool(batch.alerts) and workflow.patched(ALERTS_TOGETHER_PATCH)
            if together:
                # All the page's alert workflows started in one workflow task, not one
                # round trip through Temporal each.
                started = await _start_alerts_together(batch.alerts)
                self._summary.alerts_opened += started
                alerts_here += started
            for alert in [] if together else batch.alerts:
                try:
                    await workflow.start_child_workflow(
                        ScreeningAlertWorkflow.run,
                        ScreeningAlertInput(
                            case_id=alert.case_id,
                            customer_id=alert.customer_id,
                            reference=alert.reference,
                        ),
                        id=alert.workflow_id,
                        parent_close_policy=ParentClosePolicy.ABANDON,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        static_summary=f"{alert.reference}: screening hit",
                    )
                    self._summary.alerts_opened += 1
                    alerts_here += 1
                except WorkflowAlreadyStartedError:
                    pass  # opened by an earlier attempt of this run
            if batch.last_customer_id is None or batch.screened_customers < inp.batch_size:
                return self._summary
            after = batch.last_customer_id
            batches += 1
            # Each alert is an abandoned child that stays pending in this run's state
            # (Temporal refuses more than 2 000) and every batch grows the history: after a
            # bounded number of either, the run goes on as a new one with the cursor and
            # totals. Histories recorded before this replay without it.
            if (
                alerts_here >= RESCREEN_ALERTS_PER_RUN
                or batches >= inp.batches_per_run
                or workflow.info().is_continue_as_new_suggested()
            ) and workflow.patched(CONTINUE_AS_NEW_PATCH):
                s = self._summary
                workflow.continue_as_new(
                    RescreenInput(
                        batch_size=inp.batch_size,
                        created_at=inp.created_at,
                        after_customer_id=after,
                        list_version=s.list_version,
                        screened_customers=s.screened_customers,
                        alerts_opened=s.alerts_opened,
                        batches_per_run=inp.batches_per_run,
                    )
                )

    @workflow.query
    def progress(self) -> RescreenSummary:
        return self._summary


@workflow.defn
class DeltaRescreenWorkflow:
    """After a list version is imported: hits on its removed entries lapse, and only the
    customers its added or changed entries can touch (the matcher's blocking keys) are
    screened again, against every list. Its id names the version (`rescreen-delta-…`)."""

    def __init__(self) -> None:
        self._summary = DeltaRescreenSummary()

    @workflow.run
    async def run(self, inp: DeltaRescreenInput) -> DeltaRescreenSummary:
        plan: DeltaPlan = await workflow.execute_activity_method(
            ScreeningActivities.delta_prepare,
            inp,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=DB_RETRY,
        )
        s = self._summary
        s.list_version, s.previous_version = plan.list_version, plan.previous_version
        s.added, s.changed, s.removed = plan.added, plan.changed, plan.removed
        s.hits_lapsed = plan.hits_lapsed
        if not (plan.added or plan.changed):
            return s  # nothing new to match: nobody can get a new hit
        after = None
        while True:
            batch: DeltaBatchResult = await workflow.execute_activity_method(
                ScreeningActivities.delta_rescreen_batch,
                DeltaBatchInput(
                    workflow_id=workflow.info().workflow_id,
                    version_id=inp.version_id,
                    after_customer_id=after,
                    batch_size=inp.batch_size,
                ),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=DB_RETRY,
            )
            s.screened_against = batch.list_version
            s.customers += batch.considered_customers
            s.screened_customers += batch.screened_customers
            s.alerts_opened += await _start_alerts(batch.alerts)
            if batch.last_customer_id is None or batch.considered_customers < inp.batch_size:
                return s
            after = batch.last_customer_id

    @workflow.query
    def progress(self) -> DeltaRescreenSummary:
        return self._summary


async def _start_alerts_together(alerts: list[ScreeningAlertRef]) -> int:
    """Start the alerts' workflows concurrently (an earlier attempt of this run may have
    started some: those are not counted again)."""
    outcomes = await asyncio.gather(
        *(
            workflow.start_child_workflow(
                ScreeningAlertWorkflow.run,
                ScreeningAlertInput(
                    case_id=alert.case_id, customer_id=alert.customer_id, reference=alert.reference
                ),
                id=alert.workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{alert.reference}: screening hit",
            )
            for alert in alerts
        ),
        return_exceptions=True,
    )
    started = 0
    for outcome in outcomes:
        if isinstance(outcome, WorkflowAlreadyStartedError):
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        started += 1
    return started


async def _start_alerts(alerts: list[ScreeningAlertRef]) -> int:
    started = 0
    for alert in alerts:
        try:
            await workflow.start_child_workflow(
                ScreeningAlertWorkflow.run,
                ScreeningAlertInput(
                    case_id=alert.case_id, customer_id=alert.customer_id, reference=alert.reference
                ),
                id=alert.workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{alert.reference}: screening hit",
            )
            started += 1
        except WorkflowAlreadyStartedError:
            pass  # opened by an earlier attempt of this run
    return started


@workflow.defn
class ScreeningAlertWorkflow:
    @workflow.init
    def __init__(self, inp: ScreeningAlertInput) -> None:
        self._inp = inp
        self._reviews = ReviewSteps(inp.case_id, None, escalation_role="kyc_senior")
        self._closed: str | None = None

    @workflow.run
    async def run(self, inp: ScreeningAlertInput) -> str:
        wid = workflow.info().workflow_id
        round_no = 1
        while True:
            task = await self._reviews.open(
                alert_spec(wid, inp.reference, sla_seconds=ALERT_SLA_SECONDS, round_no=round_no)
            )
            await self._reviews.wait(task)
            decision = task.decision
            assert decision is not None
            if decision.outcome == "confirm_match" or not workflow.patched(WHITELIST_PATCH):
                break
            # Four-eyes: the dismissal proposes whitelisting the hits for this customer,
            # pinned to the entries' content; a second analyst decides.
            proposed = await workflow.execute_activity_method(
                ScreeningActivities.propose_whitelist,
                WhitelistInput(
                    case_id=inp.case_id,
                    customer_id=inp.customer_id,
                    workflow_id=wid,
                    actor_id=decision.actor_id,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(hours=1),
                retry_policy=DB_RETRY,
            )
            if not proposed:
                break  # every hit of the alert lapsed meanwhile: nothing to whitelist
            approval = await self._reviews.open(
                whitelist_spec(
                    wid,
                    inp.reference,
                    sla_seconds=ALERT_SLA_SECONDS,
                    round_no=round_no,
                    proposer=decision.actor_id,
                )
            )
            await self._reviews.wait(approval)
            second = approval.decision
            assert second is not None
            approved = second.outcome == "approve_whitelist"
            await workflow.execute_activity_method(
                ScreeningActivities.decide_whitelist,
                WhitelistInput(
                    case_id=inp.case_id,
                    customer_id=inp.customer_id,
                    workflow_id=wid,
                    actor_id=second.actor_id,
                    approve=approved,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(hours=1),
                retry_policy=DB_RETRY,
            )
            if approved:
                break
            round_no += 1  # rejected: the hit goes back to an analyst
        outcome = "confirmed_match" if decision.outcome == "confirm_match" else "false_positive"
        await workflow.execute_activity_method(
            ScreeningActivities.resolve_alert,
            ResolveAlertInput(
                case_id=inp.case_id,
                customer_id=inp.customer_id,
                workflow_id=wid,
                outcome=outcome,
                reason_code=decision.reason_code,
                comment=decision.comment,
                decided_by=decision.actor_id,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=DB_RETRY,
        )
        self._closed = outcome
        workflow.upsert_search_attributes([CASE_STATUS.value_set(outcome)])
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        result = await self._reviews.record(d)
        # A dismissal waits for a second analyst's whitelisting; a rejected one goes back.
        waits = d.outcome in ("false_positive", "reject_whitelist")
        result.case_status = "open" if waits else "closing"
        return result

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        closed = f"This alert is already closed ({self._closed})." if self._closed else None
        self._reviews.validate(d, closed_reason=closed)
