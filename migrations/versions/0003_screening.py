"""Watch lists (versioned by list date), their entries and every listed name and alias.

Screening results belong to the processes that screen (onboarding keeps its own).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watchlist_version",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("list_name", sa.String(length=40), nullable=False),
        sa.Column("list_date", sa.Date(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("name_count", sa.Integer(), nullable=False),
        sa.Column("source_file", sa.String(length=300), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("list_name", "list_date", name="uq_watchlist_version_list_date"),
    )
    op.create_table(
        "watchlist_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("ent_num", sa.Integer(), nullable=False),
        sa.Column("entry_type", sa.String(length=16), nullable=False),
        sa.Column("primary_name", sa.String(length=500), nullable=False),
        sa.Column("programs", postgresql.ARRAY(sa.String(length=60)), nullable=False),
        sa.Column("birth_dates", postgresql.ARRAY(sa.Date()), nullable=False),
        sa.Column("birth_years", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("nationalities", postgresql.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "entry_type IN ('person', 'entity', 'vessel', 'aircraft')",
            name="ck_watchlist_entry_type",
        ),
        sa.ForeignKeyConstraint(["version_id"], ["watchlist_version.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_watchlist_entry_version_ent",
        "watchlist_entry",
        ["version_id", "ent_num"],
        unique=True,
    )
    op.create_table(
        "watchlist_name",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("name_kind", sa.String(length=8), nullable=False),
        sa.Column("strength", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "name_kind IN ('primary', 'aka', 'fka', 'nka')", name="ck_watchlist_name_kind"
        ),
        sa.CheckConstraint("strength IN ('strong', 'weak')", name="ck_watchlist_name_strength"),
        sa.ForeignKeyConstraint(["entry_id"], ["watchlist_entry.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_watchlist_name_entry_id"), "watchlist_name", ["entry_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_watchlist_name_entry_id"), table_name="watchlist_name")
    op.drop_table("watchlist_name")
    op.drop_index("ix_watchlist_entry_version_ent", table_name="watchlist_entry")
    op.drop_table("watchlist_entry")
    op.drop_table("watchlist_version")
