"""The AML network typologies document `aml_network` at its defaults (version 1).

A fresh database installs every document at 0004; a database migrated before the document
existed gains it here (`install_missing_config_defaults` adds only missing documents).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import install_missing_config_defaults

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install_missing_config_defaults()


def downgrade() -> None:
    op.execute(
        sa.text(
            "DELETE FROM config_setting_version WHERE setting_id IN "
            "(SELECT id FROM config_setting WHERE key = 'aml_network') AND change_id IS NULL"
        )
    )
    op.execute(
        sa.text(
            "DELETE FROM config_setting WHERE key = 'aml_network' AND NOT EXISTS "
            "(SELECT 1 FROM config_setting_version v WHERE v.setting_id = config_setting.id)"
        )
    )
