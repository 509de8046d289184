"""Human review steps inside a workflow: the shared human-task protocol, workflow side.

A workflow opens a task (an activity inserts the row), waits for the decision that arrives
as a Temporal Update while a durable SLA timer escalates it, and validates every decision
with the same pure segregation function the web choke point uses.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from casework.narratives import NARRATIVE_INVALID, narrative_message, narrative_problems
    from casework.segregation import CaseParties, TaskFacts, check_decision, step_of
    from models.workflow_io import (
        DecisionInput,
        DecisionResult,
        EscalateTaskInput,
        OpenTaskInput,
        RecordDecisionInput,
        TaskSpec,
    )
    from workflows.common import DB_ACTIVITY, INTERACTIVE_ACTIVITY

PRIORITY_BY_LEVEL = ("normal", "high", "urgent")


@dataclass
class ReviewTask:
    spec: TaskSpec
    due_at: datetime
    status: str = "open"
    level: int = 0
    outcome: str | None = None
    decided_by: uuid.UUID | None = None
    decision: DecisionInput | None = None

    @property
    def step(self) -> str:
        return step_of(self.spec.task_key)


async def escalate(
    task: ReviewTask, case_id: uuid.UUID, notify_role: str, *, now: datetime | None = None
) -> None:
    """A task past its SLA: one level up, higher priority, the next tier told, a new due time."""
    task.level += 1
    task.due_at = (now or workflow.now()) + timedelta(seconds=task.spec.sla_seconds)
    priority = PRIORITY_BY_LEVEL[min(task.level, len(PRIORITY_BY_LEVEL) - 1)]
    await workflow.execute_activity_method(
        TaskActivities.escalate_task,
        EscalateTaskInput(
            case_id=case_id,
            workflow_id=workflow.info().workflow_id,
            task_id=task.spec.task_id,
            level=task.level,
            priority=priority,
            next_due_at=task.due_at,
            notify_role=notify_role,
        ),
        **DB_ACTIVITY,
    )


def decision_refusal(err: ActivityError) -> ApplicationError:
    """What the person deciding is told when recording their decision failed: the business
    refusal as it is (its type is the reason code), anything else as "try again"."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return ApplicationError(cause.message, type=cause.type, non_retryable=True)
    return ApplicationError(
        "The decision could not be recorded; nothing was changed. Try again.",
        type="decision_failed",
        non_retryable=True,
    )


