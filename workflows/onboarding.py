"""OnboardingWorkflow: one application (KYC individual or KYB business) from receipt to outcome.

checking: documents --> screening (a child workflow per person / entity, in parallel) --> risk
routing:  low risk, clean documents, no hit --> approved automatically
          medium risk or documents to follow up --> kyc_analyst review
          high risk or any screening hit --> kyc_analyst, then kyc_senior (a different person)
          a politically exposed person (declared or on a PEP list) --> enhanced due diligence:
          a kyc_analyst records the source of funds, then a different kyc_senior approves
review:   approve | reject (reason required) | request_info --> wait for the applicant's
          documents (deadline, reminders; no answer --> rejected as no_response) --> same step again
approved: customer + account + default tariff, in one activity (idempotent)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.onboarding import OnboardingActivities
    from casework.narratives import NARRATIVE_INVALID
    from core.search_attributes import CASE_STATUS, CUSTOMER_ID, RISK_LEVEL
    from models.onboarding_io import (
        AcceptInformationInput,
        ApplicationStatusInput,
        CheckDocumentsInput,
        CloseApplicationInput,
        CloseApplicationResult,
        InformationInput,
        InformationResult,
        MessageInput,
        OnboardingInput,
        OnboardingState,
        PartyScreeningInput,
        PartyScreeningOutcome,
        PolicyValues,
        ScoreRiskInput,
    )
    from models.workflow_io import DecisionInput, DecisionResult
    from onboarding.rules import (
        EDD_APPROVE,
        STEP_KINDS,
        review_spec,
        source_of_funds_problems,
    )
    from workflows.common import DB_ACTIVITY
    from workflows.party_screening import PartyScreeningWorkflow
    from workflows.review import ReviewSteps, ReviewTask

CHECKING, IN_REVIEW, AWAITING = "checking", "in_review", "awaiting_information"
# Histories recorded before enhanced due diligence existed route a PEP to four-eyes review.
PEP_EDD_PATCH = "pep-enhanced-due-diligence"
APPROVED, REJECTED = "approved", "rejected"
EDD_KIND = STEP_KINDS["edd"]


@workflow.defn
class OnboardingWorkflow:
    @workflow.init
    def __init__(self, inp: OnboardingInput) -> None:
        self._inp = inp
        self._status = CHECKING
        self._route: str | None = None
        self._risk_level: str | None = None
        self._step: str | None = None
        self._reviews = ReviewSteps(inp.case_id, inp.submitted_by, escalation_role="kyc_senior")
        self._information: InformationInput | None = None
        self._information_due: datetime | None = None
        self._accepting = False
        self._reminders = 0
        self._outcome: str | None = None
        self._reason_code: str | None = None

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, inp: OnboardingInput) -> OnboardingState:
        wid = workflow.info().workflow_id
        acts = OnboardingActivities
        policy: PolicyValues = await workflow.execute_activity_method(
            acts.load_policy, inp.application_id, **DB_ACTIVITY
        )
        await self._set_status(CHECKING, "automated checks")
        documents = await workflow.execute_activity_method(
            acts.check_documents,
            CheckDocumentsInput(application_id=inp.application_id, workflow_id=wid, policy=policy),
            **DB_ACTIVITY,
        )
        screenings: list[PartyScreeningOutcome] = list(
            await asyncio.gather(
                *(
                    workflow.execute_child_workflow(
                        PartyScreeningWorkflow.run,
                        PartyScreeningInput(
                            application_id=inp.application_id, party_id=party.party_id
                        ),
                        id=f"{wid}-screen-{party.party_id}",
                        static_summary=f"{inp.reference}: screen {party.role}",
                    )
                    for party in inp.parties
                )
            )
        )
        risk = await workflow.execute_activity_method(
            acts.score_risk,
            ScoreRiskInput(
                application_id=inp.application_id,
                workflow_id=wid,
                screening=screenings,
                documents_verdict=documents.verdict,
            ),
            **DB_ACTIVITY,
        )
        self._risk_level = risk.level
        workflow.upsert_search_attributes([RISK_LEVEL.value_set(risk.level)])

        if documents.verdict == "reject":
            await self._close(REJECTED, documents.reject_code or "failed_checks", documents.summary)
            return self.current_state()

        hits = sum(s.hit_count for s in screenings)
        if risk.pep and workflow.patched(PEP_EDD_PATCH):
            # A politically exposed person (declared or on a PEP list): the analyst records
            # the source of funds (enhanced due diligence), then a different senior approves.
            self._route, steps = "edd", ["edd", "senior"]
        elif hits or risk.level == "high":
            self._route, steps = "four_eyes", ["analyst", "senior"]
        elif risk.level == "medium" or documents.verdict == "refer":
            self._route, steps = "analyst", ["analyst"]
        else:
            self._route, steps = "auto", []
        if not steps:
            await self._set_status(IN_REVIEW, "approved automatically")
            await self._close(APPROVED, "auto_approved", "Low risk, documents valid, no hit.")
            return self.current_state()

        rounds = dict.fromkeys(steps, 0)
        checks_round = 1
        index = 0
        while index < len(steps):
            step = steps[index]
            rounds[step] += 1
            round_no = rounds[step]
            self._step = step
            await self._set_status(IN_REVIEW, f"{step} review")
            task = await self._open_review(step, round_no, policy)
            await self._reviews.wait(task)
            decision = task.decision
            assert decision is not None
            if decision.outcome == "approve":
                index += 1
            elif decision.outcome == "reject":
                await self._close(
                    REJECTED,
                    decision.reason_code or "rejected",
                    decision.comment,
                    decision.actor_id,
                )
                return self.current_state()
            elif decision.outcome == "request_info":
                answered = await self._await_information(policy, decision)
                if not answered:
                    await self._close(
                        REJECTED,
                        "no_response",
                        f"No answer to the request for information within "
                        f"{policy.rfi_deadline_days} days.",
                    )
                    return self.current_state()
                checks_round += 1
                await workflow.execute_activity_method(
                    acts.check_documents,
                    CheckDocumentsInput(
                        application_id=inp.application_id,
                        workflow_id=wid,
                        round=checks_round,
                        policy=policy,
                    ),
                    **DB_ACTIVITY,
                )
        last = list(self._reviews.tasks.values())[-1]
        await self._close(APPROVED, "approved", None, last.decided_by)
        return self.current_state()

    async def _open_review(self, step: str, round_no: int, policy: PolicyValues) -> ReviewTask:
        wid = workflow.info().workflow_id
        # The senior review is four-eyes: nobody who decided an analyst (or enhanced due
        # diligence) round may take it.
        excluded = (
            self._reviews.deciders_of("review-analyst") + self._reviews.deciders_of("review-edd")
            if step == "senior"
            else []
        )
        spec = review_spec(
            wid,
            self._inp.reference,
            step=step,
            round_no=round_no,
            sla_seconds=policy.review_sla_hours * 3600,
            excluded=excluded + ([self._inp.submitted_by] if self._inp.submitted_by else []),
            high_risk=self._route in ("four_eyes", "edd"),
        )
        return await self._reviews.open(spec)

    async def _await_information(self, policy: PolicyValues, decision: DecisionInput) -> bool:
        wid = workflow.info().workflow_id
        self._information = None
        deadline = workflow.now() + timedelta(days=policy.rfi_deadline_days)
        self._information_due = deadline
        await self._set_status(AWAITING, "awaiting information", information_due_at=deadline)
        request_key = f"{wid}/rfi/{decision.task_id}"
        await self._notify(
            "information_request",
            request_key,
            f"{self._inp.reference}: we need more information",
            (decision.comment or "Please send the requested documents.")
            + f"\n\nPlease answer by {deadline:%Y-%m-%d}.",
        )
        interval = timedelta(days=policy.rfi_reminder_days)
        next_reminder = workflow.now() + interval
        while self._information is None and not self._accepting:
            now = workflow.now()
            if now >= deadline:
                break
            wake = min(deadline, next_reminder)
            try:
                await workflow.wait_condition(
                    lambda: self._information is not None or self._accepting,
                    timeout=max(wake - now, timedelta(seconds=1)),
                )
            except TimeoutError:
                if workflow.now() < deadline and workflow.now() >= next_reminder:
                    self._reminders += 1
                    next_reminder = workflow.now() + interval
                    await self._notify(
                        "reminder",
                        f"{request_key}/reminder/{self._reminders}",
                        f"{self._inp.reference}: reminder — information still needed",
                        "We are still waiting for the information we asked for. "
                        f"Without it the application is closed on {deadline:%Y-%m-%d}.",
                    )
        # From here on no answer is accepted; one already being stored still counts.
        self._information_due = None
        await workflow.wait_condition(lambda: not self._accepting)
        return self._information is not None

    async def _notify(self, kind: str, dedupe_key: str, subject: str, body: str) -> None:
        await workflow.execute_activity_method(
            OnboardingActivities.notify_applicant,
            MessageInput(
                application_id=self._inp.application_id,
                workflow_id=workflow.info().workflow_id,
                kind=kind,
                dedupe_key=dedupe_key,
                subject=subject,
                body=body,
            ),
            **DB_ACTIVITY,
        )

    async def _set_status(
        self, status: str, stage: str, *, information_due_at: datetime | None = None
    ) -> None:
        self._status = status
        await workflow.execute_activity_method(
            OnboardingActivities.set_application_status,
            ApplicationStatusInput(
                application_id=self._inp.application_id,
                case_id=self._inp.case_id,
                workflow_id=workflow.info().workflow_id,
                status=status,
                stage=stage,
                route=self._route,
                information_due_at=information_due_at,
            ),
            **DB_ACTIVITY,
        )
        workflow.upsert_search_attributes([CASE_STATUS.value_set(status)])

    async def _close(
        self,
        outcome: str,
        reason_code: str,
        reason: str | None,
        decided_by: uuid.UUID | None = None,
    ) -> None:
        self._reviews.cancel_open()
        result: CloseApplicationResult = await workflow.execute_activity_method(
            OnboardingActivities.close_application,
            CloseApplicationInput(
                application_id=self._inp.application_id,
                case_id=self._inp.case_id,
                workflow_id=workflow.info().workflow_id,
                outcome=outcome,
                reason_code=reason_code,
                reason=reason,
                decided_by=decided_by,
            ),
            **DB_ACTIVITY,
        )
        self._status, self._outcome, self._reason_code = outcome, outcome, reason_code
        attributes = [CASE_STATUS.value_set(outcome)]
        if result.customer_id:
            attributes.append(CUSTOMER_ID.value_set(str(result.customer_id)))
        workflow.upsert_search_attributes(attributes)
        await workflow.wait_condition(workflow.all_handlers_finished)

    # ------------------------------------------------------------------ decide
    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        result = await self._reviews.record(d)
        result.case_status = self._status
        return result

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        closed = None
        if self._status in (APPROVED, REJECTED):
            closed = f"This application is already {self._status}; no decision is possible."
        # A high-risk application's approvals need a comment (casework.narratives).
        self._reviews.validate(d, closed_reason=closed, high_risk=self._risk_level == "high")
        task = self._reviews.tasks[d.task_id]
        if task.spec.kind == EDD_KIND and d.outcome == EDD_APPROVE:
            # Enhanced due diligence passes only with the source of funds established,
            # whichever door the decision came through.
            problems = source_of_funds_problems(
                d.details.get("source"), d.details.get("evidence"), d.comment
            )
            if problems:
                raise ApplicationError(
                    "Record the source of funds before passing enhanced due diligence: "
                    + "; ".join(f"{field}: {text}" for field, text in problems.items()),
                    problems,
                    type=NARRATIVE_INVALID,
                )

    # ------------------------------------------------------------------ information
    @workflow.update
    async def submit_information(self, info: InformationInput) -> InformationResult:
        self._accepting = True
        try:
            stored: InformationResult = await workflow.execute_activity_method(
                OnboardingActivities.accept_information,
                AcceptInformationInput(
                    application_id=self._inp.application_id,
                    workflow_id=workflow.info().workflow_id,
                    information=info,
                ),
                start_to_close_timeout=timedelta(seconds=10),
                schedule_to_close_timeout=timedelta(seconds=50),
                retry_policy=DB_ACTIVITY["retry_policy"],
            )
        finally:
            self._accepting = False
        self._information = info
        stored.status = IN_REVIEW
        return stored

    @submit_information.validator
    def _validate_information(self, info: InformationInput) -> None:
        if (
            self._status != AWAITING
            or self._information_due is None
            or self._information is not None
            or self._accepting
        ):
            raise ApplicationError(
                "No information is being requested for this application right now "
                f"(it is {self._status.replace('_', ' ')}).",
                type="not_awaiting_information",
            )

    # ------------------------------------------------------------------ query
    @workflow.query
    def current_state(self) -> OnboardingState:
        return OnboardingState(
            status=self._status,
            route=self._route,
            risk_level=self._risk_level,
            step=self._step,
            open_tasks=self._reviews.open_task_ids(),
            information_due_at=self._information_due,
            reminders_sent=self._reminders,
            outcome=self._outcome,
            reason_code=self._reason_code,
        )
