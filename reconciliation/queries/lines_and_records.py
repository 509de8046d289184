"""A statement's lines and our records (transactions) as the pages show them: in a statement's
matched pairs and on a break's case page. Amounts are exact strings, a record's signed by its
direction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from reconciliation.queries.amounts import amount_text


class LineView(BaseModel):
    line_no: int
    section: int
    booked_on: date
    value_date: date | None
    amount: str
    currency: str
    reference: str | None
    bank_reference: str | None
    counterparty: str | None
    counterparty_account: str | None
    description: str | None


class RecordView(BaseModel):
    transaction_id: uuid.UUID
    external_id: str
    booked_on: date
    booked_at: datetime
    amount: str  # signed: money in positive, out negative
    currency: str
    direction: str
    channel: str
    counterparty: str | None
    counterparty_account: str | None = None
    description: str | None = None


def line_view(line: Any) -> LineView:
    return LineView(
        line_no=line.line_no,
        section=line.section,
        booked_on=line.booked_on,
        value_date=line.value_date,
        amount=amount_text(line.amount, line.currency),
        currency=line.currency,
        reference=line.reference,
        bank_reference=line.bank_reference,
        counterparty=line.counterparty_name,
        counterparty_account=line.counterparty_account,
        description=line.description,
    )


def signed(amount: Decimal, direction: str) -> Decimal:
    return -abs(amount) if direction == "out" else abs(amount)


def record_view(txn: Any) -> RecordView:
    """A transaction of ours (a row or a Transaction), its amount signed by direction."""
    return RecordView(
        transaction_id=txn.id,
        external_id=txn.external_id,
        booked_on=txn.booked_at.astimezone(UTC).date(),
        booked_at=txn.booked_at,
        amount=amount_text(signed(txn.amount, txn.direction), txn.currency),
        currency=txn.currency,
        direction=txn.direction,
        channel=txn.channel,
        counterparty=txn.counterparty_name,
        counterparty_account=getattr(txn, "counterparty_account", None),
        description=getattr(txn, "description", None),
    )
