"""Human review steps inside a workflow: the shared human-task protocol, workflow side.

A workflow opens a task (an activity inserts the row), waits for the decision that arrives
as a Temporal Update while a durable SLA timer escalates it, and validates every decision
with the same pure segregation function the web choke point uses. `ReviewSteps` is the one
task map, escalation loop, set of parties and validator of every workflow with human steps:
one step at a time (`open`, `wait`) or several side by side under one deadline (`plan`,
`open_planned`, `wait_all`, as a change's approvals), and a task whose time ran out is closed
with `expire`.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from casework.narratives import NARRATIVE_INVALID, narrative_message, narrative_problems
    from casework.segregation import (
        CaseParties,
        TaskFacts,
        case_parties,
        check_decision,
        step_of,
    )
    from models.workflow_io import (
        DecisionInput,
        DecisionResult,
        EscalateTaskInput,
        ExpireTaskInput,
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
    def __init__(
        self,
        case_id: uuid.UUID,
        maker_id: uuid.UUID | None,
        escalation_role: str,
        *,
        editor_ids: Iterable[uuid.UUID] | None = None,
    ):
        """`maker_id`: who made the request (decides none of its steps); `editor_ids`: who
        edited it (the maker unless said otherwise), refused as deciders too."""
        self.case_id = case_id
        self.maker_id = maker_id
        self.editor_ids = (
            frozenset(editor_ids)
            if editor_ids is not None
            else (frozenset({maker_id}) if maker_id else frozenset())
        )
        self.escalation_role = escalation_role
        self.tasks: dict[uuid.UUID, ReviewTask] = {}
        self.in_flight: set[uuid.UUID] = set()
        self._planned: list[ReviewTask] = []

    # ------------------------------------------------------------------ workflow side
    async def open(self, spec: TaskSpec) -> ReviewTask:
        due = workflow.now() + timedelta(seconds=spec.sla_seconds)
        task = ReviewTask(spec=spec, due_at=due)
        self.tasks[spec.task_id] = task
        await self._open_row(task)
        return task

    def plan(self, spec: TaskSpec, due_at: datetime) -> ReviewTask:
        """A task known from the start (deterministic; callable from `workflow.init`, so the
        update validators know it at once), its row opened later by `open_planned`."""
        task = ReviewTask(spec=spec, due_at=due_at)
        self.tasks[spec.task_id] = task
        self._planned.append(task)
        return task

    async def open_planned(self) -> None:
        """Open the rows of every planned task, side by side."""
        planned, self._planned = self._planned, []
        await asyncio.gather(*(self._open_row(task) for task in planned))

    async def _open_row(self, task: ReviewTask) -> None:
        await workflow.execute_activity_method(
            TaskActivities.open_task,
            OpenTaskInput(
                case_id=self.case_id,
                workflow_id=workflow.info().workflow_id,
                spec=task.spec,
                due_at=task.due_at,
            ),
            **DB_ACTIVITY,
        )

    async def expire(self, task: ReviewTask) -> None:
        """Its time ran out undecided: from here on the validator refuses decisions on it,
        and its row is closed as expired."""
        task.status = "expired"
        await workflow.execute_activity_method(
            TaskActivities.expire_task,
            ExpireTaskInput(
                case_id=self.case_id,
                workflow_id=workflow.info().workflow_id,
                task_id=task.spec.task_id,
            ),
            **DB_ACTIVITY,
        )

    @staticmethod
    def decision(task: ReviewTask) -> DecisionInput:
        """The decision a decided task was given."""
        assert task.decision is not None, f"{task.spec.task_key} is {task.status}, not decided"
        return task.decision

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

    async def wait_all(self, until: Callable[[], bool], *, deadline: datetime) -> bool:
        """Several tasks side by side: until `until` holds (False) or `deadline` passes (True),
        waking at the deadline or the earliest SLA of an open task, and escalating every open
        task past its SLA then."""
        while not until():
            now = workflow.now()
            if now >= deadline:
                return True
            wake = min([deadline, *(t.due_at for t in self.tasks.values() if t.status == "open")])
            try:
                await workflow.wait_condition(until, timeout=max(wake - now, timedelta(seconds=1)))
            except TimeoutError:
                now = workflow.now()
                for task in self.tasks.values():
                    if task.status == "open" and task.due_at <= now:
                        await escalate(task, self.case_id, self.escalation_role, now=now)
        return False

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
        change_id: uuid.UUID | None = None,
    ) -> DecisionResult:
        """Record the decision through the activity (or `recorder`, an activity that stores
        it together with what the step does); mark the task decided once it is stored.
        `change_id`: an approval bound to the version of its change's target (refused as
        `stale_target` when the target moved on)."""
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
                change_id=change_id,
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
        return case_parties(
            self.maker_id,
            ((tid, t.decided_by, t.spec.task_key) for tid, t in self.tasks.items() if t.decided_by),
            editor_ids=self.editor_ids,
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
