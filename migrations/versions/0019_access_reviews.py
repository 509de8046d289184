"""Access reviews: a campaign, and one item per active role grant it lists to a reviewer.

- `access_review`: one campaign (opened by the quarterly schedule or by an admin), its
  deadline, its status (open → closed) and its workflow id (a business key: one campaign
  per period, `access-review-<period>`).
- `access_review_item`: one active grant at the campaign's opening (person, role, the
  role_assignment row), its reviewer (the role's configured owner, or the administrators when
  `reviewer_id` is null), and what became of it: pending → certified | revoking (a role-grant
  change proposed, `change_id`) → revoked | kept; pending at the deadline → suspended; a grant
  that ended by other means during the campaign → ended. Items are kept for the auditors'
  report; the app role cannot delete them (core/schema.py KEPT_TABLES).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
ITEM_STATUSES = ("pending", "certified", "revoking", "revoked", "kept", "suspended", "ended")


def upgrade() -> None:
    op.create_table(
        "access_review",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("started_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("deadline", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_access_review_status"),
    )
    op.create_index("ix_access_review_opened", "access_review", ["opened_at"])
    op.create_table(
        "access_review_item",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("review_id", sa.Uuid(), sa.ForeignKey("access_review.id"), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), sa.ForeignKey("role_assignment.id"), nullable=False),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("decided_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("comment", sa.String(1000), nullable=True),
        sa.Column("change_id", sa.Uuid(), sa.ForeignKey("change_request.id"), nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.UniqueConstraint("review_id", "assignment_id", name="uq_access_review_item_grant"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in ITEM_STATUSES) + ")",
            name="ck_access_review_item_status",
        ),
    )
    op.create_index(
        "ix_access_review_item_review", "access_review_item", ["review_id", "status", "role"]
    )
    op.create_index("ix_access_review_item_reviewer", "access_review_item", ["reviewer_id"])
    op.create_index("ix_access_review_item_change", "access_review_item", ["change_id"])


def downgrade() -> None:
    op.drop_table("access_review_item")
    op.drop_table("access_review")
