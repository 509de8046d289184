"""Backtests of proposed AML rule changes.

`aml_backtest`: one dry replay of history under a proposed rule configuration, compared
with the configuration in force. A change to an AML rule document starts one (workflow
`RuleBacktestWorkflow`); its progress (`judged` of `total` transactions) is written as it
runs, its comparison lands in `result` when done. A rule change cannot be approved while
its backtest is queued or running.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aml_backtest",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("change_id", sa.Uuid(), sa.ForeignKey("change_request.id"), nullable=True),
        sa.Column("rule_key", sa.String(120), nullable=False),
        sa.Column("proposed", postgresql.JSONB(), nullable=True),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("period_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="queued"),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("judged", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("workflow_id", sa.String(200), nullable=True, unique=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_aml_backtest_status"
        ),
    )
    op.create_index("ix_aml_backtest_change_id", "aml_backtest", ["change_id"])


def downgrade() -> None:
    op.drop_index("ix_aml_backtest_change_id", table_name="aml_backtest")
    op.drop_table("aml_backtest")
