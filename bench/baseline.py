"""The bare-Temporal baseline: the same shape of Temporal work as one approved change, no I/O.

An approved standard-tier change in ChangeApprovalWorkflow costs Temporal exactly:
  * one workflow start (with search attributes),
  * `open_task`        activity (run),
  * the `decide` Update, whose handler runs the `record_decision` activity and then waits
    until the main coroutine has applied the change,
  * `apply_change`     activity (run),
  * one search-attribute upsert and the completion.
(`set_change_status` is not run on the applied path: apply_change closes the change itself;
`escalate_task` only runs when an SLA passes; no sibling workflow is signalled when every
change has its own target.)

BaselineWorkflow repeats that: three no-op activities with the same timeouts and retry
policies, one Update that waits for the first and for the last activity. It sets no search
attributes: they, like the database work, are part of what the product costs on top.
"""

from __future__ import annotations

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from workflows.common import DB_ACTIVITY, INTERACTIVE_ACTIVITY

# Keep in step with ChangeApprovalWorkflow's approved path (see the module docstring).
ACTIVITIES_PER_INSTANCE = 3
UPDATES_PER_INSTANCE = 1


@activity.defn(name="bench_noop")
async def noop(step: str) -> str:
    return step


@workflow.defn(name="BenchBaselineWorkflow")
class BaselineWorkflow:
    def __init__(self) -> None:
        self._opened = False
        self._approved = False
        self._applied = False

    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(noop, "open_task", **DB_ACTIVITY)
        self._opened = True
        await workflow.wait_condition(lambda: self._approved)
        await workflow.execute_activity(noop, "apply_change", **DB_ACTIVITY)
        self._applied = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "applied"

    @workflow.update
    async def decide(self, outcome: str) -> str:
        await workflow.wait_condition(lambda: self._opened)
        await workflow.execute_activity(noop, "record_decision", **INTERACTIVE_ACTIVITY)
        self._approved = True
        await workflow.wait_condition(lambda: self._applied)
        return "applied"


# The auto-approved onboarding path: load_policy, status, check_documents, one screening
# child (one activity), score_risk, status, close_application.
SHAPE_ACTIVITIES = 6


@workflow.defn(name="BenchScreeningChild")
class ScreeningChildBaseline:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(noop, "screen_party", **DB_ACTIVITY)


@workflow.defn(name="BenchOnboardingShape")
class OnboardingShapeBaseline:
    @workflow.run
    async def run(self) -> str:
        for step in ("load_policy", "set_status", "check_documents"):
            await workflow.execute_activity(noop, step, **DB_ACTIVITY)
        await workflow.execute_child_workflow(
            ScreeningChildBaseline.run, id=f"{workflow.info().workflow_id}-child"
        )
        for step in ("score_risk", "set_status", "close_application"):
            await workflow.execute_activity(noop, step, **DB_ACTIVITY)
        return "approved"
