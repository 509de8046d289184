"""Quality review: a deterministic share of bulk-closed cases goes to a second analyst.

After a bulk close (casework/bulk.py), `sample` picks ceil(count x percent / 100) of the
closed cases (QA_SAMPLE_PERCENT, default 10 %): those whose case ids hash smallest, so the
same closes always pick the same cases and 20 closes at 10 % open exactly 2 reviews. Each
pick opens a `quality_review` case run by QualityReviewWorkflow (workflows/quality_review.py):
one human step for an AML analyst who is not the closer (the task excludes them), with the
outcomes agree / disagree (a disagreement takes a reason, and the closer is told).

The case type and the step's kind (role, outcomes, reasons) are declared once, in the
registry, by casework/quality_rules.py (pure: the workflow sandbox imports it too).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio.client import Client

from casework import store
from casework.quality_rules import CASE_TYPE_QUALITY, sample, sample_size
from casework.starting import start_case
from casework.store import Event
from core.db import Database, run_sql
from identity.actors import Actor
from models.cases import Case
from models.quality_io import QualityReviewInput

__all__ = ["CASE_TYPE_QUALITY", "Opened", "open_review", "sample", "sample_size"]


def workflow_id_for(reviewed_case_id: uuid.UUID) -> str:
    return f"quality-review-{reviewed_case_id}"


@dataclass(frozen=True)
class Opened:
    reviewed_case_id: uuid.UUID
    case_id: uuid.UUID
    reference: str


async def open_review(
    db: Database,
    temporal: Client,
    actor: Actor,
    reviewed_case_id: uuid.UUID,
    *,
    task_queue: str,
    sla_hours: int,
) -> Opened:
    """Open the quality-review case of one closed case (once: a second call finds it)."""
    workflow_id = workflow_id_for(reviewed_case_id)
    async with db.transaction() as session:
        existing = (
            await run_sql(
                session,
                'SELECT id, reference FROM "case" WHERE workflow_id = :w',
                {"w": workflow_id},
            )
        ).first()
        if existing is not None:
            return Opened(reviewed_case_id, existing.id, existing.reference)
        reviewed = await session.get(Case, reviewed_case_id)
        assert reviewed is not None
        # Sampled by the product, not made by a person: no maker; the closer is excluded
        # from the review task instead.
        case = await store.open_case(
            session,
            case_type=CASE_TYPE_QUALITY,
            title=f"Quality review of {reviewed.reference} (bulk-closed)",
            stage="review",
            subject_type="case",
            subject_id=str(reviewed.id),
            workflow_id=workflow_id,
            risk_level=reviewed.risk_level,
            customer_id=reviewed.customer_id,
        )
        # Rolled back with the case if Temporal refuses the start; audited after it.
        await start_case(
            session,
            temporal,
            case,
            QualityReviewInput(
                case_id=case.id,
                reviewed_case_id=reviewed_case_id,
                reference=case.reference,
                closer_id=actor.user_id,
                sla_seconds=sla_hours * 3600,
            ),
            task_queue=task_queue,
            event=Event(
                "quality_review.opened",
                actor=actor.ref,
                origin=actor.origin,
                details={"reviewed_case_id": reviewed_case_id, "closer_id": actor.user_id},
            ),
            summary=f"{case.reference} quality review",
            what="the quality review",
            already_started=None,
        )
        return Opened(reviewed_case_id, case.id, case.reference)
