"""Money adjustments on customers' accounts (booked by core banking), with where each stands.

Adjustments are immutable rows; a row's status is derived, never stored:
- a provisional credit is `reversed` once a reversal names it, `final` once its dispute
  concluded in the customer's favour (won, or expired on our side), else `provisional`;
- a reversal and a final credit are `final` when booked.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import aliased
from sqlmodel import col, exists, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from disputes.rules import CUSTOMER_KEEPS
from identity.access import not_found, require
from identity.actors import Actor
from models.cases import Case
from models.disputes import AccountAdjustment
from models.money import format_amount, quantize
from models.onboarding import Account
from shared.iban import format_iban

KINDS: dict[str, str] = {
    "provisional_credit": "Provisional credit",
    "credit_reversal": "Credit reversal",
    "final_credit": "Credit",
}
STATUSES: dict[str, str] = {
    "provisional": "Provisional — final when the dispute is won",
    "final": "Final",
    "reversed": "Reversed",
}


class AdjustmentPublic(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    iban: str = Field(description="The account's IBAN, in groups of four.")
    customer_id: uuid.UUID
    kind: str = Field(description="provisional_credit | credit_reversal | final_credit")
    amount: str = Field(description="Signed, in the currency's minor units: -250.00 is a debit.")
    currency: str
    status: str = Field(description="provisional | final | reversed")
    description: str
    reverses_id: uuid.UUID | None = Field(description="The adjustment this one reverses.")
    case_id: uuid.UUID | None
    dispute_reference: str | None
    created_at: datetime

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind.replace("_", " "))

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def signed(self) -> str:
        """For people: "+250.00 EUR", or a debit with a real minus sign (U+2212)."""
        amount = Decimal(self.amount)
        return ("\u2212" if amount < 0 else "+") + format_amount(abs(amount), self.currency)


class AdjustmentPage(BaseModel):
    items: list[AdjustmentPublic]
    total: int = Field(description="Adjustments of the account, on every page.")
    page: int
    per_page: int


def status_of(kind: str, *, reversed_: bool, case_status: str | None, outcome: str | None) -> str:
    if kind != "provisional_credit":
        return "final"
    if reversed_:
        return "reversed"
    if case_status == "closed" and outcome in CUSTOMER_KEEPS:
        return "final"
    return "provisional"


async def adjustments_where(
    session: AsyncSession,
    *conditions: Any,
    offset: int = 0,
    limit: int | None = None,
) -> list[AdjustmentPublic]:
    """Adjustments matching `conditions`, newest first, each with its derived status.

    Inside the caller's session: the caller has checked what the actor may see."""
    reversal = aliased(AccountAdjustment)
    is_reversed = exists().where(col(reversal.reverses_id) == AccountAdjustment.id)
    query = (
        select(AccountAdjustment, Account.iban, Case, is_reversed)
        .join(Account, col(Account.id) == AccountAdjustment.account_id)
        .outerjoin(Case, col(Case.id) == AccountAdjustment.case_id)
        .where(*conditions)
        .order_by(col(AccountAdjustment.created_at).desc(), col(AccountAdjustment.id))
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.exec(query)).all()
    return [
        AdjustmentPublic(
            id=a.id,
            account_id=a.account_id,
            iban=format_iban(iban),
            customer_id=a.customer_id,
            kind=a.kind,
            amount=str(quantize(a.amount, a.currency)),
            currency=a.currency,
            status=status_of(
                a.kind,
                reversed_=bool(rev),
                case_status=case.status if case else None,
                outcome=case.outcome if case else None,
            ),
            description=a.description,
            reverses_id=a.reverses_id,
            case_id=a.case_id,
            dispute_reference=case.reference if case else None,
            created_at=a.created_at,
        )
        for a, iban, case, rev in rows
    ]


async def customer_adjustments(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int = 100
) -> list[AdjustmentPublic]:
    """The customer 360's section (inside its session; it has checked `adjustment, read`)."""
    return await adjustments_where(
        session, AccountAdjustment.customer_id == customer_id, limit=limit
    )


async def case_adjustments(session: AsyncSession, case_id: uuid.UUID) -> list[AdjustmentPublic]:
    return await adjustments_where(session, AccountAdjustment.case_id == case_id)


async def account_adjustments(
    db: Database,
    actor: Actor,
    account_id: uuid.UUID,
    *,
    page: int = 1,
    per_page: int = 50,
) -> AdjustmentPage:
    """One account's adjustments, newest first (`GET /api/v1/accounts/{id}/adjustments`)."""
    action = "adjustment.list"
    await require(db, actor, "adjustment", "read", action=action, object_type="account",
                  object_id=account_id)  # fmt: skip
    async with db.session() as session:
        account = await session.get(Account, account_id)
        if account is not None:
            condition = AccountAdjustment.account_id == account_id
            total = (
                await session.exec(
                    select(func.count()).select_from(AccountAdjustment).where(condition)
                )
            ).one()
            items = await adjustments_where(
                session, condition, offset=(page - 1) * per_page, limit=per_page
            )
            return AdjustmentPage(items=items, total=int(total), page=page, per_page=per_page)
    raise await not_found(db, actor, "account", account_id, action=action)
