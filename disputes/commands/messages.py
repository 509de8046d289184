"""The customer outbox: messages about a customer's dispute, sent by e-mail when configured."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import utcnow
from models.disputes import CustomerMessage
from models.onboarding import Customer


async def queue_customer_message(
    session: AsyncSession,
    *,
    dedupe_key: str,
    customer_id: uuid.UUID,
    case_id: uuid.UUID | None,
    subject: str,
    body: str,
) -> bool:
    """Queue a message once per dedupe key, inside the caller's transaction; True if new."""
    customer = await session.get(Customer, customer_id)
    assert customer is not None
    inserted = (
        await session.exec(
            pg_insert(CustomerMessage)
            .values(
                id=uuid.uuid4(),
                dedupe_key=dedupe_key,
                customer_id=customer_id,
                case_id=case_id,
                to_address=customer.email,
                subject=subject[:300],
                body=body[:4000],
                status="queued",
                attempts=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(col(CustomerMessage.id))
        )
    ).first()
    return inserted is not None
