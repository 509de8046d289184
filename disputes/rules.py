"""What a dispute is made of and who works each step (pure, sandbox-safe: no I/O).

Reason categories map to card-scheme reason codes; each human step is a task of the shared
protocol with its outcomes and the reasons offered for them.
"""

from __future__ import annotations

import uuid

from casework.registry import CaseType, TaskKind, register, register_kind
from models.workflow_io import TaskSpec

CASE_TYPE_DISPUTE = "dispute"

CATEGORIES: dict[str, str] = {
    "fraud": "Fraud — the customer did not make or allow the payment",
    "authorisation": "Authorisation — the payment was not properly authorised",
    "processing_error": "Processing error — duplicate, wrong amount or currency, late presentment",
    "consumer_dispute": "Consumer dispute — goods or services not received or not as described",
}
SCHEMES: dict[str, str] = {"visa": "Visa", "mastercard": "Mastercard"}
# The scheme's reason code for each category (Visa Claims Resolution / Mastercard chargeback
# guide): fraud card-absent, no authorisation, duplicate processing, not received.
SCHEME_REASON_CODES: dict[str, dict[str, str]] = {
    "visa": {
        "fraud": "10.4",
        "authorisation": "11.3",
        "processing_error": "12.6",
        "consumer_dispute": "13.1",
    },
    "mastercard": {
        "fraud": "4837",
        "authorisation": "4808",
        "processing_error": "4834",
        "consumer_dispute": "4853",
    },
}

# Stages, in the order a dispute can pass through them.
STAGES: dict[str, str] = {
    "provisional_credit": "Provisional credit decision",
    "evidence": "Evidence and chargeback submission",
    "chargeback": "Chargeback filed — merchant response window",
    "representment_review": "Representment review",
    "pre_arbitration": "Pre-arbitration — merchant response window",
    "closed": "Closed",
}
OUTCOMES: dict[str, str] = {
    "won": "Won — decided for the customer",
    "lost": "Lost — decided for the merchant",
    "withdrawn": "Withdrawn by the customer",
    "expired": "Expired — a deadline on our side passed (the bank bears the loss)",
}
# Outcomes in which the customer keeps the money: won, or expired through a deadline of ours.
CUSTOMER_KEEPS = ("won", "expired")
# How the sandbox merchant answers, per scheme stage.
MERCHANT_RESPONSES: dict[str, dict[str, str]] = {
    "chargeback": {
        "no_response": "No response (the window runs out: the customer wins)",
        "accept": "Accept the chargeback",
        "represent": "Represent with evidence",
    },
    "pre_arbitration": {
        "no_response": "No response (the window runs out: the customer wins)",
        "accept": "Accept pre-arbitration",
        "decline": "Decline pre-arbitration",
    },
}

CREDIT_DECLINE_REASONS: dict[str, str] = {
    "insufficient_information": "Statement does not support the claim yet",
    "suspected_first_party_fraud": "Suspected first-party fraud",
    "account_risk": "Account risk (e.g. restricted, overdrawn)",
    "other": "Other (explain in the comment)",
}
ACCEPT_LOSS_REASONS: dict[str, str] = {
    "compelling_evidence": "Merchant's evidence is compelling",
    "customer_liable": "The customer is liable under the scheme rules",
    "amount_below_cost": "Pursuing it costs more than the amount",
    "other": "Other (explain in the comment)",
}
WITHDRAW_REASONS: dict[str, str] = {
    "resolved_with_merchant": "Resolved with the merchant directly",
    "customer_recognised": "The customer recognised the payment",
    "refund_received": "Refund received",
    "other": "Other (explain)",
}

REASONS_BY_KIND: dict[str, dict[str, dict[str, str]]] = {
    "dispute_provisional_credit": {"decline": CREDIT_DECLINE_REASONS},
    "dispute_representment": {"accept_loss": ACCEPT_LOSS_REASONS},
}
OUTCOME_LABELS = {
    "grant": "grant provisional credit",
    "decline": "decline provisional credit",
    "submit": "submit the chargeback",
    "accept_loss": "accept the loss",
    "pre_arbitration": "go to pre-arbitration",
}

# step -> its task key and what the step is.
# The keys share the segregation step `agent` (casework.segregation.step_of): the agent who
# owns a dispute may carry it through credit, evidence and representment, as disputes
# teams work. Segregation in a dispute is between the person who opened it (support, a
# channel) and whoever decides it: the opener is its maker and decides none of its steps.
STEPS: dict[str, tuple[str, TaskKind]] = {
    "provisional_credit": (
        "agent#credit",
        register_kind(
            TaskKind(
                "dispute_provisional_credit",
                "disputes_agent",
                "Provisional credit",
                ("grant", "decline"),
                ("decline",),
                reasons=REASONS_BY_KIND["dispute_provisional_credit"],
                inbox_label="Dispute: provisional credit",
            )
        ),
    ),
    "evidence": (
        "agent#evidence",
        register_kind(
            TaskKind(
                "dispute_evidence",
                "disputes_agent",
                "Evidence and chargeback",
                ("submit",),
                inbox_label="Dispute: evidence and chargeback",
            )
        ),
    ),
    "representment_review": (
        "agent#representment",
        register_kind(
            TaskKind(
                "dispute_representment",
                "disputes_agent",
                "Representment review",
                ("accept_loss", "pre_arbitration"),
                ("accept_loss",),
                reasons=REASONS_BY_KIND["dispute_representment"],
                inbox_label="Dispute: representment review",
            )
        ),
    ),
}
register(
    CaseType(
        CASE_TYPE_DISPUTE,
        "DSP",
        "Card dispute",
        "DisputeWorkflow",
        kinds=tuple(k.kind for _, k in STEPS.values()),
    )
)


def step_spec(
    workflow_id: str,
    reference: str,
    *,
    step: str,
    sla_seconds: int,
    priority: str = "normal",
    excluded: list[uuid.UUID] | None = None,
) -> TaskSpec:
    key, human = STEPS[step]
    return human.spec(
        workflow_id,
        key,
        reference,
        sla_seconds=max(sla_seconds, 60),
        priority=priority,
        excluded=excluded or [],
    )


def workflow_id_for(transaction_id: uuid.UUID) -> str:
    """One dispute workflow per transaction, by construction."""
    return f"dispute-{transaction_id}"
