"""Opening a dispute on a card transaction: every refusal says why, nothing is half-created.

The dispute row, its case, the acknowledgement to the customer and the audit event commit
together with the workflow's start: if Temporal refuses the start, nothing is stored. One
dispute per transaction is held twice: a unique transaction id in the table and the
workflow id `dispute-<transaction id>`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio.client import Client

from casework import store
from casework.starting import start_case
from configuration.documents import load_typed
from core.db import Database
from core.settings import Settings
from disputes.commands.messages import queue_customer_message
from disputes.policy import DisputePolicy
from disputes.rules import (
    CASE_TYPE_DISPUTE,
    CATEGORIES,
    OUTCOMES,
    SCHEME_REASON_CODES,
    SCHEMES,
    STAGES,
    workflow_id_for,
)
from identity.access import record_refusal, require
from identity.actors import Actor
from models.aml import Transaction
from models.base import utcnow
from models.cases import Case
from models.dispute_io import DisputeInput
from models.disputes import Dispute, DisputeCreate, DisputeOpened
from models.money import MoneyError, format_amount, parse_amount, quantize
from models.onboarding import Customer
from shared.errors import Conflict, Invalid, NotFound

STATEMENT_MIN, STATEMENT_MAX = 10, 4000
CHANNEL_NAMES = {"sepa": "a SEPA transfer", "swift": "a SWIFT transfer", "cash": "a cash "
                 "transaction", "crypto": "a crypto transfer"}  # fmt: skip


def _field_errors(data: DisputeCreate) -> dict[str, str]:
    fields: dict[str, str] = {}
    if data.category not in CATEGORIES:
        fields["category"] = f"Choose one of: {', '.join(CATEGORIES)}."
    if data.scheme not in SCHEMES:
        fields["scheme"] = f"Choose one of: {', '.join(SCHEMES)}."
    statement = data.statement.strip()
    if len(statement) < STATEMENT_MIN:
        fields["statement"] = (
            f"Write the customer's statement in their words (at least {STATEMENT_MIN} characters)."
        )
    elif len(statement) > STATEMENT_MAX:
        fields["statement"] = f"At most {STATEMENT_MAX} characters."
    return fields


def _amount(data: DisputeCreate, txn: Transaction) -> Decimal:
    if data.amount is None or not str(data.amount).strip():
        return quantize(txn.amount, txn.currency)
    try:
        amount = parse_amount(data.amount, txn.currency)
    except MoneyError as exc:
        raise Invalid("The disputed amount is not valid.", fields={"amount": str(exc)}) from exc
    if amount <= 0:
        raise Invalid("The disputed amount is not valid.", fields={"amount": "Must be above zero."})
    if amount > txn.amount:
        raise Invalid(
            "The disputed amount is more than the transaction.",
            fields={
                "amount": f"At most the transaction's {format_amount(txn.amount, txn.currency)}."
            },
        )
    return amount


def refusal_for(txn: Transaction, policy: DisputePolicy) -> str | None:
    """Why this transaction cannot be disputed, in words; None when it can."""
    if txn.channel != "card":
        return f"Only card payments can be disputed; this is {CHANNEL_NAMES.get(txn.channel, txn.channel)}."
    if txn.direction != "out":
        return "Only card payments out of the account can be disputed; this one is money in."
    deadline = txn.booked_at + timedelta(days=policy.filing_window_days)
    if deadline < utcnow():
        age = (utcnow() - txn.booked_at).days
        return (
            f"This payment was booked {age} days ago; card disputes must be filed within "
            f"{policy.filing_window_days} days (the window closed on {deadline:%Y-%m-%d})."
        )
    return None


async def open_dispute(
    db: Database, temporal: Client, settings: Settings, actor: Actor, data: DisputeCreate
) -> DisputeOpened:
    await require(db, actor, "dispute", "open", action="dispute.open", object_type="transaction",
                  object_id=data.transaction_id)  # fmt: skip
    try:
        return await _open(db, temporal, settings, actor, data)
    except (Invalid, Conflict, NotFound) as refusal:
        await record_refusal(
            db, actor, refusal, action="dispute.open", object_type="transaction",
            object_id=data.transaction_id,
        )  # fmt: skip
        raise


async def _open(
    db: Database, temporal: Client, settings: Settings, actor: Actor, data: DisputeCreate
) -> DisputeOpened:
    fields = _field_errors(data)
    if fields:
        raise Invalid("The dispute is not complete.", fields=fields)
    _, policy = await load_typed(db, "disputes", DisputePolicy)
    async with db.transaction() as session:
        # Two agents opening a dispute on one transaction at once: the second waits here.
        txn = await session.get(Transaction, data.transaction_id, with_for_update=True)
        if txn is None:
            raise NotFound(f"No transaction with id {data.transaction_id}.", code="no_transaction")
        refusal = refusal_for(txn, policy)
        if refusal is not None:
            raise Invalid(refusal, code="not_disputable", fields={"transaction_id": refusal})
        existing = (
            await session.exec(
                select(Case)
                .join(Dispute, Dispute.case_id == Case.id)  # type: ignore[arg-type]
                .where(Dispute.transaction_id == txn.id)
            )
        ).first()
        if existing is not None:
            where = (
                f"now at: {STAGES.get(existing.stage, existing.stage).lower()}"
                if existing.status == "open"
                else f"closed: {OUTCOMES.get(existing.outcome or '', existing.outcome)}"
            )
            raise Conflict(
                f"This transaction already has a dispute, {existing.reference} ({where}); "
                "a card payment can be charged back only once.",
                code="already_disputed",
            )
        amount = _amount(data, txn)
        customer = await session.get(Customer, txn.customer_id)
        assert customer is not None
        workflow_id = workflow_id_for(txn.id)
        code = SCHEME_REASON_CODES[data.scheme][data.category]
        case = await store.open_case(
            session,
            case_type=CASE_TYPE_DISPUTE,
            title=f"Card dispute ({data.category.replace('_', ' ')}): "
            f"{txn.counterparty_name or 'card payment'}",
            stage="opened",
            risk_level=customer.risk_level,
            subject_type="transaction",
            subject_id=str(txn.id),
            workflow_id=workflow_id,
            opened_by=actor.user_id,
            customer_id=customer.id,
        )
        reference = case.reference
        session.add(
            Dispute(
                case_id=case.id,
                transaction_id=txn.id,
                customer_id=customer.id,
                account_id=txn.account_id,
                category=data.category,
                scheme=data.scheme,
                scheme_reason_code=code,
                amount=amount,
                currency=txn.currency,
                statement=data.statement.strip(),
                filing_deadline_at=txn.booked_at + timedelta(days=policy.filing_window_days),
                processor=settings.card_processor[:40],
            )
        )
        try:
            await session.flush()
        except IntegrityError as exc:  # raced past the lock by another path: still one
            raise Conflict(
                "This transaction already has a dispute.", code="already_disputed"
            ) from exc
        await queue_customer_message(
            session,
            dedupe_key=f"{workflow_id}:message:opened",
            customer_id=customer.id,
            case_id=case.id,
            subject=f"We received your dispute {reference}",
            body=(
                f"We received your dispute of {format_amount(amount, txn.currency)} paid to "
                f"{txn.counterparty_name or 'a merchant'} on {txn.booked_at:%Y-%m-%d}. "
                "We will keep you informed at every step."
            ),
        )
        await start_case(
            session,
            temporal,
            case,
            DisputeInput(case_id=case.id, reference=reference, opened_by=actor.user_id),
            task_queue=settings.task_queue,
            summary=f"{reference} card dispute ({data.scheme} {code})",
            what="the dispute",
            already_started=Conflict(
                "A dispute workflow for this transaction already exists.", code="already_disputed"
            ),
            event=store.Event(
                "dispute.opened",
                actor=actor.ref,
                origin=actor.origin,
                details={
                    "reference": reference,
                    "transaction_id": str(txn.id),
                    "category": data.category,
                    "scheme_reason_code": f"{data.scheme} {code}",
                    "amount": str(amount),
                    "currency": txn.currency,
                },
            ),
        )
    return DisputeOpened(
        case_id=case.id,
        reference=reference,
        workflow_id=workflow_id,
        amount=str(amount),
        currency=txn.currency,
        scheme_reason_code=code,
    )
