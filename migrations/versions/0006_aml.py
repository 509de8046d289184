"""Transaction monitoring: transactions, alerts, AML cases, account restrictions, SAR reports.

Customers and accounts migrated from a legacy book have no application: `application_id`
becomes optional and customers gain the legacy system's reference. Such a customer is
screened by its own name, so a screening result names either an application party (and
its application) or, with neither, only the customer.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import install_missing_config_defaults

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
SCREENING_SUBJECT = "ck_screening_result_subject"
SCREENING_SUBJECT_CHECK = (
    "(party_id IS NOT NULL AND application_id IS NOT NULL) "
    "OR (party_id IS NULL AND application_id IS NULL AND customer_id IS NOT NULL)"
)


def upgrade() -> None:
    op.alter_column("customer", "application_id", nullable=True)
    op.alter_column("account", "application_id", nullable=True)
    op.add_column("customer", sa.Column("legacy_ref", sa.String(100), nullable=True, unique=True))
    op.alter_column("screening_result", "party_id", nullable=True)
    op.alter_column("screening_result", "application_id", nullable=True)
    op.create_check_constraint(SCREENING_SUBJECT, "screening_result", SCREENING_SUBJECT_CHECK)
    op.create_table(
        "transaction",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("external_id", sa.String(100), nullable=False, unique=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("booked_at", TZ, nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("counterparty_name", sa.String(200), nullable=True),
        sa.Column("counterparty_account", sa.String(64), nullable=True),
        sa.Column("counterparty_country", sa.String(2), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_transaction_direction"),
        sa.CheckConstraint(
            "channel IN ('card', 'sepa', 'swift', 'cash', 'crypto')", name="ck_transaction_channel"
        ),
        sa.CheckConstraint("amount > 0", name="ck_transaction_amount"),
    )
    # Rules read an account's recent history; customer 360 reads a customer's.
    op.create_index("ix_transaction_account_booked", "transaction", ["account_id", "booked_at"])
    op.create_index("ix_transaction_customer_booked", "transaction", ["customer_id", "booked_at"])
    op.create_table(
        "aml_alert",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("rule_key", sa.String(40), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("transaction_ids", postgresql.ARRAY(sa.Uuid(as_uuid=True)), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.Column("detected_at", TZ, nullable=False),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=True),
    )
    op.create_index("ix_aml_alert_customer_id", "aml_alert", ["customer_id"])
    op.create_index("ix_aml_alert_rule_key", "aml_alert", ["rule_key"])
    op.create_index("ix_aml_alert_case_id", "aml_alert", ["case_id"])
    op.create_table(
        "aml_case",
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), primary_key=True),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("detected_at", TZ, nullable=False),
        sa.Column("sar_due_at", TZ, nullable=False),
        sa.Column("sar_decision", sa.String(10), nullable=True),
        sa.Column("sar_decided_at", TZ, nullable=True),
        sa.Column("sar_breached_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
    )
    op.create_index("ix_aml_case_customer_id", "aml_case", ["customer_id"])
    # Alerts of one customer gather into one open case: the database refuses a second.
    op.execute(
        "CREATE UNIQUE INDEX uq_aml_case_open_customer ON aml_case (customer_id) "
        "WHERE closed_at IS NULL"
    )
    op.create_table(
        "account_restriction",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("lifted_at", TZ, nullable=True),
        sa.Column("lift_change_id", sa.Uuid(), nullable=True),
    )
    op.create_index("ix_account_restriction_account_id", "account_restriction", ["account_id"])
    # One active restriction of a kind per account: restricting twice restricts once.
    op.execute(
        "CREATE UNIQUE INDEX uq_account_restriction_active ON account_restriction "
        "(account_id, kind) WHERE lifted_at IS NULL"
    )
    op.create_table(
        "sar_report",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False, unique=True),
        sa.Column("reference", sa.String(32), nullable=False, unique=True),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("created_by", sa.Uuid(), sa.ForeignKey("staff_user.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.execute("CREATE SEQUENCE sar_reference_seq START 1")
    install_missing_config_defaults()


def downgrade() -> None:
    op.execute("DROP SEQUENCE IF EXISTS sar_reference_seq")
    for table in ("sar_report", "account_restriction", "aml_case", "aml_alert", "transaction"):
        op.drop_table(table)
    # Results of migrated customers name no party: they cannot survive the NOT NULL.
    op.execute("DELETE FROM screening_result WHERE party_id IS NULL")
    op.drop_constraint(SCREENING_SUBJECT, "screening_result", type_="check")
    op.alter_column("screening_result", "application_id", nullable=False)
    op.alter_column("screening_result", "party_id", nullable=False)
    op.drop_column("customer", "legacy_ref")
