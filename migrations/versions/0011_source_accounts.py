"""Statement sources list their accounts (one or more identifiers) and carry a version, so
that creating or re-mapping one is a maker-checker change bound to the version proposed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "recon_source",
        sa.Column(
            "accounts",
            postgresql.ARRAY(sa.String(80)),
            nullable=False,
            server_default=sa.text("'{}'::varchar[]"),
        ),
    )
    op.add_column(
        "recon_source",
        sa.Column("current_version", sa.Integer(), nullable=False, server_default="1"),
    )
    # A source's single account becomes its first identifier; an empty one gives none (and
    # such a source now takes no camt.053 / MT940 statement until its accounts are listed).
    op.execute(
        "UPDATE recon_source SET accounts = ARRAY[btrim(account)]::varchar[] "
        "WHERE account IS NOT NULL AND btrim(account) <> ''"
    )


def downgrade() -> None:
    op.drop_column("recon_source", "current_version")
    op.drop_column("recon_source", "accounts")
