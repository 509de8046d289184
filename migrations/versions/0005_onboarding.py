"""Onboarding: applications, their people and documents, screening results, customers, accounts.

Also links cases to the customer they are about (`case.customer_id`), so customer 360 finds
every case, and adds the sequences behind customer references and account numbers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("reference", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("email", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kyc_status", sa.String(30), nullable=False),
        sa.Column("risk_level", sa.String(10), nullable=False),
        sa.Column("risk_score", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_screened_at", TZ, nullable=True),
        sa.Column("last_list_version", sa.String(60), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'restricted', 'closed')", name="ck_customer_status"
        ),
        sa.CheckConstraint("kind IN ('individual', 'business')", name="ck_customer_kind"),
    )
    op.create_index("ix_customer_name", "customer", ["name"])
    op.create_index("ix_customer_status", "customer", ["status"])
    # Customer search matches any part of the name.
    op.execute("CREATE INDEX ix_customer_name_lower ON customer (lower(name) text_pattern_ops)")
    op.create_table(
        "account",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("iban", sa.String(34), nullable=False, unique=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("tariff_plan_id", sa.Uuid(), sa.ForeignKey("tariff_plan.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
    )
    op.create_index("ix_account_customer_id", "account", ["customer_id"])
    op.create_table(
        "application",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("external_ref", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(20), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False, unique=True),
        sa.Column("workflow_id", sa.String(200), nullable=False, unique=True),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("submitted_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("submitted_at", TZ, nullable=False),
        sa.Column("documents_report", postgresql.JSONB(), nullable=True),
        sa.Column("risk", postgresql.JSONB(), nullable=True),
        sa.Column("risk_score", sa.Integer(), nullable=True),
        sa.Column("risk_level", sa.String(10), nullable=True),
        sa.Column("route", sa.String(20), nullable=True),
        sa.Column("information_due_at", TZ, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("reason_code", sa.String(60), nullable=True),
        sa.Column("outcome_reason", sa.String(2000), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("account.id"), nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'checking', 'in_review', 'awaiting_information', "
            "'approved', 'rejected')",
            name="ck_application_status",
        ),
        sa.CheckConstraint("kind IN ('individual', 'business')", name="ck_application_kind"),
    )
    op.create_index("ix_application_status", "application", ["status"])
    op.create_table(
        "application_party",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("application_id", sa.Uuid(), sa.ForeignKey("application.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(2), nullable=True),
        sa.Column("ownership_percent", sa.Numeric(5, 2), nullable=True),
        sa.Column("screening_status", sa.String(10), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=True),
        sa.Column("screened_at", TZ, nullable=True),
    )
    op.create_index("ix_application_party_application_id", "application_party", ["application_id"])
    op.create_table(
        "application_document",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("application_id", sa.Uuid(), sa.ForeignKey("application.id"), nullable=False),
        sa.Column("party_id", sa.Uuid(), sa.ForeignKey("application_party.id"), nullable=True),
        sa.Column("doc_type", sa.String(40), nullable=False),
        sa.Column("number", sa.String(60), nullable=True),
        sa.Column("issuing_country", sa.String(2), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("mrz", postgresql.JSONB(), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("submission_key", sa.String(100), nullable=True),
        sa.Column("received_at", TZ, nullable=False),
    )
    op.create_index(
        "ix_application_document_application_id", "application_document", ["application_id"]
    )
    op.create_index(
        "ix_application_document_submission_key", "application_document", ["submission_key"]
    )
    op.create_table(
        "screening_result",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("party_id", sa.Uuid(), sa.ForeignKey("application_party.id"), nullable=False),
        sa.Column("application_id", sa.Uuid(), sa.ForeignKey("application.id"), nullable=False),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=True),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("list_version", sa.String(60), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=True),
        sa.Column("hits", postgresql.JSONB(), nullable=False),
        sa.Column("screened_at", TZ, nullable=False),
    )
    op.create_index("ix_screening_result_party", "screening_result", ["party_id", "screened_at"])
    op.create_index("ix_screening_result_application_id", "screening_result", ["application_id"])
    op.create_index("ix_screening_result_customer_id", "screening_result", ["customer_id"])
    op.create_table(
        "applicant_message",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("application_id", sa.Uuid(), sa.ForeignKey("application.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.String(4000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_applicant_message_application_id", "applicant_message", ["application_id"])
    op.add_column(
        "case", sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=True)
    )
    op.create_index("ix_case_customer_id", "case", ["customer_id"])
    op.execute("CREATE SEQUENCE customer_reference_seq START 1000")
    op.execute("CREATE SEQUENCE account_number_seq START 100000")


def downgrade() -> None:
    op.execute("DROP SEQUENCE IF EXISTS account_number_seq")
    op.execute("DROP SEQUENCE IF EXISTS customer_reference_seq")
    op.drop_index("ix_case_customer_id", table_name="case")
    op.drop_column("case", "customer_id")
    for table in (
        "applicant_message",
        "screening_result",
        "application_document",
        "application_party",
        "application",
        "account",
        "customer",
    ):
        op.drop_table(table)
