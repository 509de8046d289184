"""What the access-review workflow passes to its activities (ids and counts only: no names,
no free text in the workflow's history)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class AccessReviewInput(BaseModel):
    trigger: str = "schedule"  # schedule | manual
    started_by: uuid.UUID | None = None
    # A targeted campaign over these people's grants only (None: everybody's).
    user_ids: list[uuid.UUID] | None = None


class OpenReviewInput(BaseModel):
    workflow_id: str
    trigger: str
    started_by: uuid.UUID | None = None
    opened_at: datetime
    user_ids: list[uuid.UUID] | None = None


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


# ----------------------------------------------------------------------------- public shapes
class AccessReviewPublic(BaseModel):
    id: uuid.UUID
    period: str
    status: str
    trigger: str
    opened_at: datetime
    deadline: datetime
    closed_at: datetime | None
    counts: dict[str, int] = Field(
        description="Items by status (of those the reader may see): pending, certified, "
        "revoking, revoked, kept, suspended, ended"
    )


class AccessReviewList(BaseModel):
    items: list[AccessReviewPublic]
    total: int
    page: int


class AccessReviewItemPublic(BaseModel):
    id: uuid.UUID
    role: str
    user_id: uuid.UUID
    username: str
    reviewer: str | None = Field(description="The role owner's username; null: the admins")
    status: str
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    change_id: uuid.UUID | None = Field(description="The role-grant change of a revocation")
    change_status: str | None
    resolved_at: datetime | None


class AccessReviewItemList(BaseModel):
    items: list[AccessReviewItemPublic]
    total: int
    page: int


class AccessReviewStarted(BaseModel):
    workflow_id: str
