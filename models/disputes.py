"""Card disputes: the dispute, its stages with their deadlines, evidence, money adjustments on
the account, messages to the customer, and the sandbox card processor's state.

A dispute is one per transaction (unique), so a transaction is charged back at most once.
Its stage is the case's `stage`; each stage's dates are rows of `dispute_stage`.
Adjustments are immutable entries: a provisional credit is reversed by a second entry,
never edited; whether it became final follows from the dispute's outcome.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, LargeBinary, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import tz, tz_now, uuid_pk
from models.dispute_io import STAGE_DEADLINES


class Dispute(SQLModel, table=True):
    __tablename__ = "dispute"

    case_id: uuid.UUID = Field(foreign_key="case.id", primary_key=True)
    transaction_id: uuid.UUID = Field(foreign_key="transaction.id", unique=True)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    category: str = Field(max_length=30)  # fraud | authorisation | processing_error | consumer
    scheme: str = Field(max_length=20)  # visa | mastercard
    scheme_reason_code: str = Field(max_length=10)
    amount: Decimal = Field(sa_column=Column(Numeric(20, 4), nullable=False))
    currency: str = Field(max_length=3)
    statement: str = Field(max_length=4000)  # the customer's own words
    # The scheme's last day to file the chargeback: booked date + the filing window.
    filing_deadline_at: datetime = tz()
    processor: str = Field(default="sandbox", max_length=40)
    processor_ref: str | None = Field(default=None, max_length=100)
    policy_version: int | None = None


class DisputeStage(SQLModel, table=True):
    """One stage of a dispute: when it began, its deadline and when it ended."""

    __tablename__ = "dispute_stage"
    __table_args__ = (UniqueConstraint("case_id", "stage", name="uq_dispute_stage"),)

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    stage: str = Field(max_length=30)
    entered_at: datetime = tz_now()
    due_at: datetime | None = tz(nullable=True)
    left_at: datetime | None = tz(nullable=True)

    @property
    def deadline_owner(self) -> str | None:
        return STAGE_DEADLINES[self.stage][0] if self.stage in STAGE_DEADLINES else None

    @property
    def deadline_label(self) -> str | None:
        return STAGE_DEADLINES[self.stage][1] if self.stage in STAGE_DEADLINES else None


class DisputeEvidence(SQLModel, table=True):
    """A note or a document attached by a disputes agent; never part of a workflow history."""

    __tablename__ = "dispute_evidence"

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    note: str | None = Field(default=None, max_length=4000)
    filename: str | None = Field(default=None, max_length=200)
    content_type: str | None = Field(default=None, max_length=100)
    size: int = 0
    sha256: str | None = Field(default=None, max_length=64)
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    added_by: uuid.UUID = Field(foreign_key="staff_user.id")
    added_at: datetime = tz_now()


class AccountAdjustment(SQLModel, table=True):
    """A money movement on an account that core banking books: credits and their reversals."""

    __tablename__ = "account_adjustment"

    id: uuid.UUID = uuid_pk()
    # workflow id + step: a retried activity books nothing twice.
    dedupe_key: str = Field(max_length=200, unique=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id", index=True)
    kind: str = Field(max_length=30)  # provisional_credit | credit_reversal | final_credit
    amount: Decimal = Field(sa_column=Column(Numeric(20, 4), nullable=False))  # signed
    currency: str = Field(max_length=3)
    description: str = Field(max_length=300)
    # The entry this one reverses (a reversal names the provisional credit it undoes).
    reverses_id: uuid.UUID | None = Field(default=None, foreign_key="account_adjustment.id")
    created_at: datetime = tz_now()


class CustomerMessage(SQLModel, table=True):
    """Outbox of messages to customers, with delivery status (SMTP when configured)."""

    __tablename__ = "customer_message"

    id: uuid.UUID = uuid_pk()
    dedupe_key: str = Field(max_length=200, unique=True)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id", index=True)
    to_address: str | None = Field(default=None, max_length=200)
    subject: str = Field(max_length=300)
    body: str = Field(max_length=4000)
    # queued -> sent | failed; no_address when the customer has no e-mail address. While no
    # SMTP server is set a message stays queued, and last_error says so.
    status: str = Field(default="queued", max_length=16, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = tz_now()
    sent_at: datetime | None = tz(nullable=True)


class SandboxMerchantScript(SQLModel, table=True):
    """The sandbox card processor: how its make-believe merchant answers, set by an operator."""

    __tablename__ = "sandbox_merchant_script"

    case_id: uuid.UUID = Field(foreign_key="case.id", primary_key=True)
    chargeback_response: str = Field(default="no_response", max_length=20)
    pre_arbitration_response: str = Field(default="no_response", max_length=20)
    note: str | None = Field(default=None, max_length=2000)  # the merchant's evidence / words
    updated_by: uuid.UUID = Field(foreign_key="staff_user.id")
    updated_at: datetime = tz_now()


class SandboxSubmission(SQLModel, table=True):
    """What was filed with the sandbox processor: one row per dispute and scheme stage."""

    __tablename__ = "sandbox_submission"
    __table_args__ = (UniqueConstraint("case_id", "stage", name="uq_sandbox_submission"),)

    id: uuid.UUID = uuid_pk()
    reference: str = Field(max_length=40, unique=True)  # SBX-...
    case_id: uuid.UUID = Field(foreign_key="case.id")
    stage: str = Field(max_length=20)  # chargeback | pre_arbitration | withdrawal
    submitted_at: datetime = tz_now()
    responded: str | None = Field(default=None, max_length=20)
    responded_at: datetime | None = tz(nullable=True)


class DisputeCreate(SQLModel):
    """Opening a dispute (the support form and `POST /api/v1/disputes`)."""

    transaction_id: uuid.UUID
    category: str
    scheme: str = "visa"
    # The disputed amount as a string in the currency's minor units; the whole amount if absent.
    amount: str | None = None
    statement: str


class DisputeOpened(SQLModel):
    case_id: uuid.UUID
    reference: str
    workflow_id: str
    amount: str
    currency: str
    scheme_reason_code: str
