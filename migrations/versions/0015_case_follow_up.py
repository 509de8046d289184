"""Follow-up on cases: snoozes (a durable Temporal timer wakes each), tags, manual cases.

`case_snooze` keeps every snooze of a case; the one with `ended_at IS NULL` is in force (at
most one per case, a partial unique index that the inbox's "not snoozed" anti-join uses).
Its reason code and comment stay here: the snooze workflow carries only the case id and
the time. `case_tag` holds short slugs (lowercase, validated in casework/tags.py), one row
per case and tag. `manual_case` holds why a person opened a case by hand (investigation,
complaint): its reason code and description, kept out of Temporal too.

The app role gets the default SELECT, INSERT, UPDATE, DELETE (core/schema.grant_app_role):
a tag is removed by deleting its row (audited); snoozes end by update, never deletion.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_snooze",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("comment", sa.String(500), nullable=True),
        sa.Column("snoozed_by", sa.Uuid(), nullable=False),
        sa.Column("snoozed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.Uuid(), nullable=True),
        sa.Column("end_kind", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["snoozed_by"], ["staff_user.id"]),
        sa.ForeignKeyConstraint(["ended_by"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(
            "end_kind IS NULL OR end_kind IN ('timer', 'woken', 'replaced', 'closed')",
            name="ck_case_snooze_end_kind",
        ),
        sa.CheckConstraint(
            "(ended_at IS NULL) = (end_kind IS NULL)", name="ck_case_snooze_ended_with_kind"
        ),
        sa.CheckConstraint("snoozed_until > snoozed_at", name="ck_case_snooze_in_future"),
    )
    op.create_index("ix_case_snooze_case_id", "case_snooze", ["case_id", "snoozed_at"])
    op.create_index(
        "uq_case_snooze_active",
        "case_snooze",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "case_tag",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(32), nullable=False),
        sa.Column("added_by", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["added_by"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("case_id", "tag"),
        sa.CheckConstraint("tag ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="ck_case_tag_slug"),
    )
    op.create_index("ix_case_tag_tag", "case_tag", ["tag"])
    op.create_table(
        "manual_case",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("opened_by", sa.Uuid(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["opened_by"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("manual_case")
    op.drop_index("ix_case_tag_tag", table_name="case_tag")
    op.drop_table("case_tag")
    op.drop_index("uq_case_snooze_active", table_name="case_snooze")
    op.drop_index("ix_case_snooze_case_id", table_name="case_snooze")
    op.drop_table("case_snooze")
