"""Several watch lists side by side: what each list version, entry and name carries.

- `watchlist_version.list_kind`: `sanctions` or `pep`; `watchlist_version.delta` (jsonb):
  the per-entry diff against the list's previous version ({"previous": label, "added": n,
  "changed": n, "removed": n}), empty for a first version.
- `watchlist_entry.reference`: the list's own reference ("12345" for OFAC, "QDi.001" for
  the UN, the record id for OpenSanctions), unique per version; `content_hash`: SHA-256 of
  what is listed about the entry (`screening.engines.entries.entry_hash`), so a new version
  says which entries changed and a suppression is pinned to the content it was approved for;
  `topics`: `sanction`, `role.pep`.
- `watchlist_name.script` (Latin, Arabic, Cyrillic, Han…) and `quality` (the list's own
  word: the UN's good / low).
- The list-version labels stored with a screening are text now: a screening against four
  lists names four versions.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "watchlist_version",
        sa.Column("list_kind", sa.String(12), nullable=False, server_default="sanctions"),
    )
    op.add_column(
        "watchlist_version",
        sa.Column(
            "delta", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
    )
    op.add_column(
        "watchlist_entry", sa.Column("reference", sa.String(80), nullable=False, server_default="")
    )
    op.add_column(
        "watchlist_entry",
        sa.Column("content_hash", sa.String(64), nullable=False, server_default=""),
    )
    op.add_column(
        "watchlist_entry",
        sa.Column(
            "topics",
            postgresql.ARRAY(sa.String(20)),
            nullable=False,
            server_default=sa.text("'{sanction}'"),
        ),
    )
    # Entries imported before this migration are OFAC SDN's: their reference is the ent_num.
    op.execute("UPDATE watchlist_entry SET reference = ent_num::text WHERE reference = ''")
    op.create_index(
        "ix_watchlist_entry_version_reference",
        "watchlist_entry",
        ["version_id", "reference"],
        unique=True,
    )
    op.add_column(
        "watchlist_name", sa.Column("script", sa.String(20), nullable=False, server_default="Latin")
    )
    op.add_column("watchlist_name", sa.Column("quality", sa.String(12), nullable=True))
    op.alter_column("screening_result", "list_version", type_=sa.Text())
    op.alter_column("customer", "last_list_version", type_=sa.Text())


def downgrade() -> None:
    op.alter_column("customer", "last_list_version", type_=sa.String(60))
    op.alter_column("screening_result", "list_version", type_=sa.String(60))
    op.drop_column("watchlist_name", "quality")
    op.drop_column("watchlist_name", "script")
    op.drop_index("ix_watchlist_entry_version_reference", table_name="watchlist_entry")
    op.drop_column("watchlist_entry", "topics")
    op.drop_column("watchlist_entry", "content_hash")
    op.drop_column("watchlist_entry", "reference")
    op.drop_column("watchlist_version", "delta")
    op.drop_column("watchlist_version", "list_kind")
