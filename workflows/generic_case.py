"""GenericCaseWorkflow: a manual case (investigation, complaint) worked through the standard steps.

work (analyst, not the opener) --resolve / no_further_action--> closed with that outcome
     |--escalate--> senior review (neither the opener nor the analyst)
                        |--resolve / no_further_action--> closed with that outcome
                        |--return--> work again (a new round)

The case type's steps come from the registry (casework/generic_case.py, read once by an
activity and kept in the history). Both steps are the shared human steps (workflows.review):
each task escalates at its SLA (priority up, the type's lead told) and stays open until
decided; every decision meets the same segregation and narrative rules as the web door.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

import uuid

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.generic_case import GenericCaseActivities
    from activities.tasks import TaskActivities
    from casework.generic_case import (
        CLOSING_OUTCOMES,
        ESCALATE,
        RETURN,
        SENIOR_STAGE,
        SENIOR_STEP,
        WORK_STAGE,
        WORK_STEP,
    )
    from casework.registry import task_id_for
    from core.search_attributes import CASE_STATUS
    from models.generic_case_io import (
        CasePlanInput,
        GenericCaseInput,
        GenericCasePlan,
        GenericStageInput,
    )
    from models.workflow_io import CloseCaseInput, DecisionInput, DecisionResult, TaskSpec
    from workflows.common import DB_ACTIVITY
    from workflows.review import ReviewSteps, ReviewTask


@workflow.defn
class GenericCaseWorkflow:
    @workflow.init
    def __init__(self, inp: GenericCaseInput) -> None:
        self._inp = inp
        self._plan: GenericCasePlan | None = None
        # Whoever opened the case is its maker: they decide none of its steps (the door reads
        # the same from the case's opened_by). The escalation role comes with the plan.
        self._reviews = ReviewSteps(inp.case_id, inp.opened_by, escalation_role="")
        self._stage = WORK_STAGE
        self._outcome: str | None = None

    # ------------------------------------------------------------------ updates, queries
    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        result = await self._reviews.record(d)
        decided = self._reviews.tasks[d.task_id]
        result.case_status = (
            "closed" if d.outcome in CLOSING_OUTCOMES else self._next_stage(decided, d.outcome)
        )
        return result

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        closed = f"This case is already closed ({self._outcome})." if self._outcome else None
        self._reviews.validate(d, closed_reason=closed)

    @workflow.query
    def current_state(self) -> dict[str, object]:
        return {
            "stage": self._stage,
            "outcome": self._outcome,
            "open_tasks": [str(t) for t in self._reviews.open_task_ids()],
        }

    # ------------------------------------------------------------------ the case
    @workflow.run
    async def run(self, inp: GenericCaseInput) -> str:
        wid = workflow.info().workflow_id
        plan = await workflow.execute_activity_method(
            GenericCaseActivities.load_case_plan,
            CasePlanInput(
                case_id=inp.case_id,
                workflow_id=wid,
                case_type=inp.case_type,
                reference=inp.reference,
            ),
            **DB_ACTIVITY,
        )
        self._plan = plan
        self._reviews.escalation_role = plan.escalation_role
        round_no = 0
        while True:
            round_no += 1
            opener = [inp.opened_by] if inp.opened_by else []
            work = await self._step(plan.work, f"{WORK_STEP}#{round_no}", opener)
            done = self._reviews.decision(work)
            if done.outcome != ESCALATE:
                closing, task = done, work
                break
            await self._move(SENIOR_STAGE)
            # Four eyes: the senior is neither who opened the case nor who worked it (both
            # are refused anyway, the maker and a decider of another step; excluded here so
            # the task stays off their inboxes too).
            excluded = [*opener, done.actor_id]
            senior = await self._step(plan.senior, f"{SENIOR_STEP}#{round_no}", excluded)
            review = self._reviews.decision(senior)
            if review.outcome != RETURN:
                closing, task = review, senior
                break
            await self._move(WORK_STAGE)
        self._outcome = closing.outcome
        self._stage = "closed"
        await workflow.execute_activity_method(
            TaskActivities.close_case,
            CloseCaseInput(
                case_id=inp.case_id,
                workflow_id=wid,
                outcome=closing.outcome,
                reason_code=closing.reason_code,
                decided_by=closing.actor_id,
                task_id=task.spec.task_id,
            ),
            **DB_ACTIVITY,
        )
        workflow.upsert_search_attributes([CASE_STATUS.value_set(closing.outcome)])
        await workflow.wait_condition(workflow.all_handlers_finished)
        return closing.outcome

    async def _step(self, first: TaskSpec, task_key: str, excluded: list[uuid.UUID]) -> ReviewTask:
        """Open this round's task of a step and wait, escalating at each SLA, until decided."""
        spec = first.model_copy(
            update={
                "task_key": task_key,
                "task_id": task_id_for(workflow.info().workflow_id, task_key),
                "excluded_actors": list(dict.fromkeys(excluded)),
            }
        )
        task = await self._reviews.open(spec)
        await self._reviews.wait(task)
        return task

    async def _move(self, stage: str) -> None:
        self._stage = stage
        await workflow.execute_activity_method(
            GenericCaseActivities.move_generic_case,
            GenericStageInput(
                case_id=self._inp.case_id, workflow_id=workflow.info().workflow_id, stage=stage
            ),
            **DB_ACTIVITY,
        )
        workflow.upsert_search_attributes([CASE_STATUS.value_set(stage)])

    def _next_stage(self, task: ReviewTask, outcome: str) -> str:
        """Where the case goes after this decision (the answer to the person deciding)."""
        if task.step == WORK_STEP and outcome == ESCALATE:
            return SENIOR_STAGE
        return WORK_STAGE if outcome == RETURN else self._stage
