"""Steps more than one Alembic migration takes.

They live with the migrations, not in core: they read the governed configuration's schemas
(`configuration.schemas`), and core imports nothing above it (docs/architecture.md).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from configuration.schemas import CONFIG_SCHEMAS


def install_missing_config_defaults() -> None:
    """Version 1 (the defaults) of every configuration document the database lacks.

    A fresh database gets every document at 0004 or the first migration that runs this; an
    upgraded one gains the documents added since.
    """
    for key, schema in CONFIG_SCHEMAS.items():
        op.execute(
            sa.text(
                "WITH s AS (INSERT INTO config_setting (id, key, current_version) "
                "VALUES (gen_random_uuid(), :key, 1) ON CONFLICT (key) DO NOTHING RETURNING id) "
                "INSERT INTO config_setting_version (id, setting_id, version, values, created_at, note) "
                "SELECT gen_random_uuid(), s.id, 1, CAST(:values AS jsonb), now(), "
                "'defaults at installation' FROM s"
            ).bindparams(key=key, values=json.dumps(schema().model_dump(mode="json")))
        )
