"""The quality review of bulk-closed cases: its case type, its one human step, and which
closes it samples (pure, sandbox-safe: no I/O).

A share of the cases closed in one bulk close (QA_SAMPLE_PERCENT, default 10 %, rounded up)
is reviewed by a second AML analyst, never the closer: those whose case ids hash smallest, so
the same closes always pick the same cases and 20 closes at 10 % open exactly 2 reviews.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from casework.registry import CaseType, TaskKind, register

CASE_TYPE_QUALITY = "quality_review"
QA_KIND = "aml_quality_review"
DISAGREE_REASONS: dict[str, str] = {
    "should_escalate": "Should have been escalated to L2",
    "wrong_reason": "Closed with the wrong reason",
    "insufficient_review": "Alerts not reviewed enough to close",
    "other": "Other (explain in the comment)",
}
OUTCOME_LABELS = {"agree": "agree with the closure", "disagree": "disagree with the closure"}
COMMENT_MIN = 20  # a disagreement says why

QUALITY_REVIEW = TaskKind(
    kind=QA_KIND,
    role="aml_analyst",
    label="Quality review",
    outcomes=("agree", "disagree"),
    reason_required_for=("disagree",),
    reasons={"disagree": DISAGREE_REASONS},
    inbox_label="AML quality review (bulk closure)",
    sla_seconds=72 * 3600,
    comment_min={"disagree": COMMENT_MIN},
    checks_narrative=True,
)
QUALITY_CASE = CaseType(
    CASE_TYPE_QUALITY,
    "QA",
    "Quality review",
    "QualityReviewWorkflow",
    kinds=(QA_KIND,),
)
register(QUALITY_CASE, QUALITY_REVIEW)


def sample_size(count: int, percent: int) -> int:
    """How many of `count` closes are reviewed: the share, rounded up (integers only)."""
    return -(-count * max(0, min(percent, 100)) // 100)


def _rank(case_id: uuid.UUID) -> bytes:
    return hashlib.sha256(case_id.bytes).digest()


def sample(case_ids: Sequence[uuid.UUID], percent: int) -> list[uuid.UUID]:
    """The closed cases a second analyst reviews: the `sample_size` smallest by hash."""
    unique = list(dict.fromkeys(case_ids))
    return sorted(unique, key=_rank)[: sample_size(len(unique), percent)]
