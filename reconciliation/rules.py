"""What reconciliation's workflows and pages share: the case type, the human steps and
their outcomes, and the workflow ids.

Plain constants only: imported inside the workflow sandbox.
"""

from __future__ import annotations

import uuid

from casework.registry import CaseType, TaskKind, register, register_kind

CASE_TYPE_RECON = "recon_exception"

# A break is resolved by finance: matched by hand, explained, or written off. A write-off
# above the threshold is then approved (or rejected) by an ops manager, never the proposer.
EXPLAIN_REASONS = {
    "timing_difference": "Timing difference: it will appear on a later statement",
    "bank_error": "Bank error: raised with the bank",
    "duplicate_on_statement": "Duplicate entry on the statement",
    "internal_transfer": "Internal transfer between our own accounts",
    "other": "Other (explained in the note)",
}
WRITE_OFF_REASONS = {
    "bank_charge": "Bank charge not in our records",
    "rounding": "Rounding or FX difference",
    "unrecoverable": "Unrecoverable difference",
    "other": "Other (explained in the note)",
}
OUTCOME_LABELS = {
    "matched": "Match by hand",
    "explained": "Explain",
    "write_off": "Write off",
    "approve": "Approve write-off",
    "reject": "Reject write-off",
}
REJECT_WRITE_OFF_REASONS = {
    "not_justified": "Not justified by the evidence",
    "wrong_amount": "Wrong amount",
    "recoverable": "Recoverable: pursue it",
    "other": "Other (explain in the comment)",
}
RESOLVE = register_kind(
    TaskKind(
        kind="recon_break",
        role="finance_ops",
        label="Resolve break",
        outcomes=("matched", "explained", "write_off"),
        reason_required_for=("explained", "write_off"),
        reasons={"explained": dict(EXPLAIN_REASONS), "write_off": dict(WRITE_OFF_REASONS)},
        inbox_label="Reconciliation break",
    )
)
APPROVE_WRITE_OFF = register_kind(
    TaskKind(
        kind="recon_write_off",
        role="ops_manager",
        label="Approve write-off",
        outcomes=("approve", "reject"),
        reason_required_for=("reject",),
        reasons={"reject": REJECT_WRITE_OFF_REASONS},
        inbox_label="Write-off approval (four-eyes)",
        step_up_for=("approve",),  # approving needs a fresh second factor (identity.mfa)
    )
)
register(
    CaseType(
        CASE_TYPE_RECON,
        "REC",
        "Reconciliation break",
        "BreakWorkflow",
        kinds=(RESOLVE.kind, APPROVE_WRITE_OFF.kind),
    )
)


def resolve_key(attempt: int) -> str:
    """Each attempt at resolving a break is its own task (after a rejected write-off, the
    next); they share one segregation step, finance."""
    return f"finance#resolve-{attempt}"


def approve_key(attempt: int) -> str:
    return f"checker#write-off-{attempt}"


def statement_workflow_id(statement_id: uuid.UUID) -> str:
    return f"recon-statement-{statement_id}"


def break_workflow_id(break_id: uuid.UUID) -> str:
    return f"recon-break-{break_id}"
