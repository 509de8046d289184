"""Reading transactions back: newest first, by account (IBAN) and / or customer, paged."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from core.db import Database, run_sql
from domain.access import require
from domain.actors import Actor
from models.money import quantize

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


async def list_transactions(
    db: Database,
    actor: Actor,
    *,
    account: str | None = None,
    customer_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> TransactionPage:
    """Newest first, filtered by account (IBAN) and / or customer."""
    await require(
        db, actor, "transaction", "read", action="transaction.list", object_type="transaction"
    )
    where: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    if account:
        where.append("a.iban = :iban")
        params["iban"] = "".join(account.split()).upper()
    if customer_id:
        where.append("t.customer_id = :customer")
        params["customer"] = customer_id
    source = "transaction t JOIN account a ON a.id = t.account_id WHERE " + " AND ".join(where)
    async with db.session() as session:
        total = (
            await run_sql(
                session,
                f"SELECT count(*) FROM {source}",  # noqa: S608 (fixed fragments, bound values)
                params,
            )
        ).scalar_one()
        rows = (
            await run_sql(
                session,
                f"SELECT t.*, a.iban FROM {source} "  # noqa: S608 (fixed fragments, bound values)
                "ORDER BY t.booked_at DESC, t.external_id LIMIT :limit OFFSET :offset",
                {**params, "limit": per_page, "offset": (max(page, 1) - 1) * per_page},
            )
        ).all()
    items = [
        TransactionPublic(
            id=r.id,
            external_id=r.external_id,
            account=r.iban,
            customer_id=r.customer_id,
            booked_at=r.booked_at,
            amount=quantize(r.amount, r.currency),
            currency=r.currency,
            direction=r.direction,
            channel=r.channel,
            counterparty=CounterpartyPublic(
                name=r.counterparty_name,
                account=r.counterparty_account,
                country=r.counterparty_country,
            ),
            description=r.description,
            source=r.source,
            received_at=r.received_at,
        )
        for r in rows
    ]
    return TransactionPage(items=items, total=int(total), page=page, per_page=per_page)
