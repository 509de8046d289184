"""Activities of the quality review of bulk-closed cases (casework/quality.py)."""

from __future__ import annotations

from temporalio import activity

from activities.outage import retry_on_outage
from activities.tasks import close_case
from audit import trail as audit
from audit.trail import SYSTEM
from casework.notifications import queue_notification
from core.db import Database, run_sql
from models.base import utcnow
from models.quality_io import ConcludeQualityReviewInput


class QualityActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def conclude_quality_review(self, inp: ConcludeQualityReviewInput) -> None:
        """Close the review case with its outcome; a disagreement tells the closer."""
        async with self.db.transaction() as session:
            row = (
                await run_sql(
                    session,
                    'SELECT status, reference FROM "case" WHERE id = :id FOR UPDATE',
                    {"id": inp.case_id},
                )
            ).one()
            if row.status != "open":
                return  # a retry after our own commit
            reviewed = (
                await run_sql(
                    session,
                    'SELECT reference FROM "case" WHERE id = :id',
                    {"id": inp.reviewed_case_id},
                )
            ).scalar_one()
            await close_case(
                session,
                inp.case_id,
                outcome=inp.outcome,
                reason=inp.reason_code,
                now=utcnow(),
            )
            if inp.outcome == "disagree":
                await queue_notification(
                    session,
                    dedupe_key=f"quality-review:{inp.case_id}:disagree",
                    recipient=inp.closer_id,
                    subject=f"Quality review disagrees with your closure of {reviewed}",
                    body=(
                        f"The quality review {row.reference} of {reviewed} disagreed with its "
                        f"bulk closure (reason {inp.reason_code or 'not given'})."
                    ),
                    case_id=inp.reviewed_case_id,
                )
            await audit.record(
                session,
                action="quality_review.concluded",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={
                    "outcome": inp.outcome,
                    "reason_code": inp.reason_code,
                    "reviewed_case_id": inp.reviewed_case_id,
                },
            )
