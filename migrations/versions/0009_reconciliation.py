"""Reconciliation: statement sources, statements, lines, matches, breaks and write-offs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations.helpers import install_missing_config_defaults

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(24, 5)


def _statement_fk(primary_key: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "statement_id",
        sa.Uuid(),
        sa.ForeignKey("recon_statement.id"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "recon_source",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("channels", pg.ARRAY(sa.String(10)), nullable=False),
        sa.Column("batch_channels", pg.ARRAY(sa.String(10)), nullable=False),
        sa.Column("csv_mapping", pg.JSONB(), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("created_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("format IN ('camt053', 'mt940', 'csv')", name="ck_recon_source_format"),
    )
    op.create_table(
        "recon_statement",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("reference", sa.String(32), nullable=False, unique=True),
        sa.Column("source_id", sa.Uuid(), sa.ForeignKey("recon_source.id"), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("uploaded_at", TZ, nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False, unique=True),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.Column("lines_total", sa.Integer(), nullable=False),
        sa.Column("lines_read", sa.Integer(), nullable=False),
        sa.Column("refused_location", sa.String(300), nullable=True),
        sa.Column("refused_reason", sa.String(1000), nullable=True),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("period_from", sa.Date(), nullable=True),
        sa.Column("period_to", sa.Date(), nullable=True),
        sa.Column("identity", sa.String(300), nullable=True),
        sa.Column("balances", pg.JSONB(), nullable=False),
        sa.Column("balance_ok", sa.Boolean(), nullable=True),
        sa.Column("summary", pg.JSONB(), nullable=False),
        sa.Column("matched_at", TZ, nullable=True),
        sa.Column("record_window_ends_at", TZ, nullable=True),
        sa.Column("records_checked_at", TZ, nullable=True),
    )
    op.create_index("ix_recon_statement_status", "recon_statement", ["status"])
    op.create_index("ix_recon_statement_source", "recon_statement", ["source_id", "uploaded_at"])
    # One statement per source and identity (account, statement ids, period), refused ones
    # aside: a re-exported copy of a processed statement is not processed again.
    op.execute(
        "CREATE UNIQUE INDEX uq_recon_statement_identity ON recon_statement (source_id, identity) "
        "WHERE identity IS NOT NULL AND status <> 'refused'"
    )
    op.create_table(
        "recon_statement_file",
        _statement_fk(primary_key=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "recon_line",
        _statement_fk(primary_key=True),
        sa.Column("line_no", sa.Integer(), primary_key=True),
        sa.Column("section", sa.Integer(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(140), nullable=True),
        sa.Column("bank_reference", sa.String(140), nullable=True),
        sa.Column("counterparty_name", sa.String(200), nullable=True),
        sa.Column("counterparty_account", sa.String(64), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
    )
    op.create_table(
        "recon_break",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        _statement_fk(),
        sa.Column("source_id", sa.Uuid(), sa.ForeignKey("recon_source.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("line_nos", pg.ARRAY(sa.Integer()), nullable=False),
        sa.Column("record_ids", pg.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("candidate_line_nos", pg.ARRAY(sa.Integer()), nullable=False),
        sa.Column("candidate_record_ids", pg.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("difference", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=True, unique=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("reason_code", sa.String(40), nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.Column(
            "matched_on_statement_id",
            sa.Uuid(),
            sa.ForeignKey("recon_statement.id"),
            nullable=True,
        ),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_recon_break_dedupe"),
    )
    op.create_index("ix_recon_break_statement_id", "recon_break", ["statement_id"])
    op.create_index("ix_recon_break_open", "recon_break", ["status", "created_at"])
    op.create_table(
        "recon_match",
        _statement_fk(primary_key=True),
        sa.Column("match_no", sa.Integer(), primary_key=True),
        sa.Column("pass_name", sa.String(16), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("lines_amount", AMOUNT, nullable=False),
        sa.Column("records_amount", AMOUNT, nullable=False),
        sa.Column("days_apart", sa.Integer(), nullable=False),
        sa.Column("matched_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("break_id", sa.Uuid(), sa.ForeignKey("recon_break.id"), nullable=True),
    )
    op.create_table(
        "recon_match_line",
        sa.Column("statement_id", sa.Uuid(), primary_key=True),
        sa.Column("line_no", sa.Integer(), primary_key=True),
        sa.Column("match_no", sa.Integer(), nullable=False),
    )
    op.create_index("ix_recon_match_line_match", "recon_match_line", ["statement_id", "match_no"])
    op.create_table(
        "recon_match_record",
        sa.Column("transaction_id", sa.Uuid(), sa.ForeignKey("transaction.id"), primary_key=True),
        _statement_fk(),
        sa.Column("match_no", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_recon_match_record_match", "recon_match_record", ["statement_id", "match_no"]
    )
    op.create_table(
        "recon_write_off",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("break_id", sa.Uuid(), sa.ForeignKey("recon_break.id"), nullable=False),
        sa.Column(
            "decision_id", sa.Uuid(), sa.ForeignKey("decision.id"), nullable=False, unique=True
        ),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_eur", sa.Numeric(20, 4), nullable=True),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("proposed_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("proposed_at", TZ, nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
    )
    op.create_index("ix_recon_write_off_break_id", "recon_write_off", ["break_id"])
    op.execute("CREATE SEQUENCE recon_statement_reference_seq START 1")
    install_missing_config_defaults()


def downgrade() -> None:
    op.execute("DROP SEQUENCE IF EXISTS recon_statement_reference_seq")
    for table in (
        "recon_write_off",
        "recon_match_record",
        "recon_match_line",
        "recon_match",
        "recon_break",
        "recon_line",
        "recon_statement_file",
        "recon_statement",
        "recon_source",
    ):
        op.drop_table(table)