class ReviewSteps:
    def __init__(self, case_id: uuid.UUID, maker_id: uuid.UUID | None, escalation_role: str):
        self.case_id = case_id
        self.maker_id = maker_id
        self.escalation_role = escalation_role
        self.tasks: dict[uuid.UUID, ReviewTask] = {}
        self.in_flight: set[uuid.UUID] = set()

    # ------------------------------------------------------------------ workflow side
    async def open(self, spec: TaskSpec) -> ReviewTask:
        due = workflow.now() + timedelta(seconds=spec.sla_seconds)
        task = ReviewTask(spec=spec, due_at=due)
        self.tasks[spec.task_id] = task
        await workflow.execute_activity_method(
            TaskActivities.open_task,
            OpenTaskInput(
                case_id=self.case_id,
                workflow_id=workflow.info().workflow_id,
                spec=spec,
                due_at=due,
            ),
            **DB_ACTIVITY,
        )
        return task

    async def wait(
        self,
        task: ReviewTask,
        *,
        also: Callable[[], bool] = lambda: False,
        notify_role: str | None = None,
    ) -> None:
        """Until the task is decided (or `also` holds), escalating it each time its SLA passes
        (telling `notify_role`, by default the steps' escalation role)."""
        while task.status == "open" and not also():
            remaining = task.due_at - workflow.now()
            try:
                await workflow.wait_condition(
                    lambda: task.status != "open" or also(),
                    timeout=max(remaining, timedelta(seconds=1)),
                )
            except TimeoutError:
                await escalate(task, self.case_id, notify_role or self.escalation_role)

    def cancel_open(self) -> None:
        for task in self.tasks.values():
            if task.status == "open":
                task.status = "cancelled"

    # ------------------------------------------------------------------ update side
    def validate(
        self, d: DecisionInput, *, closed_reason: str | None, high_risk: bool = False
    ) -> None:
        """Refuse what the choke point would refuse: segregation of duties, then what the
        decision says (casework.narratives; `high_risk`: the case is a high-risk one)."""
        if closed_reason is not None:
            raise ApplicationError(closed_reason, type="case_closed")
        task = self.tasks.get(d.task_id)
        if task is None:
            raise ApplicationError("That task does not belong to this case.", type="unknown_task")
        if d.task_id in self.in_flight:
            raise ApplicationError(
                "A decision on this task is already being recorded.", type="decision_in_progress"
            )
        if task.status != "open":
            raise ApplicationError(f"This task is already {task.status}.", type="task_closed")
        refusal = check_decision(
            self._facts(task), self._parties(), d.actor_id, d.actor_roles, d.outcome, d.reason_code
        )
        if refusal is not None:
            raise ApplicationError(refusal.message, type=refusal.code)
        problems = narrative_problems(
            task.spec.kind, d.outcome, d.reason_code, d.comment, high_risk=high_risk
        )
        if problems:
            # The field map travels as the error's details: the choke point shows it per field.
            raise ApplicationError(narrative_message(problems), problems, type=NARRATIVE_INVALID)

    async def record(
        self,
        d: DecisionInput,
        *,
        recorder: Callable[[RecordDecisionInput], Awaitable[DecisionResult]] | None = None,
    ) -> DecisionResult:
        """Record the decision through the activity (or `recorder`, an activity that stores
        it together with what the step does); mark the task decided once it is stored."""
        task = self.tasks[d.task_id]
        other_steps = [
            tid
            for tid, t in self.tasks.items()
            if tid != d.task_id and t.status == "open" and t.step != task.step
        ]
        self.in_flight.add(d.task_id)
        try:
            recording = RecordDecisionInput(
                case_id=self.case_id,
                workflow_id=workflow.info().workflow_id,
                decision=d,
                sibling_task_ids=other_steps,
            )
            if recorder is not None:
                result = await recorder(recording)
            else:
                result = await workflow.execute_activity_method(
                    TaskActivities.record_decision, recording, **INTERACTIVE_ACTIVITY
                )
        except ActivityError as err:
            raise decision_refusal(err) from err
        finally:
            self.in_flight.discard(d.task_id)
        task.status = "done"
        task.outcome = d.outcome
        task.decided_by = d.actor_id
        task.decision = d
        return result

    # ------------------------------------------------------------------ facts
    def deciders_of(self, step: str) -> list[uuid.UUID]:
        return [t.decided_by for t in self.tasks.values() if t.step == step and t.decided_by]

    def open_task_ids(self) -> list[uuid.UUID]:
        return [tid for tid, t in self.tasks.items() if t.status == "open"]

    def _parties(self) -> CaseParties:
        decided = {tid: t for tid, t in self.tasks.items() if t.decided_by is not None}
        return CaseParties(
            maker_id=self.maker_id,
            editor_ids=frozenset({self.maker_id}) if self.maker_id else frozenset(),
            deciders={tid: t.decided_by for tid, t in decided.items() if t.decided_by},
            decider_steps={tid: t.step for tid, t in decided.items()},
        )

    def _facts(self, task: ReviewTask) -> TaskFacts:
        return TaskFacts(
            task_id=task.spec.task_id,
            task_key=task.spec.task_key,
            status=task.status,
            candidate_role=task.spec.candidate_role,
            allowed_outcomes=tuple(task.spec.allowed_outcomes),
            reason_required_for=tuple(task.spec.reason_required_for),
            excluded_actors=frozenset(task.spec.excluded_actors),
        )
