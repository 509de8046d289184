"""The restrictions as readers see them: per account (for core banking and the customer 360)
and per AML case (its panel)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.commands.restrictions import BLOCK_OUTGOING, RestrictionPublic, restrictions_of
from casework.need_to_know import NeedToKnow
from core.db import Database
from identity.access import can, not_found, record_refusal
from identity.actors import Actor
from models.aml import AmlCase
from models.cases import Case
from models.onboarding import Account
from shared.errors import Forbidden


class AccountRestrictions(BaseModel):
    """What core banking reads before it lets an outgoing payment leave the account."""

    account_id: uuid.UUID
    iban: str
    outgoing_blocked: bool
    restrictions: list[RestrictionPublic]


async def account_restrictions(
    db: Database, actor: Actor, account_id: uuid.UUID
) -> AccountRestrictions:
    """Whether the account's outgoing payments are blocked, and by which restrictions.

    For core banking (transaction read) and staff who read customers.
    """
    action = "account.read_restrictions"
    if not (can(actor, "customer", "read") or can(actor, "transaction", "read")):
        roles = ", ".join(sorted(actor.roles)) or "no roles"
        error = Forbidden(
            f"Your roles ({roles}) do not allow you to see customers' accounts or transactions.",
            code="permission_denied",
        )
        await record_refusal(
            db, actor, error, action=action, object_type="account", object_id=account_id
        )
        raise error
    async with db.session() as session:
        account = await session.get(Account, account_id)
        found = await restrictions_of(session, account_ids=[account_id]) if account else []
    if account is None:
        raise await not_found(db, actor, "account", account_id, action=action)
    # That the account is blocked, not why: the investigation must not leak to whoever talks
    # to the customer (need-to-know: restriction_detail).
    return AccountRestrictions(
        account_id=account.id,
        iban=account.iban,
        outgoing_blocked=any(r.status == "active" and r.kind == BLOCK_OUTGOING for r in found),
        restrictions=NeedToKnow.of(actor).restrictions(found),
    )


class AccountChoice(BaseModel):
    id: uuid.UUID
    iban: str
    currency: str
    restricted: bool


class CaseRestrictions(BaseModel):
    """The restrictions panel of an AML case: what is restricted, and what may be."""

    case_id: uuid.UUID
    case_reference: str
    case_open: bool
    accounts: list[AccountChoice]  # the customer's accounts, the ones that may be restricted
    restrictions: list[RestrictionPublic]  # placed under this case, or on those accounts


async def case_restrictions(session: AsyncSession, case_id: uuid.UUID) -> CaseRestrictions | None:
    """For the AML case page (the caller has checked the reader may see the case)."""
    row = (
        await session.exec(
            select(Case, AmlCase)
            .join(AmlCase, col(AmlCase.case_id) == Case.id)
            .where(Case.id == case_id)
        )
    ).first()
    if row is None:
        return None
    case, aml = row
    accounts = (
        await session.exec(
            select(Account)
            .where(Account.customer_id == aml.customer_id)
            .order_by(col(Account.opened_at))
        )
    ).all()
    found = await restrictions_of(session, account_ids=[a.id for a in accounts])
    # Lifted restrictions of earlier cases are history of those cases, not of this one.
    shown = [r for r in found if r.status == "active" or r.case_id == case_id]
    blocked = {r.account_id for r in found if r.status == "active"}
    return CaseRestrictions(
        case_id=case.id,
        case_reference=case.reference,
        case_open=aml.closed_at is None,
        accounts=[
            AccountChoice(id=a.id, iban=a.iban, currency=a.currency, restricted=a.id in blocked)
            for a in accounts
        ],
        restrictions=shown,
    )
