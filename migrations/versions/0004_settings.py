"""Configuration settings (screening thresholds, risk weights, onboarding policy) versioned under maker-checker.

Creates `config_setting` / `config_setting_version`, lets a change request have no tariff
plan (configuration changes belong to none), and installs version 1 of every document
with its current defaults, so maker-checker has a target right after `backoffice migrate`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Imported here, not at module level: Alembic loads every revision just to list them.
    from configuration.schemas import CONFIG_SCHEMAS

    settings = op.create_table(
        "config_setting",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    versions = op.create_table(
        "config_setting_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("setting_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["setting_id"], ["config_setting.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("change_id"),
        sa.UniqueConstraint("setting_id", "version", name="uq_config_setting_version"),
    )
    op.create_index(
        op.f("ix_config_setting_version_setting_id"),
        "config_setting_version",
        ["setting_id"],
        unique=False,
    )
    op.alter_column("change_request", "plan_id", existing_type=sa.Uuid(), nullable=True)

    now = datetime.now(UTC)
    setting_rows, version_rows = [], []
    for key, schema in CONFIG_SCHEMAS.items():
        setting_id = uuid.uuid4()
        setting_rows.append({"id": setting_id, "key": key, "current_version": 1})
        version_rows.append(
            {
                "id": uuid.uuid4(),
                "setting_id": setting_id,
                "version": 1,
                "values": schema().model_dump(mode="json"),
                "created_at": now,
                "change_id": None,
                "note": "defaults at installation",
            }
        )
    op.bulk_insert(settings, setting_rows)
    op.bulk_insert(versions, version_rows)


def downgrade() -> None:
    # Refuses (NOT NULL violation) if configuration changes exist: they have no plan to keep.
    op.alter_column("change_request", "plan_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_index(op.f("ix_config_setting_version_setting_id"), table_name="config_setting_version")
    op.drop_table("config_setting_version")
    op.drop_table("config_setting")
