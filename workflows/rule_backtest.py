"""RuleBacktestWorkflow: a proposed AML rule change replayed over history, then the change told.

queued --run_rule_backtest (heartbeats progress)--> done | failed --signal--> the change

Started with the change (`aml.commands.backtest_runs.queue_backtest`). When it ends, the
change approval's `backtest_finished` signal lifts its hold on approvals (a change that has
already closed is not told). Ids only in its history.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.aml_backtest import BacktestActivities
    from models.aml_backtest_io import RuleBacktestInput, RuleBacktestOutcome
    from workflows.common import DB_ACTIVITY

# Long (history is judged slice by slice), alive while it heartbeats; retried through an
# outage and while the proposing transaction has not committed yet.
BACKTEST_TIMEOUT = timedelta(hours=2)
BACKTEST_HEARTBEAT = timedelta(minutes=2)
BACKTEST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=30,
)


@workflow.defn
class RuleBacktestWorkflow:
    @workflow.run
    async def run(self, inp: RuleBacktestInput) -> RuleBacktestOutcome:
        try:
            outcome = await workflow.execute_activity_method(
                BacktestActivities.run_rule_backtest,
                inp,
                start_to_close_timeout=BACKTEST_TIMEOUT,
                heartbeat_timeout=BACKTEST_HEARTBEAT,
                retry_policy=BACKTEST_RETRY,
            )
        except ActivityError:
            await workflow.execute_activity_method(
                BacktestActivities.fail_rule_backtest, inp, **DB_ACTIVITY
            )
            outcome = RuleBacktestOutcome(status="failed")
        if inp.change_workflow_id:
            try:
                await workflow.get_external_workflow_handle(inp.change_workflow_id).signal(
                    "backtest_finished", outcome.status
                )
            except FailureError:
                workflow.logger.info("change %s already closed", inp.change_workflow_id)
        return outcome
