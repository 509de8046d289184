"""Account restrictions during an AML case: placed at once, lifted only by a maker-checker change.

An L2 investigator or the MLRO blocks an account's outgoing payments while its customer's
AML case is open; the block takes effect at once (no approval: it protects the bank).
Lifting it is a change request of target type `restriction` (changes.commands.requests
.propose_restriction_lift) that an MLRO who did not propose it approves.

A restriction has two versions: 1 while active, 2 once lifted. A lift approval is bound to
version 1, so once the restriction has been lifted (by another change) it is void.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.commands.casework import CASE_TYPE_AML
from audit import trail as audit
from changes.queries.open_changes import open_changes
from core.db import Database
from identity.access import can_see_case, record_refusal, require
from identity.actors import Actor
from models.aml import AccountRestriction, AmlCase
from models.aml_io import PendingLift, RestrictionPublic
from models.base import utcnow
from models.cases import Case
from models.changes import ChangeRequest
from models.onboarding import Account, Customer
from models.staff import StaffUser
from shared.errors import Conflict, DomainError, Invalid, NotFound

TARGET_TYPE = "restriction"  # the change target type of a lift
ACTIVE_VERSION, LIFTED_VERSION = 1, 2
BLOCK_OUTGOING = "block_outgoing"
KIND_LABELS = {BLOCK_OUTGOING: "outgoing payments blocked"}
REASON_MIN, REASON_MAX = 10, 500
FACTS = ("status", "kind", "account", "since", "case")  # a lift's diff rows, in this order


class RestrictionPlaced(RestrictionPublic):
    # False: the account was already restricted; the request changed nothing.
    placed: bool


# ----------------------------------------------------------------------------- restrict
async def restrict_account(
    db: Database, actor: Actor, *, case_id: uuid.UUID, account_id: uuid.UUID, reason: str
) -> RestrictionPlaced:
    """Block the account's outgoing payments at once, during the customer's open AML case.

    Idempotent: an account already blocked keeps its one restriction, which is returned
    (`placed` False) and nothing is written. Every refusal is audited.
    """
    action = "account.restrict"
    await require(
        db, actor, "account", "restrict", action=action, object_type="case", object_id=case_id
    )
    reason = (reason or "").strip()
    try:
        restriction_id, placed = await _place(db, actor, case_id, account_id, reason)
    except DomainError as error:
        await record_refusal(
            db,
            actor,
            error,
            action=action,
            object_type="case",
            object_id=case_id,
            details={"account_id": account_id},
        )
        raise
    async with db.session() as session:
        found = await restrictions_of(session, restriction_ids=[restriction_id])
    return RestrictionPlaced(**found[0].model_dump(), placed=placed)


async def _place(
    db: Database, actor: Actor, case_id: uuid.UUID, account_id: uuid.UUID, reason: str
) -> tuple[uuid.UUID, bool]:
    async with db.transaction() as session:
        row = (
            await session.exec(
                select(Case, AmlCase)
                .join(AmlCase, col(AmlCase.case_id) == Case.id)
                .where(Case.id == case_id, Case.case_type == CASE_TYPE_AML)
                # Shared: the case cannot close while an account is being restricted under it.
                .with_for_update(read=True, of=AmlCase)
            )
        ).first()
        if row is None or not can_see_case(actor, CASE_TYPE_AML):
            raise NotFound(f"No AML case with id {case_id} that you can see.")
        case, aml = row
        if aml.closed_at is not None:
            raise Conflict(
                f"Case {case.reference} was closed on {aml.closed_at:%Y-%m-%d}; accounts can be "
                "restricted only while the customer's AML case is open.",
                code="case_closed",
            )
        errors: dict[str, str] = {}
        if not reason:
            errors["reason"] = "required: say why the account must be blocked"
        elif len(reason) < REASON_MIN:
            errors["reason"] = f"give a reason of at least {REASON_MIN} characters"
        elif len(reason) > REASON_MAX:
            errors["reason"] = f"at most {REASON_MAX} characters"
        account = await session.get(Account, account_id)
        if account is None or account.customer_id != aml.customer_id:
            customer = await session.get(Customer, aml.customer_id)
            who = customer.reference if customer else "the case's customer"
            # The same words for "no such account" and "someone else's": ids are not an oracle.
            errors["account_id"] = f"not an account of {who}, the customer of case {case.reference}"
        if errors:
            raise Invalid("The account was not restricted.", fields=errors)
        assert account is not None
        new_id = uuid.uuid4()
        inserted = (
            await session.exec(
                pg_insert(AccountRestriction)
                .values(
                    id=new_id,
                    account_id=account.id,
                    case_id=case.id,
                    kind=BLOCK_OUTGOING,
                    reason=reason,
                    created_by=actor.user_id,
                    created_at=utcnow(),
                )
                # One active restriction per account and kind (uq_account_restriction_active).
                .on_conflict_do_nothing(
                    index_elements=["account_id", "kind"],
                    index_where=col(AccountRestriction.lifted_at).is_(None),
                )
                .returning(col(AccountRestriction.id))
            )
        ).first()
        if inserted is None:
            existing = (
                await session.exec(
                    select(AccountRestriction.id).where(
                        AccountRestriction.account_id == account.id,
                        AccountRestriction.kind == BLOCK_OUTGOING,
                        col(AccountRestriction.lifted_at).is_(None),
                    )
                )
            ).one()
            return existing, False
        await audit.record(
            session,
            action="account.restricted",
            actor=actor.ref,
            object_type="account",
            object_id=account.id,
            reason=reason,
            origin=actor.origin,
            # The case's workflow id puts the event on the case's timeline.
            workflow_id=case.workflow_id,
            details={
                "case_id": case.id,
                "case_reference": case.reference,
                "restriction_id": new_id,
                "kind": BLOCK_OUTGOING,
                "iban": account.iban,
            },
        )
        return new_id, True


# ----------------------------------------------------------------------------- read
async def restrictions_of(
    session: AsyncSession,
    *,
    account_ids: Sequence[uuid.UUID] | None = None,
    case_id: uuid.UUID | None = None,
    restriction_ids: Sequence[uuid.UUID] | None = None,
) -> list[RestrictionPublic]:
    """Restrictions of some accounts, of one AML case, or by id: active first, newest first.

    For pages (the AML case page, customer 360): the caller has checked what the reader
    may see. With no filter at all, nothing is returned.
    """
    if account_ids is None and case_id is None and restriction_ids is None:
        return []
    query = (
        select(AccountRestriction, Account, Case.reference, StaffUser.username)
        .join(Account, col(Account.id) == AccountRestriction.account_id)
        .outerjoin(Case, col(Case.id) == AccountRestriction.case_id)
        .outerjoin(StaffUser, col(StaffUser.id) == AccountRestriction.created_by)
    )
    if account_ids is not None:
        query = query.where(col(AccountRestriction.account_id).in_(list(account_ids)))
    if case_id is not None:
        query = query.where(AccountRestriction.case_id == case_id)
    if restriction_ids is not None:
        query = query.where(col(AccountRestriction.id).in_(list(restriction_ids)))
    query = query.order_by(
        col(AccountRestriction.lifted_at).is_not(None), col(AccountRestriction.created_at).desc()
    )
    rows = (await session.exec(query)).all()
    if not rows:
        return []
    pending: dict[uuid.UUID, PendingLift] = {}
    for change, reference, maker in await open_changes(session, [r.id for r, *_ in rows]):
        if change.target_type == TARGET_TYPE:
            pending.setdefault(
                change.target_id,
                PendingLift(
                    change_id=change.id,
                    reference=reference,
                    case_id=change.case_id,
                    maker=maker,
                    created_at=change.created_at,
                ),
            )
    lift_ids = [r.lift_change_id for r, *_ in rows if r.lift_change_id]
    lifts: dict[uuid.UUID, tuple[str, uuid.UUID]] = {}
    if lift_ids:
        for change_id, reference, lift_case in (
            await session.exec(
                select(ChangeRequest.id, Case.reference, Case.id)
                .join(Case, col(Case.id) == ChangeRequest.case_id)
                .where(col(ChangeRequest.id).in_(lift_ids))
            )
        ).all():
            lifts[change_id] = (reference, lift_case)
    out = []
    for restriction, account, case_reference, creator in rows:
        lift = lifts.get(restriction.lift_change_id) if restriction.lift_change_id else None
        out.append(
            RestrictionPublic(
                id=restriction.id,
                account_id=account.id,
                iban=account.iban,
                currency=account.currency,
                customer_id=account.customer_id,
                case_id=restriction.case_id,
                case_reference=case_reference,
                kind=restriction.kind,
                kind_label=KIND_LABELS.get(restriction.kind, restriction.kind),
                reason=restriction.reason,
                created_by=creator or "?",
                created_at=restriction.created_at,
                status="active" if restriction.lifted_at is None else "lifted",
                lifted_at=restriction.lifted_at,
                lift_change_id=restriction.lift_change_id,
                lift_change_reference=lift[0] if lift else None,
                lift_case_id=lift[1] if lift else None,
                pending_lift=pending.get(restriction.id) if restriction.lifted_at is None else None,
            )
        )
    return out


# ----------------------------------------------------------------------------- as a change target
async def load_restriction(
    session: AsyncSession, restriction_id: uuid.UUID, *, lock: bool = False
) -> tuple[AccountRestriction, Account, Case | None] | None:
    """The restriction (row-locked if asked), its account, and the case it was placed under."""
    query = select(AccountRestriction).where(AccountRestriction.id == restriction_id)
    if lock:
        query = query.with_for_update()
    restriction = (await session.exec(query)).first()
    if restriction is None:
        return None
    account = await session.get(Account, restriction.account_id)
    assert account is not None
    case = await session.get(Case, restriction.case_id) if restriction.case_id else None
    return restriction, account, case


async def restriction_version(
    session: AsyncSession, restriction_id: uuid.UUID, *, lock: bool = False
) -> int | None:
    """1 while active, 2 once lifted (None: no such restriction); `lock` share-locks the row."""
    query = select(AccountRestriction.id, AccountRestriction.lifted_at).where(
        AccountRestriction.id == restriction_id
    )
    if lock:
        query = query.with_for_update(read=True)
    row = (await session.exec(query)).first()
    if row is None:
        return None
    return ACTIVE_VERSION if row[1] is None else LIFTED_VERSION


def restriction_label(restriction: AccountRestriction, account: Account, case: Case | None) -> str:
    """How a lift's target is named on pages: the account and the case it was placed under."""
    kind = KIND_LABELS.get(restriction.kind, restriction.kind)
    where = f" ({case.reference})" if case else ""
    return f"Account {account.iban}: {kind}{where}"


def restriction_facts(
    restriction: AccountRestriction, account: Account, case: Case | None
) -> dict[str, Any]:
    """The restriction as a lift's `before`: what the checker sees is being lifted."""
    return {
        "status": "active" if restriction.lifted_at is None else "lifted",
        "kind": restriction.kind,
        "account": account.iban,
        "since": restriction.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "case": case.reference if case else None,
    }


def in_fact_order(values: dict[str, Any]) -> dict[str, Any]:
    """A lift's before/after in the order above (JSONB keeps its own key order)."""
    order = {key: n for n, key in enumerate(FACTS)}
    return dict(sorted(values.items(), key=lambda item: order.get(item[0], len(order))))
