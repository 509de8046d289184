"""Test data for disputes: a customer's card payment (made directly in the database), and
opening a dispute on it through the domain function the web and the API call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from temporalio.client import Client

from core.db import Database
from core.settings import Settings
from disputes.commands.opening import open_dispute
from models.aml import Transaction
from models.base import utcnow
from models.disputes import DisputeCreate, DisputeOpened
from tests.aml_data import CustomerRef, new_customer
from tests.helpers import Staff, new_staff


@dataclass(frozen=True)
class CardPayment:
    customer: CustomerRef
    transaction_id: uuid.UUID
    amount: Decimal
    currency: str


async def card_payment(
    db: Database,
    *,
    amount: str = "250.00",
    days_ago: float = 3,
    channel: str = "card",
    direction: str = "out",
    currency: str = "EUR",
    merchant: str = "Electro Shop Online GmbH",
    customer: CustomerRef | None = None,
) -> CardPayment:
    """One booked transaction (a card payment out, unless told otherwise) of a new customer."""
    owner = customer or await new_customer(db, prefix="Dispute Test", currency=currency)
    async with db.transaction() as session:
        tx = Transaction(
            external_id=f"tx-{uuid.uuid4().hex}",
            account_id=owner.account_id,
            customer_id=owner.id,
            booked_at=utcnow() - timedelta(days=days_ago),
            amount=Decimal(amount),
            currency=currency,
            direction=direction,
            channel=channel,
            counterparty_name=merchant,
            counterparty_country="DE",
            description="Kartenzahlung",
        )
        session.add(tx)
        await session.flush()
        tx_id = tx.id
    return CardPayment(owner, tx_id, Decimal(amount), currency)


async def opened_dispute(
    db: Database,
    client: Client,
    settings: Settings,
    *,
    amount: str = "250.00",
    disputed: str | None = None,
    category: str = "consumer_dispute",
    support: Staff | None = None,
) -> tuple[CardPayment, DisputeOpened]:
    """A card payment and a dispute opened on it by a support user."""
    payment = await card_payment(db, amount=amount)
    opener = support or await new_staff(db, "support")
    opened = await open_dispute(
        db,
        client,
        settings,
        opener.actor,
        DisputeCreate(
            transaction_id=payment.transaction_id,
            category=category,
            amount=disputed,
            statement="I returned the goods on 3 November and never got a refund.",
        ),
    )
    return payment, opened
