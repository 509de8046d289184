"""DisputeWorkflow: a card dispute carried through the scheme's stages to an outcome.

1. Provisional credit: booked at once under the policy's threshold; otherwise a disputes
   agent grants or declines it (the person who opened the dispute may not).
2. Evidence: an agent gathers it and submits the chargeback before the scheme's filing
   deadline.
3. Chargeback through the card processor, then the merchant's response window: silence
   or acceptance wins the dispute; a representment goes to review.
4. Representment review: accept the loss or go to pre-arbitration, whose response window
   ends the same way (silence or acceptance wins, a decline loses).
5. Outcome: won, lost, withdrawn by the customer or expired; money moves as adjustments
   on the account and the customer is told.

Every deadline is a durable timer. A deadline of ours escalates first: the task at its SLA,
the whole dispute (urgent) some days before, and only a deadline that still passes ends the
dispute as expired. The merchant's deadlines passing win the dispute for the customer.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.disputes import DisputeActivities
    from core.search_attributes import CASE_STATUS
    from disputes.rules import WITHDRAW_REASONS, step_spec
    from models.dispute_io import (
        STAGE_DEADLINES,
        AdjustmentInput,
        ConcludeDisputeInput,
        DeadlineWarningInput,
        DeliverMessagesInput,
        DisputeInput,
        DisputePlan,
        DisputeRef,
        DisputeStageInput,
        MerchantResponse,
        ProcessorAck,
        ProcessorRequest,
        RecordWithdrawalInput,
        WithdrawalInput,
        WithdrawalResult,
    )
    from models.workflow_io import DecisionInput, DecisionResult
    from workflows.common import DB_ACTIVITY, INTERACTIVE_ACTIVITY, ActivityOptions
    from workflows.review import ReviewSteps, ReviewTask, decision_refusal, escalate

HOUR, DAY = 3600, 86400
# The card processor is another company's system: retry for a day before giving up.
PROCESSOR_ACTIVITY = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=60),
    schedule_to_close_timeout=timedelta(days=1),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=10)
    ),
)
# Mail delivery, in the background (see _mailer): a few tries; a message that still fails
# stays in the outbox as failed and is tried again at the next delivery.
DELIVERY_ACTIVITY = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=60),
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=30),
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=5,
    ),
)


@dataclass
class Conclusion:
    outcome: str
    why: str
    reason_code: str | None = None
    decided_by: uuid.UUID | None = None


@workflow.defn
class DisputeWorkflow:
    @workflow.init
    def __init__(self, inp: DisputeInput) -> None:
        self._inp = inp
        # Whoever opened the dispute is its maker: they decide none of its steps. The agent
        # steps share one segregation step (rules.STEPS), so one agent may carry it through.
        self._reviews = ReviewSteps(inp.case_id, inp.opened_by, escalation_role="disputes_agent")
        self._stage = "opened"
        self._responses: dict[str, MerchantResponse] = {}
        self._withdrawal: WithdrawalInput | None = None
        self._withdrawing = False
        self._filed = False  # a chargeback is on file with the processor
        self._concluding: str | None = None
        self._outcome: str | None = None
        self._deliveries_asked = 0  # the mailer delivers until _deliveries_done catches up
        self._deliveries_done = 0
        self._mail_closing = False

    # ------------------------------------------------------------------ signals, updates
    @workflow.signal
    def merchant_responded(self, response: MerchantResponse) -> None:
        # The first answer at a stage counts; a processor re-delivering it changes nothing.
        self._responses.setdefault(response.stage, response)

    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        result = await self._reviews.record(d)
        result.case_status = self._stage
        return result

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        self._reviews.validate(d, closed_reason=self._closed_reason())

    @workflow.update
    async def withdraw(self, w: WithdrawalInput) -> WithdrawalResult:
        """Recorded (audited with the request) at once; the dispute then concludes."""
        self._withdrawing = True
        try:
            await workflow.execute_activity_method(
                DisputeActivities.record_withdrawal,
                RecordWithdrawalInput(
                    case_id=self._inp.case_id, workflow_id=workflow.info().workflow_id, withdrawal=w
                ),
                **INTERACTIVE_ACTIVITY,
            )
        except ActivityError as err:
            self._withdrawing = False
            raise decision_refusal(err) from err
        self._withdrawal = w
        return WithdrawalResult(stage=self._stage)

    @withdraw.validator
    def _validate_withdraw(self, w: WithdrawalInput) -> None:
        closed = self._closed_reason()
        if closed is not None:
            raise ApplicationError(closed, type="case_closed")
        if self._withdrawing:
            raise ApplicationError("The dispute is already being withdrawn.", type="withdrawing")
        if w.reason_code not in WITHDRAW_REASONS:
            raise ApplicationError("Choose why the customer withdraws.", type="reason_required")

    @workflow.query
    def current_state(self) -> dict[str, object]:
        return {"stage": self._stage, "outcome": self._outcome, "filed": self._filed}

    def _closed_reason(self) -> str | None:
        if self._outcome is not None or self._concluding is not None:
            return f"This dispute is already concluded ({self._outcome or self._concluding})."
        return None

    def _withdrawn(self) -> bool:
        return self._withdrawal is not None

    # ------------------------------------------------------------------ the dispute
    @workflow.run
    async def run(self, inp: DisputeInput) -> str:
        plan: DisputePlan = await workflow.execute_activity_method(
            DisputeActivities.load_dispute_policy, self._ref(), **DB_ACTIVITY
        )
        mailer = asyncio.create_task(self._mailer())
        self._deliver()  # the acknowledgement queued when the dispute was opened
        conclusion = await self._work(plan)
        # A withdrawal being recorded as the dispute ends otherwise: once recorded, it stands.
        await workflow.wait_condition(lambda: not self._withdrawing or self._withdrawn())
        if self._withdrawn() and conclusion.outcome != "withdrawn":
            conclusion = self._ended_early("withdrawn", "")
        if conclusion.outcome == "withdrawn" and self._filed:
            await self._processor("withdrawal")
        self._concluding = conclusion.outcome
        self._reviews.cancel_open()
        await workflow.execute_activity_method(
            DisputeActivities.conclude_dispute,
            ConcludeDisputeInput(
                case_id=inp.case_id,
                workflow_id=workflow.info().workflow_id,
                outcome=conclusion.outcome,
                why=conclusion.why,
                reason_code=conclusion.reason_code,
                decided_by=conclusion.decided_by,
            ),
            **DB_ACTIVITY,
        )
        self._stage = "closed"
        self._outcome = conclusion.outcome
        workflow.upsert_search_attributes([CASE_STATUS.value_set(conclusion.outcome)])
        self._deliver()
        self._mail_closing = True
        await mailer  # the outcome message is delivered (or has failed) before the end
        await workflow.wait_condition(workflow.all_handlers_finished)
        return conclusion.outcome

    async def _work(self, plan: DisputePlan) -> Conclusion:
        filing_deadline = plan.filing_deadline_at
        # 1. Provisional credit.
        if plan.auto_credit:
            await self._credit("automatic: the amount is under the provisional-credit threshold")
        else:
            await self._move("provisional_credit", filing_deadline)
            task = await self._open(
                "provisional_credit",
                plan.provisional_credit_sla_hours * HOUR,
                filing_deadline,
            )
            waited = await self._wait_before(task, filing_deadline, plan)
            if waited != "decided":
                return self._ended_early(waited, "the chargeback was not filed in time")
            d = self._reviews.decision(task)
            if d.outcome == "grant":
                await self._credit("granted by a disputes agent")

        # 2. Evidence, then the chargeback filed before the scheme's deadline.
        await self._move("evidence", filing_deadline)
        task = await self._open("evidence", plan.evidence_sla_hours * HOUR, filing_deadline)
        waited = await self._wait_before(task, filing_deadline, plan)
        if waited != "decided":
            return self._ended_early(
                waited, "the chargeback was not filed by the scheme's deadline"
            )

        # 3. The chargeback and the merchant's response window.
        ack = await self._processor("chargeback")
        self._filed = True
        due = workflow.now() + timedelta(days=plan.merchant_response_days)
        await self._move("chargeback", due)
        response = await self._merchant_answer("chargeback", due, ack)
        if self._withdrawn():
            return self._ended_early("withdrawn", "")
        if response is None:
            return Conclusion(
                "won", f"the merchant did not respond within {plan.merchant_response_days} days"
            )
        if response.response == "accept":
            return Conclusion("won", "the merchant accepted the chargeback")

        # 4. Representment: accept the loss or go to pre-arbitration, before our deadline.
        deadline = workflow.now() + timedelta(days=plan.pre_arbitration_filing_days)
        await self._move("representment_review", deadline)
        task = await self._open(
            "representment_review", plan.representment_review_sla_hours * HOUR, deadline
        )
        waited = await self._wait_before(task, deadline, plan)
        if waited != "decided":
            return self._ended_early(waited, "the representment was not answered by the deadline")
        d = self._reviews.decision(task)
        if d.outcome == "accept_loss":
            return Conclusion(
                "lost", "the merchant's representment was accepted", d.reason_code, d.actor_id
            )

        ack = await self._processor("pre_arbitration")
        due = workflow.now() + timedelta(days=plan.pre_arbitration_response_days)
        await self._move("pre_arbitration", due)
        response = await self._merchant_answer("pre_arbitration", due, ack)
        if self._withdrawn():
            return self._ended_early("withdrawn", "")
        if response is None:
            return Conclusion(
                "won",
                f"the merchant did not answer pre-arbitration within "
                f"{plan.pre_arbitration_response_days} days",
            )
        if response.response == "accept":
            return Conclusion("won", "the merchant accepted pre-arbitration")
        # The merchant decided this loss, not the agent who chose pre-arbitration.
        return Conclusion("lost", "the merchant declined pre-arbitration")

    def _ended_early(self, waited: str, expired_why: str) -> Conclusion:
        if waited == "withdrawn":
            assert self._withdrawal is not None
            w = self._withdrawal
            return Conclusion(
                "withdrawn", "the customer withdrew the dispute", w.reason_code, w.actor_id
            )
        return Conclusion("expired", expired_why)

    # ------------------------------------------------------------------ steps
    def _ref(self) -> DisputeRef:
        return DisputeRef(case_id=self._inp.case_id, workflow_id=workflow.info().workflow_id)

    async def _open(
        self,
        step: str,
        sla_seconds: int,
        deadline: datetime,
    ) -> ReviewTask:
        # The SLA never runs past the deadline it serves.
        until_deadline = int((deadline - workflow.now()).total_seconds())
        spec = step_spec(
            workflow.info().workflow_id,
            self._inp.reference,
            step=step,
            sla_seconds=max(min(sla_seconds, until_deadline), 60),
            # Kept off the opener's inbox too, not only refused when they try.
            excluded=[self._inp.opened_by] if self._inp.opened_by else [],
        )
        return await self._reviews.open(spec)

    async def _wait_before(self, task: ReviewTask, deadline: datetime, plan: DisputePlan) -> str:
        """Until the task is decided ("decided"), the customer withdraws ("withdrawn") or our
        deadline passes ("deadline"). On the way the task escalates at its SLA, and the
        dispute turns urgent `deadline_warning_days` before the deadline."""
        tid = task.spec.task_id
        warn_at = deadline - timedelta(days=plan.deadline_warning_days)
        warned = False
        while task.status == "open":
            if self._withdrawn() and tid not in self._reviews.in_flight:
                return "withdrawn"  # its task is cancelled when the dispute concludes
            now = workflow.now()
            if now >= deadline:
                if tid in self._reviews.in_flight:
                    # A decision is being recorded right now: it wins over the deadline.
                    await workflow.wait_condition(
                        lambda: task.status != "open" or tid not in self._reviews.in_flight
                    )
                    continue
                await self._reviews.expire(task)
                return "deadline"
            if not warned and now >= warn_at:
                warned = True
                await self._warn(task, deadline)
                continue
            label = STAGE_DEADLINES[self._stage][1]  # the stage the task belongs to
            wakes = [(deadline, label)]
            if not warned:
                wakes.append((warn_at, f"{label}: warning"))
            if task.due_at > now:
                wakes.append((task.due_at, f"{task.spec.task_key} SLA"))
            when, summary = min(wakes)
            try:
                # A withdrawal counts only once no decision is being recorded: waking for it
                # while one is, the loop would find nothing to do and spin without yielding.
                await workflow.wait_condition(
                    lambda: (
                        task.status != "open"
                        or (self._withdrawn() and tid not in self._reviews.in_flight)
                    ),
                    timeout=when - now,
                    timeout_summary=summary,
                )
            except TimeoutError:
                if workflow.now() >= task.due_at and workflow.now() < deadline:
                    await escalate(task, self._inp.case_id, "disputes_agent")
        return "decided"

    async def _merchant_answer(
        self, stage: str, due: datetime, ack: ProcessorAck
    ) -> MerchantResponse | None:
        if ack.response is not None:
            self.merchant_responded(ack.response)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: stage in self._responses or self._withdrawn(),
                timeout=max(due - workflow.now(), timedelta(seconds=1)),
                timeout_summary=f"{stage.replace('_', '-')} merchant response window",
            )
        return self._responses.get(stage)

    async def _move(self, stage: str, due: datetime) -> None:
        self._stage = stage
        await workflow.execute_activity_method(
            DisputeActivities.move_dispute,
            DisputeStageInput(
                case_id=self._inp.case_id,
                workflow_id=workflow.info().workflow_id,
                stage=stage,
                due_at=due,
            ),
            **DB_ACTIVITY,
        )
        workflow.upsert_search_attributes([CASE_STATUS.value_set(stage)])

    async def _credit(self, note: str) -> None:
        await workflow.execute_activity_method(
            DisputeActivities.post_adjustment,
            AdjustmentInput(
                case_id=self._inp.case_id,
                workflow_id=workflow.info().workflow_id,
                kind="provisional_credit",
                note=note,
            ),
            **DB_ACTIVITY,
        )
        self._deliver()

    async def _processor(self, stage: str) -> ProcessorAck:
        ack: ProcessorAck = await workflow.execute_activity_method(
            DisputeActivities.file_with_processor,
            ProcessorRequest(
                case_id=self._inp.case_id, workflow_id=workflow.info().workflow_id, stage=stage
            ),
            **PROCESSOR_ACTIVITY,
        )
        return ack

    async def _warn(self, task: ReviewTask, deadline: datetime) -> None:
        await workflow.execute_activity_method(
            DisputeActivities.warn_deadline,
            DeadlineWarningInput(
                case_id=self._inp.case_id,
                workflow_id=workflow.info().workflow_id,
                stage=self._stage,
                due_at=deadline,
                task_id=task.spec.task_id,
            ),
            **DB_ACTIVITY,
        )

    def _deliver(self) -> None:
        """Ask the mailer to send what waits in the customer outbox."""
        self._deliveries_asked += 1

    async def _mailer(self) -> None:
        """Delivers the outbox in the background, one delivery at a time, each covering every
        request made before it started. A mail server that is down delays the messages while
        the delivery retries; it never holds up the dispute (awaited only at its end)."""
        while True:
            await workflow.wait_condition(
                lambda: self._deliveries_asked > self._deliveries_done or self._mail_closing
            )
            if self._deliveries_asked == self._deliveries_done:
                return
            self._deliveries_done = self._deliveries_asked
            with contextlib.suppress(ActivityError):
                await workflow.execute_activity_method(
                    DisputeActivities.deliver_customer_messages,
                    DeliverMessagesInput(
                        case_id=self._inp.case_id, workflow_id=workflow.info().workflow_id
                    ),
                    **DELIVERY_ACTIVITY,
                )
