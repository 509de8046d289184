"""What an access review is made of (pure: no I/O; the workflow imports it).

An item moves pending → certified | revoking → revoked | kept (a role owner who may not
propose role changes: pending → requested → revoking, an administrator proposes it); pending
or requested at the deadline → suspended; a grant that ended by other means while the
campaign ran → ended.
"""

from __future__ import annotations

import uuid
from datetime import datetime

PENDING, CERTIFIED, REVOKING, REVOKED = "pending", "certified", "revoking", "revoked"
KEPT, SUSPENDED, ENDED = "kept", "suspended", "ended"
# A role owner who may not propose role changes asks the administrators to (migration 0023).
REQUESTED = "requested"
STATUSES = (PENDING, CERTIFIED, REQUESTED, REVOKING, REVOKED, KEPT, SUSPENDED, ENDED)
STATUS_LABELS = {
    PENDING: "Awaiting review",
    CERTIFIED: "Certified",
    REQUESTED: "Revocation requested (an administrator proposes it)",
    REVOKING: "Revocation awaiting approval",
    REVOKED: "Revoked",
    KEPT: "Revocation refused (grant kept)",
    SUSPENDED: "Suspended at the deadline",
    ENDED: "Grant ended during the review",
}
# Decided by a reviewer (the rest are open, or settled by the deadline or by other means).
REVIEWED = (CERTIFIED, REQUESTED, REVOKING, REVOKED, KEPT)
# Left to the deadline: suspended then (a requested revocation nobody proposed too).
OPEN_AT_DEADLINE = (PENDING, REQUESTED)
SUSPENSION_REASON = "suspended by access review"
# How often a campaign looks at revocations waiting for their approval (while open, and
# after the deadline until each is settled).
REVOCATION_CHECK_HOURS = 24
# A revocation's change expires after 72 h, so a few checks settle every one of them.
MAX_REVOCATION_CHECKS = 10

# A role-grant change's final statuses and what they mean for a revocation.
CHANGE_APPLIED = "applied"
CHANGE_NOT_APPLIED = ("rejected", "expired", "withdrawn", "superseded")


def period_of(moment: datetime) -> str:
    """ "2026-Q4": the quarter a campaign opened in."""
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def reviewer_for(
    role: str, grantee_id: uuid.UUID, owners: dict[str, uuid.UUID]
) -> uuid.UUID | None:
    """The role's owner reviews its holders; None (the administrators) when the role has no
    owner, or when the owner holds the grant under review (nobody reviews their own access)."""
    owner = owners.get(role)
    return owner if owner is not None and owner != grantee_id else None


def revocation_outcome(change_status: str) -> str | None:
    """What a revoking item becomes once its change settles; None while it is pending."""
    if change_status == CHANGE_APPLIED:
        return REVOKED
    if change_status in CHANGE_NOT_APPLIED:
        return KEPT
    return None
