"""ListAgeWorkflow: what the daily `watch-list-age` schedule starts. One activity finds the
enabled lists whose newest version is older than their maximum age and opens one case per
stale version for compliance (a KYC senior works it, the MLRO reviews an escalation).

Deterministic code only: this module runs inside the workflow sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.list_age import ListAgeActivities
    from models.list_age_io import ListAgeInput, ListAgeSummary
    from workflows.common import DB_RETRY


@workflow.defn
class ListAgeWorkflow:
    @workflow.run
    async def run(self, inp: ListAgeInput) -> ListAgeSummary:
        today = inp.today or workflow.now().date()
        return await workflow.execute_activity_method(
            ListAgeActivities.check_list_ages,
            ListAgeInput(today=today),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=DB_RETRY,
        )
