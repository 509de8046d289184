"""Out-of-band endings: a case's workflow terminated, cancelled or reset outside backoffice.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # The flag shown on the case page, in case lists and in the API.
    op.add_column(
        "case",
        sa.Column(
            "process_ended_outside",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
        ),
    )
    op.create_table(
        "process_ending",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False, index=True),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("identity", sa.String(300), nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("detected_at", TZ, nullable=False),
        sa.Column("repair_workflow_id", sa.String(200), nullable=False, unique=True),
        sa.Column("repair_started", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("resolution_reason", sa.String(500), nullable=True),
        sa.Column("new_workflow_id", sa.String(200), nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
        # One record per ended run: a second sweep finds it and does nothing.
        sa.UniqueConstraint("workflow_id", "run_id", name="uq_process_ending_run"),
        sa.CheckConstraint(
            "kind IN ('terminated', 'cancelled', 'failed', 'timed_out', 'reset')",
            name="ck_process_ending_kind",
        ),
        sa.CheckConstraint(
            "status IN ('open', 'resumed', 'closed')", name="ck_process_ending_status"
        ),
    )
    op.execute(
        "CREATE INDEX ix_process_ending_open ON process_ending (detected_at) WHERE status = 'open'"
    )


def downgrade() -> None:
    op.drop_table("process_ending")
    op.drop_column("case", "process_ended_outside")
