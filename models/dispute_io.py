"""Typed inputs and outputs of the dispute workflow and its activities.

Ids, categories and dates only: histories are readable in the Temporal UI, so the
customer's statement, amounts and evidence stay in the database. Every field added later
needs a default.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from models.workflow_io import Origin

# Each stage's deadline: whose it is ("ours": we must act; "merchant": they must answer)
# and what it is. A function of the stage, so it is not stored.
STAGE_DEADLINES: dict[str, tuple[str, str]] = {
    "provisional_credit": ("ours", "chargeback filing deadline"),
    "evidence": ("ours", "chargeback filing deadline"),
    "chargeback": ("merchant", "merchant response due"),
    "representment_review": ("ours", "pre-arbitration filing deadline"),
    "pre_arbitration": ("merchant", "merchant response due"),
}


class DisputeInput(BaseModel):
    case_id: uuid.UUID
    reference: str
    opened_by: uuid.UUID | None = None  # excluded from the provisional-credit decision


class DisputeRef(BaseModel):
    case_id: uuid.UUID
    workflow_id: str


class DisputePlan(BaseModel):
    """The policy version the dispute runs under, and what follows from it for this one."""

    version: int
    auto_credit: bool  # the disputed amount is under the provisional-credit threshold
    filing_deadline_at: datetime
    provisional_credit_sla_hours: int
    evidence_sla_hours: int
    merchant_response_days: int
    representment_review_sla_hours: int
    pre_arbitration_filing_days: int
    pre_arbitration_response_days: int
    deadline_warning_days: int


class DisputeStageInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    stage: str
    due_at: datetime | None = None


class AdjustmentInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    kind: str  # provisional_credit (the only one booked mid-dispute)
    note: str


class ProcessorRequest(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    stage: str  # chargeback | pre_arbitration | withdrawal


class MerchantResponse(BaseModel):
    """Signal: the merchant's answer at a scheme stage, as the card processor reports it."""

    stage: str  # chargeback | pre_arbitration
    response: str  # accept | represent | decline
    processor_ref: str | None = None


class ProcessorFiling(BaseModel):
    """What a chargeback stage is filed with (disputes.engines.processor.CardProcessor)."""

    case_id: uuid.UUID
    reference: str  # our dispute reference, DSP-n
    stage: str  # chargeback | pre_arbitration | withdrawal
    idempotency_key: str  # workflow id + stage
    transaction_external_id: str
    amount: Decimal
    currency: str
    scheme: str
    scheme_reason_code: str
    processor_ref: str | None = None  # the chargeback's reference, for later stages


class ProcessorAck(BaseModel):
    processor_ref: str
    # A processor that answers at once (the sandbox, when its merchant was scripted).
    response: MerchantResponse | None = None


class DeadlineWarningInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    stage: str
    due_at: datetime
    task_id: uuid.UUID | None = None


class WithdrawalInput(BaseModel):
    """Update: the customer withdrew the dispute (support or an agent records it)."""

    actor_id: uuid.UUID
    actor_name: str
    reason_code: str
    comment: str | None = None
    origin: Origin = Field(default_factory=Origin)


class RecordWithdrawalInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    withdrawal: WithdrawalInput


class WithdrawalResult(BaseModel):
    stage: str  # where the dispute stood; it now concludes as withdrawn


class ConcludeDisputeInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
    outcome: str  # won | lost | withdrawn | expired
    why: str
    reason_code: str | None = None
    decided_by: uuid.UUID | None = None


class DeliverMessagesInput(BaseModel):
    case_id: uuid.UUID
    workflow_id: str
