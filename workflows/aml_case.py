"""AmlCaseWorkflow: one open case per customer, worked L1 -> L2 -> MLRO under SLAs.

Alerts reach the case by signal-with-start (`add_alerts`), so a customer's new alerts join
the running case and never open a second one. Each tier is a human task (the shared
protocol in workflows/review.py); nobody decides two tiers of one case.

- L1 (aml_analyst): close with a reason code, or escalate. Untouched past its SLA, the case
  moves to L2 by itself with raised priority.
- L2 (aml_investigator): escalate to the MLRO, or propose closure, which a second L2 must
  approve (four-eyes on closures; a rejected closure goes back to L2).
- MLRO: SAR or no SAR, with a reason and a rationale; a SAR produces the report.
- The regulatory SAR clock (N days from detection) runs beside the tiers as durable
  timers: a reminder before the deadline and an escalation at breach.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.aml import AmlActivities
    from aml.rules import CLOSE_OUTCOMES, tier_spec
    from core.search_attributes import CASE_STATUS
    from models.aml_io import (
        AlertsAdded,
        AlertsNoticeInput,
        AmlCaseInput,
        AmlPolicyValues,
        AmlStageInput,
        CloseAmlCaseInput,
        CloseAmlCaseResult,
        FileSarInput,
        LoadAmlPolicyInput,
        SarClockInput,
    )
    from models.workflow_io import DecisionInput, DecisionResult
    from workflows.common import DB_ACTIVITY
    from workflows.review import ReviewSteps, ReviewTask

HOUR = 3600


@workflow.defn
class AmlCaseWorkflow:
    @workflow.init
    def __init__(self, inp: AmlCaseInput) -> None:
        self._inp = inp
        # Overdue L2 / closure / MLRO tasks escalate in place and the MLRO is told.
        self._reviews = ReviewSteps(inp.case_id, None, escalation_role="mlro")
        self._alerts: list[uuid.UUID] = []
        # Membership by set: `in` on the list compared UUIDs one by one (through the
        # sandbox's proxied isinstance), quadratic in a case's alerts, and a case of a few
        # thousand alerts kept the workflow thread past the 2 s deadlock deadline.
        self._alert_set: set[uuid.UUID] = set()
        self._unannounced: list[uuid.UUID] = []
        self._tier = "l1"
        self._rounds: dict[str, int] = defaultdict(int)
        self._closed: str | None = None
        self._sar_decided = False
        self._policy: AmlPolicyValues | None = None

    # ------------------------------------------------------------------ signals, updates
    @workflow.signal
    def add_alerts(self, batch: AlertsAdded) -> None:
        for alert_id in batch.alert_ids:
            if alert_id not in self._alert_set:
                self._alert_set.add(alert_id)
                self._alerts.append(alert_id)
                self._unannounced.append(alert_id)

    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        result = await self._reviews.record(d)
        result.case_status = self._tier
        return result

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        closed = f"This case is already closed ({self._closed})." if self._closed else None
        # Segregation of duties and the narrative rules (SAR / no-SAR reasons, a rationale
        # of 30 characters, a comment of 20 on every escalation): workflows.review.
        self._reviews.validate(d, closed_reason=closed)

    @workflow.query
    def current_state(self) -> dict[str, object]:
        return {"tier": self._tier, "alerts": len(self._alerts), "closed": self._closed}

    # ------------------------------------------------------------------ the case
    @workflow.run
    async def run(self, inp: AmlCaseInput) -> str:
        self._policy = await workflow.execute_activity_method(
            AmlActivities.load_aml_policy,
            LoadAmlPolicyInput(case_id=inp.case_id, workflow_id=workflow.info().workflow_id),
            **DB_ACTIVITY,
        )
        sar_clock = asyncio.create_task(self._sar_clock(self._policy))
        priority = "normal"
        proposed_close: DecisionInput | None = None
        while True:
            if self._tier == "l1":
                task = await self._open("l1", self._policy.l1_sla_hours, priority)
                if await self._wait_or_breach(task):
                    priority = "high"
                    await self._reviews.expire(task)
                    await self._move("l2", priority, "L1 SLA passed undecided", automatic=True)
                    continue
                d = self._reviews.decision(task)
                if d.outcome == "escalate":
                    await self._move("l2", priority, "escalated by L1")
                    continue
                outcome, closing = CLOSE_OUTCOMES[d.reason_code or ""], d
            elif self._tier == "l2":
                task = await self._open("l2", self._policy.l2_sla_hours, priority)
                await self._wait(task)
                d = self._reviews.decision(task)
                if d.outcome == "escalate":
                    await self._move("mlro", priority, "escalated by L2")
                    continue
                proposed_close = d
                await self._move("closure_approval", priority, "closure proposed by L2")
                continue
            elif self._tier == "closure_approval":
                assert proposed_close is not None
                task = await self._open(
                    "closure_approval",
                    self._policy.closure_approval_sla_hours,
                    priority,
                    excluded=[proposed_close.actor_id],
                )
                await self._wait(task)
                d = self._reviews.decision(task)
                if d.outcome == "reject":
                    await self._move("l2", priority, "closure rejected by the second L2")
                    continue
                outcome, closing = CLOSE_OUTCOMES[proposed_close.reason_code or ""], proposed_close
            else:  # mlro
                task = await self._open("mlro", self._policy.mlro_sla_hours, priority)
                await self._wait(task)
                d = self._reviews.decision(task)
                await workflow.execute_activity_method(
                    AmlActivities.record_sar_decision,
                    FileSarInput(
                        case_id=inp.case_id,
                        workflow_id=workflow.info().workflow_id,
                        task_id=task.spec.task_id,
                        decision=d.outcome,
                        decided_by=d.actor_id,
                        reason_code=d.reason_code,
                        rationale=d.comment,
                        alert_ids=list(self._alerts),
                    ),
                    **DB_ACTIVITY,
                )
                self._sar_decided = True
                outcome, closing = ("sar_filed" if d.outcome == "sar" else "no_sar"), d
            if await self._close(outcome, closing):
                break
            # Alerts arrived while closing: the case stays open at the same tier.
            if self._tier == "closure_approval":
                self._tier = "l2"
            await self._move(self._tier, priority, "new alerts arrived while closing")
        await sar_clock
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._closed or outcome

    # ------------------------------------------------------------------ steps
    async def _open(
        self, tier: str, sla_hours: int, priority: str, *, excluded: list[uuid.UUID] | None = None
    ) -> ReviewTask:
        self._rounds[tier] += 1
        # Alerts that arrived before this step opened are part of what its holder starts
        # with; only later ones are announced as new.
        self._unannounced.clear()
        spec = tier_spec(
            workflow.info().workflow_id,
            self._inp.reference,
            tier=tier,
            round_no=self._rounds[tier],
            sla_seconds=sla_hours * HOUR,
            priority=priority,
            excluded=excluded,
        )
        return await self._reviews.open(spec)

    def _waiting_on_person(self, task: ReviewTask) -> bool:
        return task.status == "open" and not self._unannounced

    async def _wait(self, task: ReviewTask) -> None:
        """Until decided, escalating at each SLA; new alerts are announced as they come."""
        while task.status == "open":
            await self._reviews.wait(task, also=lambda: bool(self._unannounced))
            await self._announce()

    async def _wait_or_breach(self, task: ReviewTask) -> bool:
        """L1: until decided (False) or its SLA passes undecided (True)."""
        tid = task.spec.task_id
        while task.status == "open":
            await self._announce()
            remaining = task.due_at - workflow.now()
            if remaining <= timedelta(0):
                if tid not in self._reviews.in_flight:
                    return True
                # A decision is being recorded right now: it wins over the breach.
                await workflow.wait_condition(
                    lambda: task.status != "open" or tid not in self._reviews.in_flight
                )
                continue
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: task.status != "open" or bool(self._unannounced), timeout=remaining
                )
        return False

    async def _announce(self) -> None:
        if not self._unannounced:
            return
        fresh, self._unannounced = list(self._unannounced), []
        try:
            await workflow.execute_activity_method(
                AmlActivities.note_new_alerts,
                AlertsNoticeInput(
                    case_id=self._inp.case_id,
                    workflow_id=workflow.info().workflow_id,
                    alert_ids=fresh,
                    open_task_ids=self._reviews.open_task_ids(),
                ),
                **DB_ACTIVITY,
            )
        except ActivityError as err:
            # Alerts of an ingest that rolled back after signalling: nothing to announce.
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "orphan_workflow"):
                raise

    async def _move(self, tier: str, priority: str, note: str, *, automatic: bool = False) -> None:
        self._tier = tier
        await workflow.execute_activity_method(
            AmlActivities.move_case,
            AmlStageInput(
                case_id=self._inp.case_id,
                workflow_id=workflow.info().workflow_id,
                tier=tier,
                priority=priority,
                note=note,
                automatic=automatic,
            ),
            **DB_ACTIVITY,
        )
        workflow.upsert_search_attributes([CASE_STATUS.value_set(tier)])

    async def _close(self, outcome: str, decision: DecisionInput) -> bool:
        result: CloseAmlCaseResult = await workflow.execute_activity_method(
            AmlActivities.close_aml_case,
            CloseAmlCaseInput(
                case_id=self._inp.case_id,
                workflow_id=workflow.info().workflow_id,
                outcome=outcome,
                reason_code=decision.reason_code,
                comment=decision.comment,
                decided_by=decision.actor_id,
                known_alert_ids=list(self._alerts),
            ),
            **DB_ACTIVITY,
        )
        if not result.closed:
            self.add_alerts(AlertsAdded(alert_ids=result.unseen_alert_ids))
            return False
        self._closed = outcome
        self._tier = "closed"
        self._reviews.cancel_open()
        workflow.upsert_search_attributes([CASE_STATUS.value_set(outcome)])
        return True

    # ------------------------------------------------------------------ the SAR clock
    async def _sar_clock(self, policy: AmlPolicyValues) -> None:
        due = self._inp.detected_at + timedelta(days=policy.sar_deadline_days)
        remind = due - timedelta(days=policy.sar_reminder_days)
        for event, when in (("reminder", remind), ("breach", due)):
            if not await self._until(when):
                return
            await workflow.execute_activity_method(
                AmlActivities.sar_clock_event,
                SarClockInput(
                    case_id=self._inp.case_id,
                    workflow_id=workflow.info().workflow_id,
                    event=event,
                    due_at=due,
                ),
                **DB_ACTIVITY,
            )

    async def _until(self, when: datetime) -> bool:
        """Sleep until `when`; False if the SAR was decided or the case closed first."""
        remaining = when - workflow.now()
        if remaining > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._sar_decided or self._closed is not None, timeout=remaining
                )
        return not (self._sar_decided or self._closed is not None)
