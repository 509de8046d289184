"""Reading transactions back: newest first, by account (IBAN) and / or customer, paged."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import col, func, select

from core.db import Database
from identity.access import require
from identity.actors import Actor
from models.aml import Transaction
from models.money import quantize
from models.onboarding import Account
from shared.days import within_days

# --- what the API answers ----------------------------------------------------------------


class CounterpartyPublic(BaseModel):
    name: str | None = None
    account: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2.")


class TransactionPublic(BaseModel):
    id: uuid.UUID
    external_id: str = Field(description="The sender's id: unique, the key of idempotency.")
    account: str = Field(description="IBAN of the account.")
    customer_id: uuid.UUID
    booked_at: datetime
    amount: Decimal = Field(description="In the currency's minor units, as a string.")
    currency: str
    direction: str = Field(description="in or out.")
    channel: str = Field(description="card, sepa, swift, cash or crypto.")
    counterparty: CounterpartyPublic
    description: str | None
    source: str = Field(description="api or import.")
    received_at: datetime


class TransactionPage(BaseModel):
    items: list[TransactionPublic]
    total: int = Field(description="Transactions matching the filters, on every page.")
    page: int
    per_page: int


def transaction_conditions(
    *,
    customer_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    direction: str | None = None,
    channel: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[Any]:
    """The filters every transaction list offers (dates are UTC days, both ends included)."""
    conditions: list[Any] = []
    if customer_id is not None:
        conditions.append(Transaction.customer_id == customer_id)
    if account_id is not None:
        conditions.append(Transaction.account_id == account_id)
    if direction:
        conditions.append(Transaction.direction == direction)
    if channel:
        conditions.append(Transaction.channel == channel)
    return conditions + within_days(col(Transaction.booked_at), date_from, date_to)


async def list_transactions(
    db: Database,
    actor: Actor,
    *,
    account: str | None = None,
    customer_id: uuid.UUID | None = None,
    direction: str | None = None,
    channel: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> TransactionPage:
    """Newest first, filtered by account (IBAN), customer, direction, channel and dates."""
    await require(
        db, actor, "transaction", "read", action="transaction.list", object_type="transaction"
    )
    async with db.session() as session:
        account_id = None
        if account:
            iban = "".join(account.split()).upper()
            found = (await session.exec(select(Account.id).where(Account.iban == iban))).first()
            if found is None:
                return TransactionPage(items=[], total=0, page=page, per_page=per_page)
            account_id = found
        conditions = transaction_conditions(
            customer_id=customer_id,
            account_id=account_id,
            direction=direction,
            channel=channel,
            date_from=date_from,
            date_to=date_to,
        )
        total = (
            await session.exec(select(func.count()).select_from(Transaction).where(*conditions))
        ).one()
        rows = (
            await session.exec(
                select(Transaction, Account.iban)
                .join(Account, col(Account.id) == Transaction.account_id)
                .where(*conditions)
                .order_by(col(Transaction.booked_at).desc(), col(Transaction.external_id))
                .offset((max(page, 1) - 1) * per_page)
                .limit(per_page)
            )
        ).all()
    items = [
        TransactionPublic(
            id=t.id,
            external_id=t.external_id,
            account=iban,
            customer_id=t.customer_id,
            booked_at=t.booked_at,
            amount=quantize(t.amount, t.currency),
            currency=t.currency,
            direction=t.direction,
            channel=t.channel,
            counterparty=CounterpartyPublic(
                name=t.counterparty_name,
                account=t.counterparty_account,
                country=t.counterparty_country,
            ),
            description=t.description,
            source=t.source,
            received_at=t.received_at,
        )
        for t, iban in rows
    ]
    return TransactionPage(items=items, total=int(total), page=page, per_page=per_page)
