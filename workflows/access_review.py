"""AccessReviewWorkflow: one access-review campaign, opened by the quarterly schedule or an admin.

open (every active grant listed to its reviewer; revocations settled daily as their role
changes close) --(deadline: a durable timer)--> suspend the grants nobody reviewed -->
settle revocations still waiting for their four-eyes approval (checked daily, a few times at
most) --> closed.

Reviewers decide in the product (access_reviews/commands/decisions.py); the workflow holds
the deadline, which no clock but the server's moves. Its history holds ids and counts only.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from access_reviews.rules import MAX_REVOCATION_CHECKS, REVOCATION_CHECK_HOURS
    from activities.access_review import AccessReviewActivities
    from models.access_review_io import (
        AccessReviewInput,
        AccessReviewResult,
        OpenReviewInput,
        ReviewProgress,
        ReviewStepInput,
    )
    from workflows.common import DB_ACTIVITY


@workflow.defn
class AccessReviewWorkflow:
    def __init__(self) -> None:
        self._progress = ReviewProgress()
        self._phase = "opening"

    @workflow.run
    async def run(self, inp: AccessReviewInput) -> AccessReviewResult:
        workflow_id = workflow.info().workflow_id
        opened = await workflow.execute_activity_method(
            AccessReviewActivities.open_access_review,
            OpenReviewInput(
                workflow_id=workflow_id,
                trigger=inp.trigger,
                started_by=inp.started_by,
                opened_at=workflow.now(),
                user_ids=inp.user_ids,
            ),
            **DB_ACTIVITY,
        )
        step = ReviewStepInput(review_id=opened.review_id, workflow_id=workflow_id)
        self._phase = "open"
        # Until the deadline: once a day, revocations whose role change has closed are
        # settled, so the campaign's progress stays true while it runs.
        check = timedelta(hours=REVOCATION_CHECK_HOURS)
        while (wait := opened.deadline - workflow.now()) > timedelta(0):
            await workflow.sleep(min(wait, check))
            if workflow.now() < opened.deadline:
                self._progress = await workflow.execute_activity_method(
                    AccessReviewActivities.settle_revocations, step, **DB_ACTIVITY
                )

        self._phase = "suspending"
        await workflow.execute_activity_method(
            AccessReviewActivities.settle_revocations, step, **DB_ACTIVITY
        )
        self._progress = await workflow.execute_activity_method(
            AccessReviewActivities.suspend_unreviewed_grants, step, **DB_ACTIVITY
        )
        checks = 0
        while self._progress.revoking and checks < MAX_REVOCATION_CHECKS:
            self._phase = "settling"
            await workflow.sleep(timedelta(hours=REVOCATION_CHECK_HOURS))
            self._progress = await workflow.execute_activity_method(
                AccessReviewActivities.settle_revocations, step, **DB_ACTIVITY
            )
            checks += 1
        self._progress = await workflow.execute_activity_method(
            AccessReviewActivities.close_access_review, step, **DB_ACTIVITY
        )
        self._phase = "closed"
        return AccessReviewResult(review_id=opened.review_id, counts=self._progress.counts)

    @workflow.query
    def current_phase(self) -> str:
        return self._phase
