"""Second factor (TOTP) and step-up.

`staff_mfa`: one person's TOTP factor: the secret encrypted (AES-256-GCM, identity/mfa.py;
the key lives in DATA_DIR or MFA_KEY, never in the database), when it was confirmed (NULL
while an enrolment waits for its first code) and the last time step a code was accepted
for (a code is never accepted twice: replay). `staff_mfa_recovery`: recovery codes, stored
hashed, each usable once.

`staff_session.mfa_pending`: a web session opened by the password of someone with a factor,
not usable until the code is entered; `staff_session.mfa_at`: when this session (or API
token) last proved the second factor: approvals whose outcome needs a step-up look at it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_mfa",
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("staff_user.id"), primary_key=True),
        sa.Column("secret_encrypted", sa.String(length=400), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("confirmed_at", TZ, nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "staff_mfa_recovery",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_index("ix_staff_mfa_recovery_user_id", "staff_mfa_recovery", ["user_id"])
    op.add_column(
        "staff_session",
        sa.Column("mfa_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("staff_session", sa.Column("mfa_at", TZ, nullable=True))


def downgrade() -> None:
    op.drop_column("staff_session", "mfa_at")
    op.drop_column("staff_session", "mfa_pending")
    op.drop_index("ix_staff_mfa_recovery_user_id", table_name="staff_mfa_recovery")
    op.drop_table("staff_mfa_recovery")
    op.drop_table("staff_mfa")
