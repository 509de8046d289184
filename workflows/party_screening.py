"""PartyScreeningWorkflow: one person or entity screened against the current watch list.

A child of OnboardingWorkflow (one per applicant, director, beneficial owner and business),
so a KYB case screens everyone in parallel and each result has its own history.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.screening import ScreeningActivities
    from models.onboarding_io import PartyScreeningInput, PartyScreeningOutcome
    from workflows.common import DB_RETRY


@workflow.defn
class PartyScreeningWorkflow:
    @workflow.run
    async def run(self, inp: PartyScreeningInput) -> PartyScreeningOutcome:
        return await workflow.execute_activity_method(
            ScreeningActivities.screen_party,
            inp,
            # The first screening in a process builds the list index (a second or two).
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=DB_RETRY,
        )
