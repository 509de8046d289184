"""Onboarding: applications, the people in them, their documents and screening results;
and what approval creates: customers and their accounts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Column, Date, Index, Numeric, Text
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz, tz_now, uuid_pk


class ApplicationStatus(StrEnum):
    RECEIVED = "received"
    CHECKING = "checking"
    IN_REVIEW = "in_review"
    AWAITING_INFORMATION = "awaiting_information"
    APPROVED = "approved"
    REJECTED = "rejected"


OPEN_APPLICATION_STATUSES = (
    ApplicationStatus.RECEIVED,
    ApplicationStatus.CHECKING,
    ApplicationStatus.IN_REVIEW,
    ApplicationStatus.AWAITING_INFORMATION,
)


class Application(SQLModel, table=True):
    __tablename__ = "application"

    id: uuid.UUID = uuid_pk()
    external_ref: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=20)  # individual | business
    display_name: str = Field(max_length=200)
    segment: str = Field(max_length=20)  # retail | business
    status: str = Field(default=ApplicationStatus.RECEIVED, max_length=30, index=True)
    case_id: uuid.UUID = Field(foreign_key="case.id", unique=True)
    workflow_id: str = Field(max_length=200, unique=True)
    payload: dict[str, Any] = jsonb()  # the validated submission, as received
    submitted_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    submitted_at: datetime = tz_now()
    documents_report: dict[str, Any] | None = jsonb(default_factory=lambda: None, nullable=True)
    risk: dict[str, Any] | None = jsonb(default_factory=lambda: None, nullable=True)
    risk_score: int | None = None
    risk_level: str | None = Field(default=None, max_length=10)
    route: str | None = Field(default=None, max_length=20)  # auto | analyst | four_eyes
    information_due_at: datetime | None = tz(nullable=True)
    outcome: str | None = Field(default=None, max_length=20)
    reason_code: str | None = Field(default=None, max_length=60)
    outcome_reason: str | None = Field(default=None, max_length=2000)
    decided_at: datetime | None = tz(nullable=True)
    customer_id: uuid.UUID | None = Field(default=None, foreign_key="customer.id")
    account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id")


class ApplicationParty(SQLModel, table=True):
    """Everyone (and every entity) an application names: each is screened on its own."""

    __tablename__ = "application_party"

    id: uuid.UUID = uuid_pk()
    application_id: uuid.UUID = Field(foreign_key="application.id", index=True)
    position: int = 0
    role: str = Field(max_length=20)  # applicant | business | director | owner
    kind: str = Field(max_length=10)  # person | entity
    name: str = Field(max_length=200)
    date_of_birth: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    nationality: str | None = Field(default=None, max_length=2)
    ownership_percent: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(5, 2), nullable=True)
    )
    screening_status: str = Field(default="pending", max_length=10)  # pending | clear | hit
    best_score: float | None = None
    screened_at: datetime | None = tz(nullable=True)


class ApplicationDocument(SQLModel, table=True):
    __tablename__ = "application_document"

    id: uuid.UUID = uuid_pk()
    application_id: uuid.UUID = Field(foreign_key="application.id", index=True)
    party_id: uuid.UUID | None = Field(default=None, foreign_key="application_party.id")
    doc_type: str = Field(max_length=40)
    number: str | None = Field(default=None, max_length=60)
    issuing_country: str | None = Field(default=None, max_length=2)
    expiry_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    mrz: list[str] | None = jsonb(default_factory=lambda: None, nullable=True)
    source: str = Field(default="application", max_length=20)  # application | information
    # Which answer to a request for information brought it (a retry stores nothing twice).
    submission_key: str | None = Field(default=None, max_length=100, index=True)
    received_at: datetime = tz_now()


class ScreeningResult(SQLModel, table=True):
    """One screening of one party against one list version, with every hit and why.

    The party is an application's (with that application), or, for a customer migrated
    from a legacy book without one, the customer itself (no party, no application)."""

    __tablename__ = "screening_result"
    __table_args__ = (
        Index("ix_screening_result_party", "party_id", "screened_at"),
        CheckConstraint(
            "(party_id IS NOT NULL AND application_id IS NOT NULL) "
            "OR (party_id IS NULL AND application_id IS NULL AND customer_id IS NOT NULL)",
            name="ck_screening_result_subject",
        ),
    )

    id: uuid.UUID = uuid_pk()
    # Unique per workflow step: a retried activity records nothing twice.
    idempotency_key: str = Field(max_length=200, unique=True)
    party_id: uuid.UUID | None = Field(default=None, foreign_key="application_party.id")
    application_id: uuid.UUID | None = Field(default=None, foreign_key="application.id", index=True)
    customer_id: uuid.UUID | None = Field(default=None, foreign_key="customer.id", index=True)
    context: str = Field(max_length=20)  # onboarding | rescreen
    list_version: str = Field(sa_column=Column(Text, nullable=False))  # every list screened
    hit_count: int = 0
    best_score: float | None = None
    hits: list[dict[str, Any]] = jsonb(default_factory=list)
    screened_at: datetime = tz_now()


class ApplicantMessage(SQLModel, table=True):
    """Outbox of messages to the applicant (requests for information, reminders, outcomes)."""

    __tablename__ = "applicant_message"

    id: uuid.UUID = uuid_pk()
    dedupe_key: str = Field(max_length=200, unique=True)
    application_id: uuid.UUID = Field(foreign_key="application.id", index=True)
    kind: str = Field(max_length=20)  # information_request | reminder | outcome
    subject: str = Field(max_length=300)
    body: str = Field(max_length=4000)
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = tz_now()


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    RESTRICTED = "restricted"
    CLOSED = "closed"


class Customer(SQLModel, table=True):
    __tablename__ = "customer"

    id: uuid.UUID = uuid_pk()
    reference: str = Field(max_length=32, unique=True)  # CUS-000123
    kind: str = Field(max_length=20)  # individual | business
    name: str = Field(max_length=200, index=True)
    segment: str = Field(max_length=20)
    country: str = Field(max_length=2)
    email: str | None = Field(default=None, max_length=200)
    status: str = Field(default=CustomerStatus.ACTIVE, max_length=16, index=True)
    kyc_status: str = Field(default="approved", max_length=30)
    risk_level: str = Field(max_length=10)
    risk_score: int = 0
    # Onboarded customers come from an application; customers migrated from a legacy
    # book have none and carry that system's reference instead.
    application_id: uuid.UUID | None = Field(default=None, unique=True)
    legacy_ref: str | None = Field(default=None, max_length=100, unique=True)
    created_at: datetime = tz_now()
    last_screened_at: datetime | None = tz(nullable=True)
    last_list_version: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: uuid.UUID = uuid_pk()
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    # One account per approved application: approving twice opens nothing twice.
    # (None for an account migrated from a legacy book: its IBAN is its key.)
    application_id: uuid.UUID | None = Field(default=None, unique=True)
    iban: str = Field(max_length=34, unique=True)
    currency: str = Field(max_length=3)
    tariff_plan_id: uuid.UUID = Field(foreign_key="tariff_plan.id")
    status: str = Field(default="active", max_length=16)
    opened_at: datetime = tz_now()
