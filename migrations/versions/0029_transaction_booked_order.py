"""Transactions in booked order: an index on (booked_at, external_id).

`aml rejudge` and a rule change's backtest read a period of stored history in booked
order (`aml.commands.history`); without this index each run scanned and sorted the whole
table.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transaction_booked_order", "transaction", ["booked_at", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_transaction_booked_order", "transaction")
