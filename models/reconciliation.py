"""Reconciliation: statement sources, statements and their lines, matches, breaks and
write-offs.

A statement's lines and its matches are written in bulk (COPY), so their tables are lean:
a line belongs to at most one match and so does a record of ours (their primary keys say
so), which is what makes a resumed run unable to match anything twice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Date, Index, LargeBinary, Numeric, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer, String
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz, tz_now, uuid_array, uuid_pk

# Statement amounts carry up to five decimals (see reconciliation.engines.lines).
STATEMENT_AMOUNT = Numeric(24, 5)

STATEMENT_STATUSES = ("received", "parsing", "matching", "matched", "refused")
# received -> parsing -> matching -> matched; refused when the file cannot be read (or is a
# statement already processed). A matched statement is "reconciled" once its breaks are
# all resolved and the window for our own records has passed (derived, not stored).
BREAK_KINDS = {
    "unmatched_line": "On the statement, not in our records",
    "unmatched_record": "In our records, not on any statement",
    "amount_mismatch": "Amounts differ",
    "ambiguous": "Several candidates: not guessed",
    "already_matched": "Its record of ours is already matched",
}
PASSES = {
    "reference": "Exact reference",
    "amount_date": "Amount and date within the window",
    "fee": "Amount less a known fee",
    "batch": "One statement line to many of our records",
    "split": "Many statement lines to one of our records",
    "manual": "Matched by hand",
}
RESOLUTIONS = {
    "matched": "Matched by hand",
    "matched_later": "Matched on a later statement",
    "explained": "Explained",
    "written_off": "Written off",
}


class ReconSource(SQLModel, table=True):
    """Where statements come from: a bank account's statements or a processor's reports."""

    __tablename__ = "recon_source"

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=100, unique=True)
    format: str = Field(max_length=10)  # camt053 | mt940 | csv
    # The accounts its statements may be for, as typed: IBANs, bank code or BIC + account
    # number, each optionally with a currency suffix (reconciliation.engines.accounts
    # normalises both sides). A camt.053 / MT940 source listing none takes no statement; a
    # CSV report names no account, so a CSV source's list is for people only.
    accounts: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(80)), nullable=False)
    )
    # The first of `accounts` (kept for readers of the single account it used to be).
    account: str | None = Field(default=None, max_length=64)
    currency: str = Field(max_length=3)
    # Bumped by every approved change (create is version 1): approvals bind to it.
    current_version: int = Field(default=1)
    # Which of our records the statements are matched against: transactions in this
    # currency through these channels.
    channels: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(10)), nullable=False)
    )
    # Channels whose records the statement shows as one line per booking day (a card
    # processor's daily settlement): matched as batches, not one by one.
    batch_channels: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(10)), nullable=False)
    )
    csv_mapping: dict[str, Any] | None = jsonb(default_factory=lambda: None, nullable=True)
    description: str | None = Field(default=None, max_length=500)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = tz_now()
    updated_at: datetime = tz_now()


class ReconStatement(SQLModel, table=True):
    """One uploaded file: its processing state, what it said, and how it reconciled."""

    __tablename__ = "recon_statement"
    __table_args__ = (
        Index("ix_recon_statement_source", "source_id", "uploaded_at"),
        # The same file twice is the same file, unless the first was refused (migration 0012).
        Index(
            "uq_recon_statement_sha256",
            "sha256",
            unique=True,
            postgresql_where=text("status <> 'refused'"),
        ),
        Index("ix_recon_statement_sha256", "sha256"),
    )

    id: uuid.UUID = uuid_pk()
    reference: str = Field(max_length=32, unique=True)  # STM-000012
    source_id: uuid.UUID = Field(foreign_key="recon_source.id")
    filename: str = Field(max_length=200)
    format: str = Field(max_length=10)
    sha256: str = Field(max_length=64)  # unique among the statements not refused
    size: int
    uploaded_by: uuid.UUID = Field(foreign_key="staff_user.id")
    uploaded_at: datetime = tz_now()
    channel: str = Field(default="web", max_length=10)  # web | api
    status: str = Field(default="received", max_length=16, index=True)
    workflow_id: str = Field(max_length=200, unique=True)
    policy_version: int | None = None
    # Progress of the parse (entries read of the total), heartbeated by the activity.
    lines_total: int = 0
    lines_read: int = 0
    refused_location: str | None = Field(default=None, max_length=300)
    refused_reason: str | None = Field(default=None, max_length=1000)
    # What the file said (all sections together).
    account: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, max_length=3)
    period_from: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    period_to: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # One statement per (source, identity): a re-exported file of a statement already
    # processed is refused even when its bytes differ. None until parsed, or refused.
    identity: str | None = Field(default=None, max_length=300)
    # Per section: id, opening/closing balances, entries, sum, and whether they agree.
    balances: list[dict[str, Any]] = jsonb(default_factory=list)
    balance_ok: bool | None = None
    # Match counts per pass, breaks by kind, timings; written when matching completes.
    summary: dict[str, Any] = jsonb()
    matched_at: datetime | None = tz(nullable=True)
    # Our records of the period still unmatched when this passes become breaks.
    record_window_ends_at: datetime | None = tz(nullable=True)
    records_checked_at: datetime | None = tz(nullable=True)


class ReconStatementFile(SQLModel, table=True):
    """The uploaded bytes, apart from the statement row so that lists never load them."""

    __tablename__ = "recon_statement_file"

    statement_id: uuid.UUID = Field(foreign_key="recon_statement.id", primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ReconLine(SQLModel, table=True):
    __tablename__ = "recon_line"

    statement_id: uuid.UUID = Field(foreign_key="recon_statement.id", primary_key=True)
    line_no: int = Field(primary_key=True)
    section: int = 0
    booked_on: date = Field(sa_column=Column(Date, nullable=False))
    value_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    amount: Decimal = Field(sa_column=Column(STATEMENT_AMOUNT, nullable=False))  # signed
    currency: str = Field(max_length=3)
    reference: str | None = Field(default=None, max_length=140)
    bank_reference: str | None = Field(default=None, max_length=140)
    counterparty_name: str | None = Field(default=None, max_length=200)
    counterparty_account: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=500)


class ReconMatch(SQLModel, table=True):
    """Statement lines and records of ours that belong together, and the pass that said so."""

    __tablename__ = "recon_match"

    statement_id: uuid.UUID = Field(foreign_key="recon_statement.id", primary_key=True)
    match_no: int = Field(primary_key=True)
    pass_name: str = Field(max_length=16)  # see PASSES
    line_count: int
    record_count: int
    lines_amount: Decimal = Field(sa_column=Column(STATEMENT_AMOUNT, nullable=False))
    records_amount: Decimal = Field(sa_column=Column(STATEMENT_AMOUNT, nullable=False))
    days_apart: int = 0  # the largest gap between a line's and a record's booking dates
    matched_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    break_id: uuid.UUID | None = Field(default=None, foreign_key="recon_break.id")


class ReconMatchLine(SQLModel, table=True):
    __tablename__ = "recon_match_line"
    __table_args__ = (Index("ix_recon_match_line_match", "statement_id", "match_no"),)

    statement_id: uuid.UUID = Field(primary_key=True)
    line_no: int = Field(primary_key=True)  # a line is matched once
    match_no: int


class ReconMatchRecord(SQLModel, table=True):
    __tablename__ = "recon_match_record"
    __table_args__ = (Index("ix_recon_match_record_match", "statement_id", "match_no"),)

    transaction_id: uuid.UUID = Field(foreign_key="transaction.id", primary_key=True)  # once
    statement_id: uuid.UUID = Field(foreign_key="recon_statement.id")
    match_no: int


class ReconBreak(SQLModel, table=True):
    """Something that did not reconcile: a case for finance until it is resolved."""

    __tablename__ = "recon_break"
    __table_args__ = (
        Index("ix_recon_break_open", "status", "created_at"),
        UniqueConstraint("dedupe_key", name="uq_recon_break_dedupe"),
    )

    id: uuid.UUID = uuid_pk()
    # line:<statement>:<line_no> | record:<transaction id> | match:<statement>:<match_no>:
    # a retried or resumed run raises nothing twice.
    dedupe_key: str = Field(max_length=200)
    statement_id: uuid.UUID = Field(foreign_key="recon_statement.id", index=True)
    source_id: uuid.UUID = Field(foreign_key="recon_source.id")
    kind: str = Field(max_length=20)  # see BREAK_KINDS
    line_nos: list[int] = Field(
        default_factory=list, sa_column=Column(ARRAY(Integer), nullable=False)
    )
    record_ids: list[uuid.UUID] = uuid_array()
    # Ambiguous: what might match, listed for a person to pick from (never guessed).
    candidate_line_nos: list[int] = Field(
        default_factory=list, sa_column=Column(ARRAY(Integer), nullable=False)
    )
    candidate_record_ids: list[uuid.UUID] = uuid_array()
    amount: Decimal = Field(sa_column=Column(STATEMENT_AMOUNT, nullable=False))  # signed
    difference: Decimal = Field(
        default=Decimal(0), sa_column=Column(STATEMENT_AMOUNT, nullable=False)
    )
    currency: str = Field(max_length=3)
    booked_on: date = Field(sa_column=Column(Date, nullable=False))
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id", unique=True)
    status: str = Field(default="open", max_length=10)  # open | resolved
    resolution: str | None = Field(default=None, max_length=16)  # see RESOLUTIONS
    reason_code: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, max_length=2000)
    resolved_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    resolved_at: datetime | None = tz(nullable=True)
    # A record of ours that a later statement matched: that statement resolved the break.
    matched_on_statement_id: uuid.UUID | None = Field(
        default=None, foreign_key="recon_statement.id"
    )
    created_at: datetime = tz_now()


class ReconWriteOff(SQLModel, table=True):
    """A write-off of a break's amount: booked at once up to the threshold, above it only
    once a second person (ops_manager) approved this exact amount."""

    __tablename__ = "recon_write_off"

    id: uuid.UUID = uuid_pk()
    break_id: uuid.UUID = Field(foreign_key="recon_break.id", index=True)
    # The proposing decision: one write-off per decision, however often it is retried.
    decision_id: uuid.UUID = Field(foreign_key="decision.id", unique=True)
    amount: Decimal = Field(sa_column=Column(STATEMENT_AMOUNT, nullable=False))  # signed
    currency: str = Field(max_length=3)
    # None: no indicative EUR rate for the currency (such a write-off always needs approval).
    amount_eur: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(20, 4), nullable=True)
    )
    reason_code: str = Field(max_length=40)
    note: str | None = Field(default=None, max_length=2000)
    proposed_by: uuid.UUID = Field(foreign_key="staff_user.id")
    proposed_at: datetime = tz_now()
    needs_approval: bool = False
    status: str = Field(default="proposed", max_length=10)  # proposed | booked | rejected
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: datetime | None = tz(nullable=True)
