"""QualityReviewWorkflow: a second analyst reviews one bulk-closed case (casework/quality.py).

One human step on the shared protocol (workflows/review.py): an AML analyst other than the
closer (the task excludes them) agrees or disagrees with the closure, a disagreement with a
reason; an overdue review escalates and tells the AML lead. Then the review case closes.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.quality import QualityActivities
    from casework.quality_rules import QUALITY_REVIEW
    from models.quality_io import ConcludeQualityReviewInput, QualityReviewInput
    from models.workflow_io import DecisionInput, DecisionResult
    from workflows.common import DB_ACTIVITY
    from workflows.review import ReviewSteps


@workflow.defn
class QualityReviewWorkflow:
    @workflow.init
    def __init__(self, inp: QualityReviewInput) -> None:
        self._inp = inp
        self._reviews = ReviewSteps(inp.case_id, None, escalation_role="aml_lead")
        self._done: str | None = None

    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        result = await self._reviews.record(d)
        result.case_status = "closed"
        return result

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        closed = f"This review is already concluded ({self._done})." if self._done else None
        self._reviews.validate(d, closed_reason=closed)

    @workflow.run
    async def run(self, inp: QualityReviewInput) -> str:
        wid = workflow.info().workflow_id
        spec = QUALITY_REVIEW.spec(
            wid, "quality#1", inp.reference, sla_seconds=inp.sla_seconds, excluded=[inp.closer_id]
        )
        task = await self._reviews.open(spec)
        await self._reviews.wait(task)
        decision = task.decision
        assert decision is not None
        self._done = decision.outcome
        await workflow.execute_activity_method(
            QualityActivities.conclude_quality_review,
            ConcludeQualityReviewInput(
                case_id=inp.case_id,
                workflow_id=wid,
                reviewed_case_id=inp.reviewed_case_id,
                closer_id=inp.closer_id,
                outcome=decision.outcome,
                reason_code=decision.reason_code,
            ),
            **DB_ACTIVITY,
        )
        return decision.outcome
