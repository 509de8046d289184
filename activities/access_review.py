"""Activities of the access-review campaign (access_reviews/commands/campaigns.py)."""

from __future__ import annotations

from temporalio import activity

from access_reviews.commands import campaigns
from activities.outage import retry_on_outage
from core.db import Database
from models.access_review_io import OpenedReview, OpenReviewInput, ReviewProgress, ReviewStepInput


class AccessReviewActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def open_access_review(self, inp: OpenReviewInput) -> OpenedReview:
        return await campaigns.open_review(self.db, inp)

    @activity.defn
    @retry_on_outage
    async def suspend_unreviewed_grants(self, inp: ReviewStepInput) -> ReviewProgress:
        return await campaigns.suspend_unreviewed(self.db, inp)

    @activity.defn
    @retry_on_outage
    async def settle_revocations(self, inp: ReviewStepInput) -> ReviewProgress:
        return await campaigns.settle_revocations(self.db, inp)

    @activity.defn
    @retry_on_outage
    async def close_access_review(self, inp: ReviewStepInput) -> ReviewProgress:
        return await campaigns.close_review(self.db, inp)
