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

import contextlib
import uuid
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from audit import trail as audit
from casework.quality_rules import CASE_TYPE_QUALITY, QUALITY_CASE, sample, sample_size
from core.db import Database, run_sql
from core.search_attributes import CASE_ID, CASE_TYPE
from identity.actors import Actor
from models.base import utcnow
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
        number = (await run_sql(session, "SELECT nextval('case_reference_seq')")).scalar_one()
        case = Case(
            reference=QUALITY_CASE.reference(number),
            case_type=CASE_TYPE_QUALITY,
            title=f"Quality review of {reviewed.reference} (bulk-closed)",
            stage="review",
            risk_level=reviewed.risk_level,
            subject_type="case",
            subject_id=str(reviewed.id),
            workflow_id=workflow_id,
            opened_by=None,  # sampled by the product; the closer is excluded from the task
            opened_at=utcnow(),
            customer_id=reviewed.customer_id,
        )
        session.add(case)
        await session.flush()
        opened = Opened(reviewed_case_id, case.id, case.reference)
    with_attrs = TypedSearchAttributes(
        [
            SearchAttributePair(CASE_ID, str(opened.case_id)),
            SearchAttributePair(CASE_TYPE, CASE_TYPE_QUALITY),
        ]
    )
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await temporal.start_workflow(
            QUALITY_CASE.workflow_type or "QualityReviewWorkflow",
            QualityReviewInput(
                case_id=opened.case_id,
                reviewed_case_id=reviewed_case_id,
                reference=opened.reference,
                closer_id=actor.user_id,
                sla_seconds=sla_hours * 3600,
            ),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=with_attrs,
            static_summary=f"{opened.reference} quality review",
        )
    # Audited after the start: the audit chain's lock is never held across a Temporal call.
    async with db.transaction() as session:
        await audit.record(
            session,
            action="quality_review.opened",
            actor=actor.ref,
            object_type="case",
            object_id=opened.case_id,
            origin=actor.origin,
            workflow_id=workflow_id,
            details={"reviewed_case_id": reviewed_case_id, "closer_id": actor.user_id},
        )
    return opened
