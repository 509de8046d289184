"""Single sign-on (OpenID Connect): the identity-provider account a staff record is linked
to, and the sign-ins in flight.

`staff_sso_link`: the IdP (its issuer URL) and the person's stable subject there, written
when a person first signs in through the IdP; one link per staff record, and one staff
record per IdP account (unique issuer + subject); `last_groups` are the groups the IdP sent
at the last sign-in (what the roles from single sign-on were computed from).

`sso_login`: one row per sign-in sent to the IdP — the hash of the `state` handed to the
browser, the ID token's `nonce`, the PKCE `code_verifier` and where to go afterwards. Kept
server-side so the browser carries only the random state; used once (`used_at`) and only
until `expires_at` (a few minutes). The app role gets the default SELECT, INSERT, UPDATE,
DELETE (old rows are removed).

Also installs version 1 (the defaults) of the configuration documents added since 0009:
`access` and `sso_groups` (identity/policy.py). The `sso_groups` defaults map no group to
any role, so nobody gets in through the IdP until a mapping is approved (maker-checker).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import install_missing_config_defaults

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_sso_link",
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("staff_user.id"), primary_key=True),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_groups", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.UniqueConstraint("issuer", "subject", name="uq_staff_sso_link_subject"),
    )
    op.create_table(
        "sso_login",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("state_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("code_verifier", sa.String(length=200), nullable=False),
        sa.Column("next_url", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_sso_login_expires_at", "sso_login", ["expires_at"])
    install_missing_config_defaults()


def downgrade() -> None:
    op.drop_index("ix_sso_login_expires_at", table_name="sso_login")
    op.drop_table("sso_login")
    op.drop_table("staff_sso_link")
