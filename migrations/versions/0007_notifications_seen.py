"""Staff read their notifications in the app: when each last marked them as read.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "staff_user",
        sa.Column("notifications_seen_at", sa.DateTime(timezone=True), nullable=True),
    )
    # A person's notifications: to them, or to one of their roles, newest first.
    op.create_index("ix_notification_recipient_id", "notification", ["recipient_id", "created_at"])
    op.create_index(
        "ix_notification_recipient_role", "notification", ["recipient_role", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_notification_recipient_role", table_name="notification")
    op.drop_index("ix_notification_recipient_id", table_name="notification")
    op.drop_column("staff_user", "notifications_seen_at")
