"""Transaction monitoring: transactions in, alerts raised by rules, AML cases, restrictions, SARs.

Transactions come from core banking (the API) or a legacy book (the importer); each is
unique by the sender's `external_id`, so re-posting changes nothing. An alert names the
rule and rule version that fired, the transactions involved and why. Alerts of one
customer gather into one open AML case (`aml_case`, one row per case, at most one open per
customer).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Computed, Numeric, String
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz, tz_now, uuid_array, uuid_pk

CHANNELS = ("card", "sepa", "swift", "cash", "crypto")
DIRECTIONS = ("in", "out")


class Tier(StrEnum):
    L1 = "l1"
    L2 = "l2"
    CLOSURE_APPROVAL = "closure_approval"
    MLRO = "mlro"
    CLOSED = "closed"


class Transaction(SQLModel, table=True):
    __tablename__ = "transaction"

    id: uuid.UUID = uuid_pk()
    external_id: str = Field(max_length=100, unique=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    customer_id: uuid.UUID = Field(foreign_key="customer.id")
    booked_at: datetime = tz()
    amount: Decimal = Field(sa_column=Column(Numeric(20, 4), nullable=False))
    currency: str = Field(max_length=3)
    direction: str = Field(max_length=3)  # in | out
    channel: str = Field(max_length=10)  # card | sepa | swift | cash | crypto
    counterparty_name: str | None = Field(default=None, max_length=200)
    counterparty_account: str | None = Field(default=None, max_length=64)
    counterparty_country: str | None = Field(default=None, max_length=2)
    description: str | None = Field(default=None, max_length=500)
    source: str = Field(default="api", max_length=10)  # api | import
    received_at: datetime = tz_now()
    # Set by the database (migration 0025 holds the expressions): the amount in EUR at the reference rates, the
    # counterparty's key, and the counterparty resolved to one of our accounts when it is one.
    amount_eur: Decimal | None = Field(
        default=None,
        sa_column=Column(Numeric(20, 4), Computed("amount_eur", persisted=True)),
    )
    counterparty_key: str | None = Field(
        default=None,
        sa_column=Column(String(200), Computed("counterparty_key", persisted=True)),
    )
    counterparty_account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id")


class AmlAlert(SQLModel, table=True):
    __tablename__ = "aml_alert"

    id: uuid.UUID = uuid_pk()
    # rule key + triggering transaction (or window): one alert per cause, whatever retries.
    dedupe_key: str = Field(max_length=200, unique=True)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    rule_key: str = Field(max_length=40, index=True)
    rule_version: int
    severity: str = Field(default="medium", max_length=10)  # low | medium | high
    transaction_ids: list[uuid.UUID] = uuid_array()
    reason: str = Field(max_length=1000)
    details: dict[str, Any] = jsonb()
    detected_at: datetime = tz_now()
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id", index=True)
    # Raised by a rule running in shadow: recorded to be judged, never routed to a case.
    shadow: bool = False


class AmlCase(SQLModel, table=True):
    """The AML side of a case row: its customer and the regulatory SAR clock.

    The tier is the case's `stage`. `closed_at` repeats the case's on purpose: the partial
    unique index that allows one open case per customer can only read this table.
    """

    __tablename__ = "aml_case"

    case_id: uuid.UUID = Field(foreign_key="case.id", primary_key=True)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    detected_at: datetime = tz()  # first alert's detection: the SAR clock starts here
    sar_due_at: datetime = tz()
    sar_decision: str | None = Field(default=None, max_length=10)  # sar | no_sar
    sar_decided_at: datetime | None = tz(nullable=True)
    sar_breached_at: datetime | None = tz(nullable=True)
    closed_at: datetime | None = tz(nullable=True)
    # The score of its alerts and customer (aml.engines.priority), with the reasons in words.
    priority_score: int = Field(default=0, index=True)
    priority_reasons: list[dict[str, Any]] = jsonb(default_factory=list)


class AccountRestriction(SQLModel, table=True):
    """Outgoing payments blocked during an AML case; lifting it is a maker-checker change."""

    __tablename__ = "account_restriction"

    id: uuid.UUID = uuid_pk()
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id")
    kind: str = Field(default="block_outgoing", max_length=20)
    reason: str = Field(max_length=500)
    created_by: uuid.UUID = Field(foreign_key="staff_user.id")
    created_at: datetime = tz_now()
    lifted_at: datetime | None = tz(nullable=True)
    lift_change_id: uuid.UUID | None = Field(default=None)


class SarReport(SQLModel, table=True):
    """The suspicious activity report the MLRO's SAR decision produced, kept with the case."""

    __tablename__ = "sar_report"

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", unique=True)
    reference: str = Field(max_length=32, unique=True)  # SAR-000123
    data: dict[str, Any] = jsonb()
    created_by: uuid.UUID = Field(foreign_key="staff_user.id")
    created_at: datetime = tz_now()
