"""Access reviews: a role owner who may not propose role changes requests a revocation
(status `requested`); an administrator proposes it as the four-eyes role change.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("pending", "certified", "revoking", "revoked", "kept", "suspended", "ended")
AFTER = (*BEFORE, "requested")


def _check(statuses: tuple[str, ...]) -> None:
    op.drop_constraint("ck_access_review_item_status", "access_review_item", type_="check")
    op.create_check_constraint(
        "ck_access_review_item_status",
        "access_review_item",
        "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")",
    )


def upgrade() -> None:
    _check(AFTER)


def downgrade() -> None:
    op.execute("UPDATE access_review_item SET status = 'pending' WHERE status = 'requested'")
    _check(BEFORE)
