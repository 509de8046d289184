"""Nothing stays silently stuck: the sweep for out-of-band endings, and their four-eyes repair.

ProcessWatchWorkflow is what the Temporal Schedule starts every few minutes: one activity
walks the open cases and flags those whose workflow was terminated, cancelled or reset
outside the product. ProcessRepairWorkflow (one per ending) has an engineer propose a
resume or a close and a second engineer approve it; then the product does it.

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.process_repair import ProcessRepairActivities
    from activities.process_watch import ProcessWatchActivities
    from casework.process_watch import REPAIR_ACTIONS, approval_spec, proposal_spec
    from models.process_watch_io import (
        CarryOutRepairInput,
        RepairInput,
        RepairResult,
        SweepInput,
        SweepSummary,
    )
    from models.workflow_io import DecisionInput, DecisionResult
    from workflows.common import DB_ACTIVITY, DB_RETRY
    from workflows.review import ReviewSteps


@workflow.defn
class ProcessWatchWorkflow:
    @workflow.run
    async def run(self, inp: SweepInput) -> SweepSummary:
        return await workflow.execute_activity_method(
            ProcessWatchActivities.sweep_process_endings,
            inp,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=DB_RETRY,
        )


@workflow.defn
class ProcessRepairWorkflow:
    @workflow.init
    def __init__(self, inp: RepairInput) -> None:
        self._inp = inp
        self._reviews = ReviewSteps(inp.case_id, None, escalation_role="engineer")
        self._done: str | None = None

    @workflow.run
    async def run(self, inp: RepairInput) -> RepairResult:
        wid = workflow.info().workflow_id
        round_no = 0
        while True:
            round_no += 1
            proposal = await self._reviews.open(proposal_spec(wid, inp, round_no))
            await self._reviews.wait(proposal)
            proposed = proposal.decision
            assert proposed is not None
            approval = await self._reviews.open(
                approval_spec(wid, inp, round_no, proposed.outcome, proposed.actor_id)
            )
            await self._reviews.wait(approval)
            approved = approval.decision
            assert approved is not None
            if approved.outcome == "approve_repair":
                break
            # Rejected: a new proposal round (the rejecting engineer may not propose it).
        result = await workflow.execute_activity_method(
            ProcessRepairActivities.carry_out_repair,
            CarryOutRepairInput(
                ending_id=inp.ending_id,
                repair_workflow_id=wid,
                outcome=REPAIR_ACTIONS[proposed.outcome],
                reason_code=proposed.reason_code,
                comment=proposed.comment,
                proposed_by=proposed.actor_id,
                proposed_by_name=proposed.actor_name,
                approved_by=approved.actor_id,
                approved_by_name=approved.actor_name,
            ),
            **DB_ACTIVITY,
        )
        self._done = result.outcome
        return result

    @workflow.update
    async def decide(self, d: DecisionInput) -> DecisionResult:
        return await self._reviews.record(d)

    @decide.validator
    def _validate_decide(self, d: DecisionInput) -> None:
        done = f"This repair is already done ({self._done})." if self._done else None
        self._reviews.validate(d, closed_reason=done)

    @workflow.query
    def current_state(self) -> dict[str, object]:
        return {"open_tasks": [str(t) for t in self._reviews.open_task_ids()], "done": self._done}
