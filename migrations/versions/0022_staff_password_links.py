"""Staff administration: one-time set-password links (invitations and password resets).

`staff_password_link` holds the SHA-256 of each link's random token (never the token), who
made it, when it expires (72 h), when it was used or voided, and what became of its e-mail.
At most one open link per person (partial unique index): a new link voids the old one in the
same transaction. The app role gets the default SELECT, INSERT, UPDATE, DELETE.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_password_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery", sa.String(300), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_staff_password_link_token"),
        sa.CheckConstraint("purpose IN ('invite', 'reset')", name="ck_staff_password_link_purpose"),
    )
    op.create_index("ix_staff_password_link_user_id", "staff_password_link", ["user_id"])
    op.create_index(
        "uq_staff_password_link_open",
        "staff_password_link",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("used_at IS NULL AND voided_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("staff_password_link")
