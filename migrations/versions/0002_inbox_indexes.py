"""Inbox indexes: open tasks in due order, so the first page never sorts the whole queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "Available to me": open tasks of my roles, earliest due first. Walking this index in
    # order and filtering by role finds a page after a few rows, whatever the queue size.
    op.create_index(
        "ix_task_open_due",
        "task",
        ["due_at", "id"],
        postgresql_where="status = 'open'",
    )
    op.create_index(
        "ix_task_open_role_due",
        "task",
        ["candidate_role", "due_at", "id"],
        postgresql_where="status = 'open'",
    )


def downgrade() -> None:
    op.drop_index("ix_task_open_role_due", table_name="task")
    op.drop_index("ix_task_open_due", table_name="task")
