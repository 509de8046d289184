"""The new case type's workflow (file 2 of 3): check, then a four-eyes approval.

Both steps are the shared human steps (workflows.review): tasks opened by the kernel's
activity, decisions validated against the same segregation and narrative rules as the
web door, and the case closed by the kernel's close activity with the deciding outcome.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from casework.registry import kind
    from models.workflow_io import CloseCaseInput, DecisionInput, DecisionResult
    from tests.kernel_example.complaint import APPROVE, CHECK, KernelExampleInput
    from workflows.common import DB_ACTIVITY
    from workflows.review import ReviewSteps


@workflow.defn
class KernelExampleWorkflow:
    @workflow.init
    def __init__(self, inp: KernelExampleInput) -> None:
        self._reviews = ReviewSteps(inp.case_id, inp.opened_by, escalation_role="ops_manager")

    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        return await self._reviews.record(d)

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        self._reviews.validate(d, closed_reason=None)

    @workflow.run
    async def run(self, inp: KernelExampleInput) -> str:
        wid = workflow.info().workflow_id
        check = await self._reviews.open(kind(CHECK).spec(wid, "check", inp.reference))
        await self._reviews.wait(check)
        closing = self._reviews.decision(check)
        if closing.outcome == "accept":
            approve = await self._reviews.open(kind(APPROVE).spec(wid, "approve", inp.reference))
            await self._reviews.wait(approve)
            closing = self._reviews.decision(approve)
        await workflow.execute_activity_method(
            TaskActivities.close_case,
            CloseCaseInput(
                case_id=inp.case_id,
                workflow_id=wid,
                outcome=closing.outcome,
                reason_code=closing.reason_code,
                decided_by=closing.actor_id,
                task_id=closing.task_id,
            ),
            **DB_ACTIVITY,
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return closing.outcome
