"""Reading disputes: one dispute in full (the JSON API's view), the card payment behind the
support form, and which transactions already carry a dispute."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from configuration.documents import load_typed
from core.db import Database
from disputes.commands.adjustments import AdjustmentPublic, case_adjustments
from disputes.commands.evidence import EvidencePublic, evidence_of
from disputes.commands.opening import refusal_for
from disputes.policy import DisputePolicy
from disputes.rules import CASE_TYPE_DISPUTE, OUTCOMES, STAGES
from identity.access import can_see_case, not_found, require
from identity.actors import Actor
from models.aml import Transaction
from models.cases import Case
from models.disputes import Dispute, DisputeStage
from models.money import quantize
from models.onboarding import Account, Customer
from shared.iban import format_iban


class DisputeStagePublic(BaseModel):
    stage: str
    label: str
    entered_at: datetime
    due_at: datetime | None
    deadline_owner: str | None = Field(description="ours | merchant: who must act by due_at")
    deadline_label: str | None
    left_at: datetime | None


class DisputePublic(BaseModel):
    case_id: uuid.UUID
    reference: str
    status: str = Field(description="open | closed")
    stage: str
    outcome: str | None = Field(description="won | lost | withdrawn | expired, once closed")
    outcome_reason: str | None
    opened_at: datetime
    closed_at: datetime | None
    workflow_id: str
    transaction_id: uuid.UUID
    transaction_external_id: str
    customer_id: uuid.UUID
    account_id: uuid.UUID
    category: str
    scheme: str
    scheme_reason_code: str
    amount: str = Field(description="The disputed amount, in the currency's minor units.")
    currency: str
    statement: str
    filing_deadline_at: datetime
    processor: str
    processor_ref: str | None
    stages: list[DisputeStagePublic]
    adjustments: list[AdjustmentPublic]
    evidence: list[EvidencePublic]


async def stages_of(session: AsyncSession, case_id: uuid.UUID) -> list[DisputeStage]:
    """A dispute's stages in the order it entered them."""
    return list(
        (
            await session.exec(
                select(DisputeStage)
                .where(DisputeStage.case_id == case_id)
                .order_by(col(DisputeStage.entered_at), col(DisputeStage.id))
            )
        ).all()
    )


async def read_dispute(db: Database, actor: Actor, case_id: uuid.UUID) -> DisputePublic:
    action = "dispute.read"
    await require(db, actor, "dispute", "read", action=action, object_type="case",
                  object_id=case_id)  # fmt: skip
    async with db.session() as session:
        found = (
            await session.exec(
                select(Case, Dispute, Transaction.external_id)
                .join(Dispute, col(Dispute.case_id) == Case.id)
                .join(Transaction, col(Transaction.id) == Dispute.transaction_id)
                .where(Case.id == case_id)
            )
        ).first()
        if found is not None:
            case, dispute, external_id = found
            stages = await stages_of(session, case_id)
            return DisputePublic(
                case_id=case.id,
                reference=case.reference,
                status=case.status,
                stage=case.stage,
                outcome=case.outcome,
                outcome_reason=case.outcome_reason,
                opened_at=case.opened_at,
                closed_at=case.closed_at,
                workflow_id=case.workflow_id,
                transaction_id=dispute.transaction_id,
                transaction_external_id=external_id,
                customer_id=dispute.customer_id,
                account_id=dispute.account_id,
                category=dispute.category,
                scheme=dispute.scheme,
                scheme_reason_code=dispute.scheme_reason_code,
                amount=str(quantize(dispute.amount, dispute.currency)),
                currency=dispute.currency,
                statement=dispute.statement,
                filing_deadline_at=dispute.filing_deadline_at,
                processor=dispute.processor,
                processor_ref=dispute.processor_ref,
                stages=[
                    DisputeStagePublic(
                        stage=s.stage,
                        label=STAGES.get(s.stage, s.stage),
                        entered_at=s.entered_at,
                        due_at=s.due_at,
                        deadline_owner=s.deadline_owner,
                        deadline_label=s.deadline_label,
                        left_at=s.left_at,
                    )
                    for s in stages
                ],
                adjustments=await case_adjustments(session, case_id),
                evidence=await evidence_of(session, case_id),
            )
    raise await not_found(db, actor, "dispute", case_id, action=action)


@dataclass(frozen=True)
class DisputeLink:
    """The dispute a transaction already has: linked only for those who may open the case."""

    case_id: uuid.UUID
    reference: str
    status: str
    outcome: str | None
    visible: bool

    @property
    def where(self) -> str:
        if self.status == "open":
            return "open"
        return OUTCOMES.get(self.outcome or "", self.outcome or "closed")


async def disputes_of(
    session: AsyncSession, actor: Actor, transaction_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, DisputeLink]:
    """transaction id -> its dispute, for those of `transaction_ids` that have one."""
    if not transaction_ids:
        return {}
    visible = can_see_case(actor, CASE_TYPE_DISPUTE)
    rows = (
        await session.exec(
            select(Dispute.transaction_id, Case)
            .join(Case, col(Case.id) == Dispute.case_id)
            .where(col(Dispute.transaction_id).in_(list(transaction_ids)))
        )
    ).all()
    return {
        tx: DisputeLink(case.id, case.reference, case.status, case.outcome, visible)
        for tx, case in rows
    }


@dataclass
class DisputeForm:
    """The card payment a support user is about to dispute, and whether it can be."""

    transaction: Transaction
    iban: str
    customer: Customer
    amount: str  # the whole amount, in the currency's minor units: the form's default
    filing_deadline_at: datetime
    refusal: str | None  # why it cannot be disputed (then no form is shown)
    existing: DisputeLink | None


async def dispute_form(db: Database, actor: Actor, transaction_id: uuid.UUID) -> DisputeForm:
    action = "dispute.open"
    await require(db, actor, "dispute", "open", action=action, object_type="transaction",
                  object_id=transaction_id)  # fmt: skip
    _, policy = await load_typed(db, "disputes", DisputePolicy)
    async with db.session() as session:
        found = (
            await session.exec(
                select(Transaction, Account.iban, Customer)
                .join(Account, col(Account.id) == Transaction.account_id)
                .join(Customer, col(Customer.id) == Transaction.customer_id)
                .where(Transaction.id == transaction_id)
            )
        ).first()
        if found is not None:
            txn, iban, customer = found
            existing = (await disputes_of(session, actor, [txn.id])).get(txn.id)
            refusal = refusal_for(txn, policy)
            if existing is not None and refusal is None:
                refusal = (
                    f"This transaction already has a dispute, {existing.reference}; "
                    "a card payment can be charged back only once."
                )
            return DisputeForm(
                transaction=txn,
                iban=format_iban(iban),
                customer=customer,
                amount=str(quantize(txn.amount, txn.currency)),
                filing_deadline_at=txn.booked_at + timedelta(days=policy.filing_window_days),
                refusal=refusal,
                existing=existing,
            )
    raise await not_found(db, actor, "transaction", transaction_id, action=action)
