"""The activity of a rule change's backtest: replay history dry, write progress and result."""

from __future__ import annotations

from temporalio import activity

from activities.outage import not_committed_yet, retry_on_outage
from aml.commands.backtest_runs import execute_backtest, fail_backtest
from core.db import Database, is_outage
from models.aml_backtest_io import RuleBacktestInput, RuleBacktestOutcome


class BacktestActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def run_rule_backtest(self, inp: RuleBacktestInput) -> RuleBacktestOutcome:
        """Judge the period dry under both configurations; heartbeats its progress."""

        def heartbeat(judged: int, total: int) -> None:
            activity.heartbeat(judged, total)

        try:
            run = await execute_backtest(self.db, inp.backtest_id, heartbeat)
        except Exception as exc:
            if is_outage(exc):
                raise
            # A backtest that cannot run (a bug, a document that no longer validates) is
            # reported on the approval page, not retried for ever.
            activity.logger.exception("backtest %s failed", inp.backtest_id)
            await fail_backtest(self.db, inp.backtest_id, f"{type(exc).__name__}: {exc}")
            return RuleBacktestOutcome(status="failed")
        if run.status is None:  # started inside the proposing transaction
            raise not_committed_yet(f"backtest {inp.backtest_id}")
        return RuleBacktestOutcome(status=run.status)

    @activity.defn
    @retry_on_outage
    async def fail_rule_backtest(self, inp: RuleBacktestInput) -> None:
        """The backtest's activity gave up (timed out, or never saw its row): say so on the
        row, so the approval page stops waiting (a row never committed is left alone)."""
        await fail_backtest(
            self.db, inp.backtest_id, "The backtest did not complete (timed out or gave up)."
        )
