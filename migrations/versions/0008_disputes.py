"""Card disputes: disputes and their stages, evidence, account adjustments, the customer
outbox, and the sandbox card processor.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import install_missing_config_defaults

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _case_fk(nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dispute",
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), primary_key=True),
        sa.Column(
            "transaction_id",
            sa.Uuid(),
            sa.ForeignKey("transaction.id"),
            nullable=False,
            unique=True,  # one dispute per transaction, ever: a chargeback is filed once
        ),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("scheme_reason_code", sa.String(10), nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("statement", sa.String(4000), nullable=False),
        sa.Column("filing_deadline_at", TZ, nullable=False),
        sa.Column("processor", sa.String(40), nullable=False),
        sa.Column("processor_ref", sa.String(100), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_dispute_amount"),
    )
    op.create_index("ix_dispute_customer_id", "dispute", ["customer_id"])
    op.create_index("ix_dispute_account_id", "dispute", ["account_id"])
    op.create_table(
        "dispute_stage",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _case_fk(),
        sa.Column("stage", sa.String(30), nullable=False),
        sa.Column("entered_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=True),
        sa.Column("left_at", TZ, nullable=True),
        sa.UniqueConstraint("case_id", "stage", name="uq_dispute_stage"),
    )
    op.create_index("ix_dispute_stage_case_id", "dispute_stage", ["case_id"])
    # The queue sorts open disputes by the deadline of the stage they are in.
    op.execute(
        "CREATE INDEX ix_dispute_stage_current ON dispute_stage (due_at) WHERE left_at IS NULL"
    )
    op.create_table(
        "dispute_evidence",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _case_fk(),
        sa.Column("note", sa.String(4000), nullable=True),
        sa.Column("filename", sa.String(200), nullable=True),
        sa.Column("content_type", sa.String(100), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("added_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.CheckConstraint("note IS NOT NULL OR content IS NOT NULL", name="ck_evidence_some"),
    )
    op.create_index("ix_dispute_evidence_case_id", "dispute_evidence", ["case_id"])
    op.create_table(
        "account_adjustment",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=False),
        _case_fk(nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), sa.ForeignKey("account_adjustment.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint("amount <> 0", name="ck_adjustment_amount"),
    )
    op.create_index(
        "ix_account_adjustment_account", "account_adjustment", ["account_id", "created_at"]
    )
    op.create_index("ix_account_adjustment_customer_id", "account_adjustment", ["customer_id"])
    op.create_index("ix_account_adjustment_case_id", "account_adjustment", ["case_id"])
    op.create_table(
        "customer_message",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=False),
        _case_fk(nullable=True),
        sa.Column("to_address", sa.String(200), nullable=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.String(4000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
    )
    op.create_index("ix_customer_message_customer_id", "customer_message", ["customer_id"])
    op.create_index("ix_customer_message_case_id", "customer_message", ["case_id"])
    op.create_index("ix_customer_message_status", "customer_message", ["status"])
    op.create_table(
        "sandbox_merchant_script",
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), primary_key=True),
        sa.Column("chargeback_response", sa.String(20), nullable=False),
        sa.Column("pre_arbitration_response", sa.String(20), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("updated_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "sandbox_submission",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        _case_fk(),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("submitted_at", TZ, nullable=False),
        sa.Column("responded", sa.String(20), nullable=True),
        sa.Column("responded_at", TZ, nullable=True),
        sa.UniqueConstraint("case_id", "stage", name="uq_sandbox_submission"),
    )
    op.execute("CREATE SEQUENCE sandbox_reference_seq START 1")
    install_missing_config_defaults()


def downgrade() -> None:
    op.execute("DROP SEQUENCE IF EXISTS sandbox_reference_seq")
    for table in (
        "sandbox_submission",
        "sandbox_merchant_script",
        "customer_message",
        "account_adjustment",
        "dispute_evidence",
        "dispute_stage",
        "dispute",
    ):
        op.drop_table(table)
