"""Worker presence: each worker process says every few seconds that it is alive, so the
status page knows at once when a worker was killed (Temporal keeps listing a dead worker's
poller for about a minute, because a live worker's long poll is that old too).

One row per worker identity (as Temporal sees it, `pid@host`) and task queue; the worker
upserts `last_seen` every 5 s and sets `stopped_at` on a clean shutdown. The app role gets
the default SELECT, INSERT, UPDATE, DELETE (core/schema.grant_app_role): workers write
their row and remove rows left over a day, the web reads.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_presence",
        sa.Column("identity", sa.String(200), nullable=False),
        sa.Column("task_queue", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("identity", "task_queue"),
    )
    op.create_index("ix_worker_presence_task_queue", "worker_presence", ["task_queue"])


def downgrade() -> None:
    op.drop_index("ix_worker_presence_task_queue", table_name="worker_presence")
    op.drop_table("worker_presence")
