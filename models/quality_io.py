"""Inputs of the quality-review workflow (ids and codes only: no personal data or free text)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class QualityReviewInput(BaseModel):
    case_id: uuid.UUID  # the quality-review case
    reviewed_case_id: uuid.UUID  # the bulk-closed case it samples
    reference: str  # the quality-review case's reference (QA-…)
    closer_id: uuid.UUID  # who closed the reviewed case: never its reviewer
    sla_seconds: int


class ConcludeQualityReviewInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    reviewed_case_id: uuid.UUID
    closer_id: uuid.UUID
    outcome: str
    reason_code: str | None = None
