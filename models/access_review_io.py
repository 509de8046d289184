"""What the access-review workflow passes to its activities (ids and counts only: no names,
no free text in the workflow's history)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class AccessReviewInput(BaseModel):
    trigger: str = "schedule"  # schedule | manual
    started_by: uuid.UUID | None = None


class OpenReviewInput(BaseModel):
    workflow_id: str
    trigger: str
    started_by: uuid.UUID | None = None
    opened_at: datetime


class OpenedReview(BaseModel):
    review_id: uuid.UUID
    deadline: datetime
    items: int


class ReviewStepInput(BaseModel):
    review_id: uuid.UUID
    workflow_id: str


class ReviewProgress(BaseModel):
    """Counts of a campaign's items by status."""

    counts: dict[str, int] = {}

    @property
    def revoking(self) -> int:
        return self.counts.get("revoking", 0)


class AccessReviewResult(BaseModel):
    review_id: uuid.UUID
    counts: dict[str, int] = {}
