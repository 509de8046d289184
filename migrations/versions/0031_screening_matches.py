"""Durable screening hits and four-eyes whitelisting.

- `screening_match`: one row per (customer, listed entry across versions: `entry_key`, e.g.
  "UN-SC:QDi.001") a screening of the customer (or of its parties) hit, with its state:
  open (an alert is open or it was seen before the states existed), confirmed, dismissed
  (closed as a false positive before four-eyes whitelisting), suppressed (whitelisted by
  two people), lapsed (the entry left the list); the entry's content hash when last seen,
  the alert case, first/last seen, and the run that opened its alert (a retried batch
  finds its own alert again).
- `screening_suppression`: a whitelisting of one entry for one customer, pinned to the
  entry's content hash: proposed by the analyst who dismissed the hit, approved (active) or
  rejected by a second person, lapsed when the entry changes or leaves the list. The CHECK
  `ck_screening_suppression_four_eyes` refuses an approver who is the proposer, whatever
  door the write comes through (console SQL included).

Existing hits are carried over as `open` matches, so the first run after the upgrade
alerts on nothing it did not alert on before.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MATCH_STATUSES = ("open", "confirmed", "dismissed", "suppressed", "lapsed")
SUPPRESSION_STATUSES = ("proposed", "active", "rejected", "lapsed")


# Hits stored before: open matches (keys as ScreeningHit.key reads old hits), per customer:
# its own screenings (re-screening, a migrated customer) and its application's parties'.
BACKFILL = """
    INSERT INTO screening_match (id, customer_id, entry_key, list_name, status, entry_hash,
                                 first_seen_at, last_seen_at)
    SELECT gen_random_uuid(), c.id, k.key, k.list_name, 'open', '', min(r.screened_at),
           max(r.screened_at)
    FROM (
        -- Two equi-joins (an OR in one join condition would compare every pair).
        SELECT customer_id AS cid, hits, screened_at FROM screening_result
        WHERE customer_id IS NOT NULL AND hit_count > 0
        UNION ALL
        SELECT c.id, r.hits, r.screened_at FROM screening_result r
        JOIN customer c ON c.application_id = r.application_id
        WHERE r.customer_id IS NULL AND r.hit_count > 0
    ) r
    JOIN customer c ON c.id = r.cid
    CROSS JOIN LATERAL jsonb_array_elements(r.hits) AS h
    CROSS JOIN LATERAL (SELECT coalesce(h->>'list_name', 'OFAC-SDN') AS list_name) l
    CROSS JOIN LATERAL (
        SELECT l.list_name,
               coalesce(nullif(h->>'entry_key', ''),
                        l.list_name || ':' || coalesce(nullif(h->>'reference', ''),
                                                       h->>'list_entry_id')) AS key
    ) k
    GROUP BY c.id, k.key, k.list_name
    ON CONFLICT DO NOTHING
    """


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "screening_match",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "customer_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("customer.id"),
            nullable=False,
        ),
        sa.Column("entry_key", sa.String(130), nullable=False),
        sa.Column("list_name", sa.String(40), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="open"),
        sa.Column("entry_hash", sa.String(64), nullable=False, server_default=""),
        sa.Column(
            "case_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("case.id"), nullable=True
        ),
        sa.Column("alert_run", sa.String(200), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lapsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("customer_id", "entry_key", name="uq_screening_match_customer_entry"),
        sa.CheckConstraint(_in("status", MATCH_STATUSES), name="ck_screening_match_status"),
    )
    op.create_index("ix_screening_match_entry_key", "screening_match", ["entry_key"])
    op.create_index("ix_screening_match_case", "screening_match", ["case_id"])
    op.create_table(
        "screening_suppression",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "customer_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("customer.id"),
            nullable=False,
        ),
        sa.Column("entry_key", sa.String(130), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="proposed"),
        sa.Column(
            "case_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("case.id"), nullable=True
        ),
        sa.Column("proposed_by", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lapsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lapse_reason", sa.String(40), nullable=True),
        sa.CheckConstraint(
            _in("status", SUPPRESSION_STATUSES), name="ck_screening_suppression_status"
        ),
        # Four-eyes: whoever proposed a whitelisting never decides it.
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> proposed_by",
            name="ck_screening_suppression_four_eyes",
        ),
        sa.CheckConstraint(
            "status IN ('proposed') OR decided_by IS NOT NULL OR status = 'lapsed'",
            name="ck_screening_suppression_decided",
        ),
    )
    # At most one live (proposed or active) whitelisting per customer and entry.
    op.create_index(
        "uq_screening_suppression_live",
        "screening_suppression",
        ["customer_id", "entry_key"],
        unique=True,
        postgresql_where=sa.text("status IN ('proposed', 'active')"),
    )
    op.create_index("ix_screening_suppression_entry_key", "screening_suppression", ["entry_key"])
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("screening_suppression")
    op.drop_table("screening_match")
