"""Out-of-band endings: which Temporal states count as one, and how a case is repaired.

Pure rules, sandbox-safe (the repair workflow imports them). A case's workflow that ended
outside the product (terminated, cancelled, failed, timed out, or reset) while its case is
open leaves the case stuck. The repair is a four-eyes step: an engineer proposes resume or
close, a second engineer (never the proposer) approves, then the product does it.

Who approves: a second engineer, not an ops manager. The decision is about process
mechanics (start the process again from the case's records, or close it), and the approver
must read the case whatever its type; engineers may read every case type's operational
view, whereas an ops manager may not read AML cases (need-to-know). The proposer is
excluded from the approval task, and the segregation rule refuses a person who decided
another step of the case, so approver and proposer are always two people.
"""

from __future__ import annotations

import re
import uuid

from casework.registry import TaskKind, register_kind
from models.process_watch_io import RepairInput
from models.workflow_io import TaskSpec

ENGINEER = "engineer"

# temporalio's WorkflowExecutionStatus names of a run that ended without the product
# closing its case (COMPLETED and CONTINUED_AS_NEW are the product's own endings).
ENDED_STATUSES = {
    "TERMINATED": "terminated",
    "CANCELED": "cancelled",
    "FAILED": "failed",
    "TIMED_OUT": "timed_out",
}
KIND_LABELS = {
    "terminated": "terminated",
    "cancelled": "cancelled",
    "failed": "failed",
    "timed_out": "timed out",
    "reset": "reset",
}

# Case types whose process can safely start again from the case's own records: a new run
# repeats only steps that are harmless twice (document checks, screening, risk scoring,
# opening review tasks) and takes no money or regulatory action before a person decides.
# A change request asks for all its approvals again (those given stay recorded), until
# the expiry it had, and its apply step still refuses a target changed since proposal.
RESUMABLE = frozenset({"onboarding", "aml", "change_request"})
# The others: close with a reason only, and why (shown on the case page).
CLOSE_ONLY_WHY = {
    "dispute": (
        "A new run would repeat the dispute's money steps: the provisional credit and the "
        "chargeback filing are keyed on the workflow id, so the customer could be credited "
        "or the scheme filed twice."
    ),
    "recon_exception": (
        "A new run could post a write-off a second time (its idempotency key is the "
        "workflow's); close the break and let the next statement raise it again if it stands."
    ),
    "screening_alert": (
        "A new re-screening raises the alert again if the match stands; close this one."
    ),
}
DEFAULT_CLOSE_ONLY_WHY = "This kind of case cannot be started again safely; close it."

CLOSE_REASONS = {
    "handled_outside": "Handled outside the product",
    "no_longer_needed": "No longer needed",
    "duplicate": "Duplicate of another case",
    "cannot_resume": "Cannot be resumed safely",
    "other": "Other (explain in the comment)",
}
REJECT_REASONS = {
    "other_option": "The other option is right",
    "insufficient_reason": "The reason given is not sufficient",
    "other": "Other (explain in the comment)",
}
CASE_OUTCOME = "closed_after_outside_ending"

PROPOSE = register_kind(
    TaskKind(
        kind="process_repair_proposal",
        role=ENGINEER,
        label="Process ended outside backoffice — propose resume or close:",
        outcomes=("resume", "close_case"),
        reason_required_for=("close_case",),
        reasons={"close_case": CLOSE_REASONS},
        permission=("process", "propose_repair"),
        inbox_label="Process ended outside: propose resume or close",
    )
)
APPROVE = register_kind(
    TaskKind(
        kind="process_repair_approval",
        role=ENGINEER,
        label="Approve the proposed repair of",
        outcomes=("approve_repair", "reject_repair"),
        reason_required_for=("reject_repair",),
        reasons={"reject_repair": REJECT_REASONS},
        permission=("process", "approve_repair"),
        inbox_label="Process ended outside: approve the repair (four-eyes)",
    )
)
REASONS_BY_KIND = {PROPOSE.kind: PROPOSE.reasons, APPROVE.kind: APPROVE.reasons}
# Outcomes of their own (not approve / close), so the pages' notices and labels about a
# case type's own steps never describe a repair.
OUTCOME_LABELS = {
    "resume": "resume the process (a new run)",
    "close_case": "close the case",
    "approve_repair": "approve",
    "reject_repair": "reject",
}
# What the proposal's outcome asks the product to do.
REPAIR_ACTIONS = {"resume": "resume", "close_case": "close"}


def can_resume(case_type: str) -> bool:
    return case_type in RESUMABLE


def close_only_why(case_type: str) -> str | None:
    if can_resume(case_type):
        return None
    return CLOSE_ONLY_WHY.get(case_type, DEFAULT_CLOSE_ONLY_WHY)


def ending_id_for(workflow_id: str, run_id: str) -> uuid.UUID:
    """One id per ended run, so a second sweep (or a retry) finds the same record."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"backoffice:process-ending:{workflow_id}/{run_id}")


def repair_workflow_id(ending_id: uuid.UUID) -> str:
    return f"process-repair-{ending_id}"


_RUN_SUFFIX = re.compile(r"^(?P<base>.+)-r(?P<n>\d+)$")


def resumed_workflow_id(ended_workflow_id: str) -> str:
    """The id of a resumed run: `<id>-r2`, then `-r3`… (our workflows refuse id reuse, and
    a reused id would also reuse every task id and idempotency key of the ended run)."""
    m = _RUN_SUFFIX.match(ended_workflow_id)
    if m:
        return f"{m['base']}-r{int(m['n']) + 1}"
    return f"{ended_workflow_id}-r2"


def proposal_spec(workflow_id: str, inp: RepairInput, round_no: int) -> TaskSpec:
    key = "propose" if round_no == 1 else f"propose#{round_no}"
    spec = PROPOSE.spec(workflow_id, key, inp.reference, sla_seconds=inp.sla_seconds)
    spec.priority = "high"
    if not inp.resumable:
        spec.allowed_outcomes = ["close_case"]
    return spec


def approval_spec(
    workflow_id: str, inp: RepairInput, round_no: int, proposal: str, proposer: uuid.UUID
) -> TaskSpec:
    key = "approve" if round_no == 1 else f"approve#{round_no}"
    spec = APPROVE.spec(
        workflow_id, key, inp.reference, sla_seconds=inp.sla_seconds, excluded=[proposer]
    )
    action = REPAIR_ACTIONS.get(proposal, proposal)
    spec.title = f"Approve the proposed {action} of {inp.reference} (process ended outside)"
    spec.priority = "high"
    return spec
