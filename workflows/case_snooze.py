"""A snoozed case comes back on its date: one durable timer per case (`snooze-<case id>`).

The snooze itself (until when, why, by whom) lives in PostgreSQL; this workflow is the
alarm clock. It sleeps until the date, then asks the wake activity to end the snooze in
force. A new snooze of the same case signals `reschedule` with its date (signal-with-start:
a new run when none is running); waking early signals `until=None` and the run ends. If the
activity finds a later snooze in force than the one the timer was set for, it sleeps on.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.follow_up import FollowUpActivities
    from models.follow_up_io import SNOOZE_WORKFLOW, SnoozeTimer, WakeCaseInput, WakeResult
    from workflows.common import DB_ACTIVITY


@workflow.defn(name=SNOOZE_WORKFLOW)
class CaseSnoozeWorkflow:
    @workflow.init
    def __init__(self, timer: SnoozeTimer) -> None:
        self._timer = timer
        self._moves = 0  # how many times the date was moved (or the snooze ended)
        self._seen = 0  # ... when the current wait began

    @workflow.run
    async def run(self, timer: SnoozeTimer) -> WakeResult:
        while True:
            until = self._timer.until
            if until is None:  # woken early, or nothing left in force
                return WakeResult()
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(self._timer)
            moves = self._seen = self._moves
            delay = until - workflow.now()
            if delay.total_seconds() > 0:
                try:
                    # A durable timer: no polling; a reschedule interrupts it.
                    await workflow.wait_condition(self._moved, timeout=delay)
                    continue
                except TimeoutError:
                    pass
            result = await workflow.execute_activity_method(
                FollowUpActivities.wake_snoozed_case,
                WakeCaseInput(case_id=self._timer.case_id, now=workflow.now()),
                **DB_ACTIVITY,
            )
            if self._moves != moves:
                continue  # a reschedule arrived meanwhile: it is newer than what was read
            if result.snoozed_until is None:
                return result
            self._timer = SnoozeTimer(case_id=self._timer.case_id, until=result.snoozed_until)

    def _moved(self) -> bool:
        return self._moves != self._seen

    @workflow.signal
    def reschedule(self, timer: SnoozeTimer) -> None:
        """The case was snoozed again (a new date) or woken early (`until=None`)."""
        self._timer = SnoozeTimer(case_id=self._timer.case_id, until=timer.until)
        self._moves += 1

    @workflow.query
    def snoozed_until(self) -> str | None:
        return self._timer.until.isoformat() if self._timer.until else None
